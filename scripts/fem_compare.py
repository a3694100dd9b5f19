"""Snakemake entry point of rule fem_compare: voltage curves of all cases, overview.json."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.fem.output import compare_cases
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
compare_cases(
    list(smk.input.histories),
    list(smk.input.summaries),
    smk.output.overview,
    smk.output.voltage,
    Provenance.from_snakemake(smk, "fem"),
)
