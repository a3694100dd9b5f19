"""diffusion stage: tracer diffusion from MD: FFT mean-square displacement, D(T) with a
calibrated uncertainty, a weighted Arrhenius fit, and the Nernst–Einstein conductivity at a
report temperature.

The chain, one module each (methods and references in each module's docstring):

1. :mod:`~ionscale.diffusion.trajectory`: the md stage's ``md/T{T}K/trajectory.h5``, read
   (unwrapped positions of the mobile species, relative to the centre of mass).
2. :mod:`~ionscale.diffusion.msd`: the time-origin averaged MSD by FFT (nMOLDYN), the
   squared-displacement statistics and the hop count.
3. :mod:`~ionscale.diffusion.msd_fit`: the diffusive window (the stated rule), the MSD
   covariance of kinisi (McCluskey et al. 2024) and the generalised least-squares fit of D.
4. :mod:`~ionscale.diffusion.analysis`: 1–3 for one trajectory (one temperature).
5. :mod:`~ionscale.diffusion.arrhenius`: the weighted Arrhenius fit of D(T) and the
   Nernst–Einstein conductivity at the report temperature.

:mod:`~ionscale.diffusion.io` is the stage's product contract (the datasets and units of
``diffusion/T{T}K/msd.h5`` and ``diffusion/arrhenius.h5``, their writers and readers);
:mod:`~ionscale.diffusion.plots` draws the figures and :mod:`~ionscale.diffusion.settings`
holds the settings (config key ``diffusion``), errors and warnings.
``python -m ionscale.diffusion results/{system}/diffusion/arrhenius.h5`` prints Ea, D0 and (from
the report.h5 beside it) D and σ at the report temperature.
"""

from ionscale.diffusion.analysis import MSDResult, analyse_positions, analyse_trajectory
from ionscale.diffusion.arrhenius import (
    Z95,
    ArrheniusFit,
    ArrheniusResult,
    DiffusionReport,
    arrhenius_from_summaries,
    fit_arrhenius,
    nernst_einstein_conductivity_S_cm,
    report_at,
)
from ionscale.diffusion.io import (
    format_arrhenius_summary,
    read_arrhenius_covariance,
    read_arrhenius_result,
    read_charge_number,
    read_msd_summary,
    write_arrhenius_h5,
    write_msd_h5,
    write_report_h5,
)
from ionscale.diffusion.msd import count_hops, msd_direct, msd_fft, squared_displacement_stats
from ionscale.diffusion.msd_fit import (
    DiffusivityFit,
    FitWindow,
    find_diffusive_window,
    fit_diffusivity,
    gls_line,
    msd_covariance,
    smooth_variance,
    window_rule_text,
)
from ionscale.diffusion.plots import plot_arrhenius, plot_msd
from ionscale.diffusion.settings import (
    DIRECTIONS,
    ArrheniusSettings,
    DiffusionInputError,
    DiffusionWarning,
    MSDSettings,
)
from ionscale.diffusion.trajectory import read_trajectory

__all__ = [
    "DIRECTIONS",
    "Z95",
    "ArrheniusFit",
    "ArrheniusResult",
    "ArrheniusSettings",
    "DiffusionInputError",
    "DiffusionReport",
    "DiffusionWarning",
    "DiffusivityFit",
    "FitWindow",
    "MSDResult",
    "MSDSettings",
    "analyse_positions",
    "analyse_trajectory",
    "arrhenius_from_summaries",
    "count_hops",
    "find_diffusive_window",
    "fit_arrhenius",
    "fit_diffusivity",
    "format_arrhenius_summary",
    "gls_line",
    "msd_covariance",
    "msd_direct",
    "msd_fft",
    "nernst_einstein_conductivity_S_cm",
    "plot_arrhenius",
    "plot_msd",
    "read_arrhenius_covariance",
    "read_arrhenius_result",
    "read_charge_number",
    "read_msd_summary",
    "read_trajectory",
    "report_at",
    "smooth_variance",
    "squared_displacement_stats",
    "window_rule_text",
    "write_arrhenius_h5",
    "write_msd_h5",
    "write_report_h5",
]
