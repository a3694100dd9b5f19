"""Snakemake entry point of rule md: one LAMMPS + DeePMD run per temperature (ionscale.md)."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import mpi4py.MPI  # noqa: F401  (libmpi before LAMMPS; see envs/README.md)
from _common import setup

from ionscale.config import derive_seed
from ionscale.md import MDSettings, md_stage_cell, run_md
from ionscale.potential.dispersion import DispersionSettings, md_pair_style
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
logging.captureWarnings(True)
cfg = smk.params.config
md = cfg["md"]
temperature = int(smk.wildcards.T)
species = cfg["reference"]["mobile_species"]
# the same cell (and vacancies) at every temperature; velocities differ per temperature
atoms = md_stage_cell(cfg, getattr(smk.input, "structure", None))
settings = MDSettings.from_config(
    md,
    temperature,
    seed=derive_seed(cfg["seed"], "md", temperature),
    mobile_species=species,
    dispersion_pair_style=md_pair_style(DispersionSettings.from_config(cfg)),
)
log.info("MD cell %s (%d atoms), settings %s", atoms.get_chemical_formula(), len(atoms), settings)
summary = run_md(
    atoms,
    list(smk.input.models),
    settings,
    smk.output.trajectory,
    Provenance.from_snakemake(smk, "md"),
    lammps_log=smk.log.lammps,
)
log.info("finished: %s", summary)
