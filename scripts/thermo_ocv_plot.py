"""Snakemake entry point of rule thermo_ocv_plot: the learned OCV against measured plateaus."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.thermo.stage import plot_ocv_file

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
plot_ocv_file(smk.input.h5, smk.params.config["thermo"]["measured_plateaus_V"], smk.output.plot)
