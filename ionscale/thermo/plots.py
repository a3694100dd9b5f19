"""Plots of the thermo stage (matplotlib, Agg), saved atomically for ``report()``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.io import atomic_path

if TYPE_CHECKING:
    from ionscale.thermo.hull import Hull
    from ionscale.thermo.results import FreeEnergyResult


def _figure(ncols: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(5.5 * ncols, 4.2), constrained_layout=True)


def _save(fig: Any, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130)
    plt.close(fig)
    return Path(path)


def plot_formation_energies(
    x: np.ndarray, ef: np.ndarray, unc: np.ndarray | None, hull: Hull, path: str | Path
) -> Path:
    """Formation energy per site vs x, ensemble error bars, hull and T = 0 voltages."""
    fig, ax = _figure()
    ax.errorbar(
        x,
        1e3 * ef,
        yerr=None if unc is None else 1e3 * unc,
        fmt="o",
        ms=4,
        alpha=0.6,
        label="orderings (DP)",
    )
    ax.plot(hull.x, 1e3 * hull.formation_energy_eV_per_site, "k-", lw=1.5, label="convex hull")
    ax.plot(hull.x, 1e3 * hull.formation_energy_eV_per_site, "ks", ms=6)
    for x_lo, x_hi, volt in hull.two_phase_regions():
        xm = 0.5 * (x_lo + x_hi)
        ym = 1e3 * np.interp(xm, hull.x, hull.formation_energy_eV_per_site)
        ax.annotate(
            f"{volt:.3f} V",
            (xm, ym),
            textcoords="offset points",
            xytext=(0, -14),
            ha="center",
            fontsize=7,
        )
    ax.set_xlabel("Li site fraction x")
    ax.set_ylabel("formation energy (meV/site)\nvs empty host + bcc Li")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_mu_fit(res: FreeEnergyResult, path: str | Path) -> Path:
    """μ(x) data (Monte Carlo, ±σ) vs the network's ∂f/∂x, per temperature."""
    fig, ax = _figure()
    for k, (t, fit) in enumerate(zip(res.temperature_K, res.fits, strict=True)):
        color = f"C{k}"
        val = np.zeros(len(fit.x), dtype=bool)
        val[fit.validation_index] = True
        ax.errorbar(
            fit.x[~val],
            1e3 * fit.mu[~val],
            yerr=1e3 * fit.sigma[~val],
            fmt="o",
            ms=3,
            color=color,
            label=f"MC {t:g} K (train)",
        )
        if val.any():
            ax.errorbar(
                fit.x[val],
                1e3 * fit.mu[val],
                yerr=1e3 * fit.sigma[val],
                fmt="s",
                mfc="none",
                ms=5,
                color=color,
                label=f"MC {t:g} K (validation)",
            )
        ax.plot(
            res.x,
            1e3 * res.mu[k],
            "-",
            color=color,
            label=f"network ({fit.form}), RMSE {1e3 * fit.rmse_train_eV:.1f} meV",
        )
    ax.set_xlabel("Li site fraction x")
    ax.set_ylabel("μ − μ(Li metal) (meV)")
    lo, hi = np.nanpercentile(1e3 * res.mu, [2, 98])
    ax.set_ylim(lo - 0.1 * (hi - lo + 1), hi + 0.1 * (hi - lo + 1))
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_free_energy(
    res: FreeEnergyResult, hull_x: np.ndarray, hull_e: np.ndarray, path: str | Path
) -> Path:
    """f(x, T) with spinodal and two-phase regions, and the T = 0 hull; ∂²f/∂x² beside it."""
    fig, (ax, ax2) = _figure(2)
    ax.plot(hull_x, 1e3 * np.asarray(hull_e), "k--", lw=1, label="T = 0 hull")
    for k, t in enumerate(res.temperature_K):
        color = f"C{k}"
        ax.plot(res.x, 1e3 * res.f[k], color=color, label=f"f, {t:g} K")
        for x_a, x_b, _ in res.two_phase[k]:
            fa, fb = np.interp([x_a, x_b], res.x, res.f[k])
            ax.plot([x_a, x_b], [1e3 * fa, 1e3 * fb], ":", color=color, lw=1)
        ax2.plot(res.x, res.d2f[k], color=color, label=f"{t:g} K")
        for lo, hi in res.spinodal[k]:
            ax2.axvspan(lo, hi, color=color, alpha=0.12)
    ax.set_xlabel("Li site fraction x")
    ax.set_ylabel("f (meV/site)")
    ax.legend(fontsize=8)
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_yscale("symlog", linthresh=0.1)
    ax2.set_xlabel("Li site fraction x")
    ax2.set_ylabel("∂²f/∂x² (eV/site); shaded: spinodal")
    ax2.legend(fontsize=8)
    return _save(fig, path)


def plot_ocv(
    res: FreeEnergyResult,
    hull_x: np.ndarray,
    hull_e: np.ndarray,
    measured_plateaus_V: Sequence[float],
    path: str | Path,
) -> Path:
    """OCV(x) = −μ/e per temperature, the T = 0 hull voltage steps, measured plateaus."""
    fig, ax = _figure()
    hx, he = np.asarray(hull_x), np.asarray(hull_e)
    for k in range(len(hx) - 1):
        v = -(he[k + 1] - he[k]) / (hx[k + 1] - hx[k])
        ax.plot([hx[k], hx[k + 1]], [v, v], "k-", lw=1.2, label="T = 0 hull" if k == 0 else None)
    for k, t in enumerate(res.temperature_K):
        ocv = -res.mu[k]
        if res.two_phase[k]:  # equilibrium OCV: flat at the coexistence voltage
            ocv = ocv.copy()
            for x_a, x_b, mu_c in res.two_phase[k]:
                ocv[(res.x > x_a) & (res.x < x_b)] = -mu_c
        ax.plot(res.x, ocv, color=f"C{k}", label=f"learned OCV, {t:g} K")
    for j, v in enumerate(measured_plateaus_V):
        ax.axhline(v, color="gray", ls="--", lw=0.8, label="measured plateaus" if j == 0 else None)
    ax.set_xlabel("Li site fraction x")
    ax.set_ylabel("OCV vs Li/Li⁺ (V)")
    finite = -res.mu[np.isfinite(res.mu)]
    lo = min(np.nanpercentile(finite, 5), *(measured_plateaus_V or [0]), 0.0)
    hi = max(np.nanpercentile(finite, 95), *(measured_plateaus_V or [0]))
    ax.set_ylim(lo - 0.05, hi + 0.1)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_dft_parity(
    dp: np.ndarray, dft: np.ndarray, x: np.ndarray, path: str | Path, model: str = "DP"
) -> Path:
    """DP (or ``model``) vs DFT formation energies of the spot-checked orderings."""
    fig, ax = _figure()
    sc = ax.scatter(1e3 * dft, 1e3 * dp, c=x, cmap="viridis", vmin=0, vmax=1)
    lim = [1e3 * min(dft.min(), dp.min()) - 10, 1e3 * max(dft.max(), dp.max()) + 10]
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("DFT formation energy (meV/site)")
    ax.set_ylabel(f"{model} formation energy (meV/site)")
    fig.colorbar(sc, ax=ax, label="x")
    return _save(fig, path)
