"""Snakemake entry point of rule active_gather: a round's labelled batches through the reference
checks (``reference.checks``, ``reference.max_failed_fraction``; ionscale.reference.stage)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance
from ionscale.reference.stage import gather

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
ref = smk.params.config["reference"]
summary = gather(
    smk.input.sampled,
    batch_frames=list(smk.input.batch_frames),
    batch_reports=list(smk.input.batch_reports),
    imported_file=None,
    checks_config=ref["checks"],
    max_failed_fraction=float(ref["max_failed_fraction"]),
    out_labelled=smk.output.labelled,
    out_failed=smk.output.failed,
    out_summary=smk.output.summary,
    provenance=Provenance.from_snakemake(smk, "active"),
)
log.info("round %s: %s", smk.wildcards.round, summary)
