"""Snakemake entry point of rule reference_plot (figure in ionscale.reference.plots)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.reference.plots import plot_summary
from ionscale.reference.stage import read_frames

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
failures = json.loads(Path(smk.input.failed).read_text())["failures"]
plot_summary(read_frames(smk.input.labelled), failures, smk.output.plot)
