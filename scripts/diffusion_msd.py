"""Snakemake entry point of rule diffusion_msd: MSD and D ± σ at one temperature."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.diffusion import MSDSettings, analyse_trajectory, plot_msd, write_msd_h5
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
logging.captureWarnings(True)
cfg = smk.params.config["diffusion"]
settings = MSDSettings.from_config(cfg)
result = analyse_trajectory(smk.input.trajectory, settings)
write_msd_h5(smk.output.msd, result, Provenance.from_snakemake(smk, "diffusion"))
plot_msd(result, smk.output.plot)
for name, fit in result.fits.items():
    log.info(
        "T = %g K, %s: D = %.3e ± %.1e cm²/s, window %.3g–%.3g ps, log-log slope %.2f, "
        "diffusive %s",
        result.temperature_K,
        name,
        fit.diffusivity_cm2_s,
        fit.diffusivity_uncertainty_cm2_s,
        result.time_ps[fit.window.start],
        result.time_ps[fit.window.end],
        fit.window.loglog_slope,
        fit.window.diffusive,
    )
log.info("%d hops of %d %s", result.n_hops, result.n_mobile, result.mobile_species)
