"""Snakemake entry point of rule thermo_free_energy (ionscale.thermo.network, .analysis)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.config import derive_seed
from ionscale.provenance import Provenance
from ionscale.thermo.stage import run_free_energy

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
run_free_energy(
    cfg,
    {"mc": list(smk.input.mc), "ce_json": smk.input.ce_json, "orderings": smk.input.orderings},
    {k: str(v) for k, v in smk.output.items()},
    Provenance.from_snakemake(smk, "thermo"),
    seed=derive_seed(cfg["seed"], "thermo", "network"),
)
