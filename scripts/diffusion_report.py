"""Snakemake entry point of rule diffusion_report: D and σ at the report temperature, and the
Arrhenius plot (reads arrhenius.h5 only: a new report temperature reruns nothing else)."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.diffusion import (
    format_arrhenius_summary,
    plot_arrhenius,
    read_arrhenius_result,
    report_at,
    write_report_h5,
)
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
logging.captureWarnings(True)
cfg = smk.params.config["diffusion"]
result = read_arrhenius_result(smk.input.arrhenius)
report = report_at(result, cfg["report_temperature_K"], cfg["extrapolation_warning_ratio"])
write_report_h5(smk.output.report, report, result, Provenance.from_snakemake(smk, "diffusion"))
plot_arrhenius(result, report, smk.output.plot)
log.info("\n%s", format_arrhenius_summary(smk.input.arrhenius, smk.output.report))
