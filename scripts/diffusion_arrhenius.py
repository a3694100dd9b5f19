"""Snakemake entry point of rule diffusion_arrhenius: the Arrhenius fit of D(T), Ea and D0."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.diffusion import (
    ArrheniusSettings,
    arrhenius_from_summaries,
    format_arrhenius_summary,
    read_msd_summary,
    write_arrhenius_h5,
)
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
logging.captureWarnings(True)
cfg = smk.params.config["diffusion"]
summaries = [read_msd_summary(path) for path in smk.input.msd]
result = arrhenius_from_summaries(summaries, ArrheniusSettings.from_config(cfg))
write_arrhenius_h5(smk.output.arrhenius, result, Provenance.from_snakemake(smk, "diffusion"))
log.info("\n%s", format_arrhenius_summary(smk.output.arrhenius))
