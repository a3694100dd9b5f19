"""Snakemake entry point of rule md: one LAMMPS + DeePMD run per temperature (ionscale.md)."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import mpi4py.MPI  # noqa: F401  (libmpi before LAMMPS; see envs/README.md)
from _common import setup

from ionscale.config import derive_seed
from ionscale.md import MDSettings, build_md_cell, run_md
from ionscale.provenance import Provenance
from ionscale.reference.structures import load_structure

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
logging.captureWarnings(True)
cfg = smk.params.config
md = cfg["md"]
temperature = int(smk.wildcards.T)
species = cfg["reference"]["mobile_species"]
structure_file = getattr(smk.input, "structure", None)
host = (
    load_structure(file=structure_file)
    if structure_file
    else load_structure(prototype=cfg["reference"]["structure"]["prototype"])
)
# the same cell (and vacancies) at every temperature; velocities differ per temperature
atoms = build_md_cell(
    host,
    md["supercell"],
    species,
    md["mobile_vacancies"],
    seed=derive_seed(cfg["seed"], "md", "vacancies"),
    min_distance_A=md["min_distance_A"],
    name=structure_file or cfg["reference"]["structure"]["prototype"],
)
settings = MDSettings.from_config(
    md, temperature, seed=derive_seed(cfg["seed"], "md", temperature), mobile_species=species
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
