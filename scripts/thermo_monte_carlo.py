"""Snakemake entry point of rule thermo_monte_carlo: one temperature (ionscale.thermo)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.config import derive_seed
from ionscale.provenance import Provenance
from ionscale.thermo.stage import run_monte_carlo

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
temperature_K = float(smk.wildcards.T)
run_monte_carlo(
    cfg,
    smk.input.ce,
    temperature_K,
    smk.output.h5,
    Provenance.from_snakemake(smk, "thermo"),
    seed=derive_seed(cfg["seed"], "thermo", "monte_carlo", smk.wildcards.T),
)
