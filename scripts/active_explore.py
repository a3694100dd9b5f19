"""Snakemake entry point of rule active_explore: one exploration run of one round (ionscale.active).

The cell is the host structure repeated by ``active_learning.supercell`` with
``active_learning.mobile_vacancies`` vacancies; pair style, thermostat and blow-up limits are the
md stage's.
"""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import mpi4py.MPI  # noqa: F401  (libmpi before LAMMPS; see envs/README.md)
from _common import setup

from ionscale.active import ActiveSettings, explore, write_exploration
from ionscale.config import derive_seed
from ionscale.io import write_json
from ionscale.md import MDSettings, build_md_cell
from ionscale.potential.dispersion import DispersionSettings, md_pair_style
from ionscale.provenance import Provenance
from ionscale.reference.stage import role_structure
from ionscale.reference.structures import sites_per_host_atom

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
logging.captureWarnings(True)
cfg = smk.params.config
al = ActiveSettings.from_config(cfg["active_learning"])
md = cfg["md"]
r, temperature = int(smk.wildcards.round), int(smk.wildcards.T)
species = cfg["reference"]["mobile_species"]
structure_file = getattr(smk.input, "structure", None)
host = role_structure(
    structure_file, cfg["reference"]["structure"]["prototype"], "reference.structure"
)
atoms = build_md_cell(
    host,
    al.supercell,
    species,
    al.mobile_vacancies,
    seed=derive_seed(cfg["seed"], "active", r, "vacancies"),
    min_distance_A=md["min_distance_A"],
    name=structure_file or cfg["reference"]["structure"]["prototype"],
)
settings = MDSettings.from_config(
    md, temperature, seed=derive_seed(cfg["seed"], "active", r, temperature),
    mobile_species=species,
    dispersion_pair_style=md_pair_style(DispersionSettings.from_config(cfg)),
)  # fmt: skip
log.info("round %d, T = %d K: %s (%d atoms), %d steps", r, temperature,
         atoms.get_chemical_formula(), len(atoms), al.steps)  # fmt: skip
result = explore(atoms, list(smk.input.models), settings, al.steps, al.stride_steps,
                 lammps_log=smk.log.lammps)  # fmt: skip
summary = write_exploration(
    smk.output.frames,
    result,
    frame_prefix=f"al{r}-T{temperature}K",
    mobile_species=species,
    sites_per_host=sites_per_host_atom(host, species),
)
write_json(smk.output.summary, summary, Provenance.from_snakemake(smk, "active"))
log.info("exploration: %s", summary)
