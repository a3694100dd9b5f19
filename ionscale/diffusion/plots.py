"""Figures of the diffusion stage: MSD(t) with its fit windows, and the Arrhenius plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ionscale.diffusion.analysis import MSDResult
from ionscale.diffusion.arrhenius import Z95, ArrheniusResult, DiffusionReport
from ionscale.diffusion.settings import DIRECTIONS
from ionscale.io import atomic_path


def plot_msd(result: MSDResult, path: str | Path) -> Path:
    """MSD(t) per direction set with the fitted window and line (log-log and linear panels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    colors = {"xyz": "C0", "xy": "C1", "z": "C2"}
    t = result.time_ps
    for name, fit in result.fits.items():
        msd = result.msd_components_A2[:, list(DIRECTIONS[name])].sum(axis=1)
        for ax in axes:
            ax.plot(
                t[1:], msd[1:], color=colors[name], lw=1, label=f"{name} (d={fit.dimensionality})"
            )
            tw = t[fit.window.start : fit.window.end + 1]
            if fit.window.diffusive and np.isfinite(fit.diffusivity_A2_ps):
                line = 2 * fit.dimensionality * fit.diffusivity_A2_ps * tw + fit.intercept_A2
                d_cm = fit.diffusivity_cm2_s
                ax.plot(tw, line, "--", color="k", lw=1)
                ax.axvspan(tw[0], tw[-1], color=colors[name], alpha=0.08)
                if ax is axes[1]:
                    ax.text(
                        tw[-1], line[-1], f" D={d_cm:.2e}±{fit.diffusivity_uncertainty_cm2_s:.1e}",
                        fontsize=7, color=colors[name],
                    )  # fmt: skip
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("lag time (ps)")
        ax.set_ylabel(f"{result.mobile_species} MSD (Å²)")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"T = {result.temperature_K:g} K, {result.n_mobile} {result.mobile_species}, "
        f"{result.n_hops} hops; shaded: fit window",
        fontsize=9,
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_arrhenius(res: ArrheniusResult, report: DiffusionReport, path: str | Path) -> Path:
    """ln D vs 1000/T with error bars, the fit and its 95 % band down to the report temperature,
    and D at the report temperature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = res.fit
    tr = report.temperature_K
    t_grid = np.linspace(min(tr, res.all_temperature_K.min()), res.all_temperature_K.max(), 200)
    band = f.diffusivity_cm2_s_at(t_grid)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    x = 1000 / t_grid
    ax.fill_between(x, band["ci95_low"], band["ci95_high"], color="C0", alpha=0.2,
                    label="95 % band")  # fmt: skip
    ea, sea = f.activation_energy_eV, f.activation_energy_uncertainty_eV
    ax.plot(x, band["value"], color="C0", label=f"Ea = {ea:.3f} ± {sea:.3f} eV")
    inc = res.included
    ax.errorbar(1000 / res.all_temperature_K[inc], res.all_diffusivity_cm2_s[inc],
                yerr=Z95 * res.all_diffusivity_uncertainty_cm2_s[inc], fmt="o", color="k",
                capsize=3, label="MD (95 %)")  # fmt: skip
    r = report.diffusivity
    err = [[r["value"] - r["ci95_low"]], [r["ci95_high"] - r["value"]]]
    ax.errorbar([1000 / tr], [r["value"]], yerr=err, fmt="s", color="C3", capsize=3,
                label=f"D({tr:g} K) = {r['value']:.2e} cm²/s")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel(f"D_{res.directions} ({res.mobile_species}) (cm²/s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return Path(path)
