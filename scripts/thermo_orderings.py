"""Snakemake entry point of rule thermo_orderings (science in ionscale.thermo.stage)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance
from ionscale.thermo.stage import run_orderings

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
run_orderings(
    smk.params.config,
    list(smk.input.models),
    {k: str(v) for k, v in smk.output.items()},
    Provenance.from_snakemake(smk, "thermo"),
)
