"""Figures of a phase-field run, read back from its fields.h5 (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_snapshots(fields_path: str | Path, out_path: str | Path, max_panels: int = 12) -> Path:
    """Maps of c at each stored time (3-D fields: the mid-plane z = n_z/2), one colour scale."""
    import h5py

    plt = _pyplot()
    with h5py.File(fields_path, "r") as h5:
        times = h5["snapshots/time_s"][()]
        n = len(times)
        pick = np.unique(np.linspace(0, n - 1, min(n, max_panels)).round().astype(int))
        frames = [h5["snapshots/c"][i] for i in pick]
        spacing = h5["grid/spacing_nm"][()]
        case = str(h5.attrs.get("case", ""))
        temperature = float(h5.attrs.get("temperature_K", np.nan))
    where = " (mid-plane z = n_z/2)" if frames[0].ndim == 3 else ""
    frames = [f[..., f.shape[-1] // 2] if f.ndim == 3 else f for f in frames]
    frames = [f[:, None] if f.ndim == 1 else f for f in frames]
    lo = min(float(f.min()) for f in frames)
    hi = max(float(f.max()) for f in frames)
    ncol = int(np.ceil(np.sqrt(len(frames))))
    nrow = int(np.ceil(len(frames) / ncol))
    fig, axes = plt.subplots(
        nrow,
        ncol,
        figsize=(2.8 * ncol + 1.2, 2.8 * nrow + 0.5),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    extent = [0, frames[0].shape[0] * spacing[0], 0, frames[0].shape[1] * spacing[-1]]
    image = None
    for ax, i, frame in zip(axes.flat, pick, frames, strict=False):
        image = ax.imshow(frame.T, origin="lower", extent=extent, vmin=lo, vmax=hi, cmap="viridis")
        ax.set_title(f"t = {times[i]:.3g} s", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[-1, :]:
        ax.set_xlabel("x (nm)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("y (nm)", fontsize=8)
    for ax in list(axes.flat)[len(frames) :]:
        ax.axis("off")
    fig.suptitle(f"Li site fraction c, case {case}, {temperature:g} K{where}", fontsize=10)
    fig.colorbar(image, ax=axes, shrink=0.8, label="c")
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(out_path)


def plot_history(fields_path: str | Path, summary: Mapping[str, Any], out_path: str | Path) -> Path:
    """Free energy, composition spread and domain size against time (log time axis)."""
    import h5py

    plt = _pyplot()
    with h5py.File(fields_path, "r") as h5:
        hist = {k: h5["history"][k][()] for k in h5["history"]}
    t = hist["time_s"]
    keep = t > 0
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    energy = hist["free_energy_eV_per_site"]
    axes[0].semilogx(t[keep], (energy[keep] - energy[0]) * 1e3)
    axes[0].set_ylabel("F(t) − F(0) (meV/site)")
    axes[1].semilogx(t[keep], hist["composition_std"][keep], label="std(c)")
    outcome = summary.get("outcome", {})
    std_eq = outcome.get("equilibrium_composition_std")
    if std_eq:
        axes[1].axhline(std_eq, ls="--", c="gray", label="two-phase equilibrium")
    t_sep = outcome.get("time_to_phase_separation_s")
    for ax in axes:
        if t_sep:
            ax.axvline(t_sep, ls=":", c="k", lw=1)
        ax.set_xlabel("t (s)")
    axes[1].set_ylabel("std of c")
    axes[1].legend(fontsize=8)
    axes[2].loglog(t[keep], hist["domain_length_nm"][keep])
    axes[2].set_ylabel("domain length 2π/⟨k⟩ (nm)")
    drift = summary.get("conservation", {}).get("relative_mass_drift")
    fig.suptitle(
        f"case {summary.get('case', '')}: free energy, composition spread, domain size"
        + (f" (relative mass drift {drift:.1e})" if drift is not None else ""),
        fontsize=10,
    )
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(out_path)
