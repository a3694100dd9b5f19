"""Snakemake entry point of rule active_converge_explore: round r's ensemble in the md stage's
cell at one md temperature, and the share of its frames above md.trust_hi_eV_A (ionscale.active).

The cell is the md stage's own (md.supercell, md.mobile_vacancies, the same seeded vacancies);
the run is NVT at that cell for active_learning.convergence.steps steps, a frame and its ensemble
deviation every active_learning.stride_steps.
"""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import mpi4py.MPI  # noqa: F401  (libmpi before LAMMPS; see envs/README.md)
from _common import setup

from ionscale.active import explore, extrapolating_share
from ionscale.config import derive_seed
from ionscale.io import write_json
from ionscale.md import MDSettings, md_stage_cell
from ionscale.potential.dispersion import DispersionSettings, md_pair_style
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
logging.captureWarnings(True)
cfg = smk.params.config
stride = int(cfg["active_learning"]["stride_steps"])
steps = int(cfg["active_learning"]["convergence"]["steps"])
md = cfg["md"]
r, temperature = int(smk.wildcards.round), int(smk.wildcards.T)
species = cfg["reference"]["mobile_species"]
atoms = md_stage_cell(cfg, getattr(smk.input, "structure", None))  # the md runs' own cell
settings = MDSettings.from_config(
    md, temperature, seed=derive_seed(cfg["seed"], "active-converge", r, temperature),
    mobile_species=species,
    dispersion_pair_style=md_pair_style(DispersionSettings.from_config(cfg)),
)  # fmt: skip
log.info("round %d convergence check, T = %d K: %s (%d atoms), %d steps", r, temperature,
         atoms.get_chemical_formula(), len(atoms), steps)  # fmt: skip
result = explore(atoms, list(smk.input.models), settings, steps, stride,
                 lammps_log=smk.log.lammps)  # fmt: skip
summary = extrapolating_share(result, md["trust_hi_eV_A"], steps // stride)
summary["atoms"] = len(atoms)
summary["steps"] = steps
write_json(smk.output.summary, summary, Provenance.from_snakemake(smk, "active"))
log.info("convergence run: %s", summary)
