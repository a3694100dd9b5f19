"""Report figures of the surrogate stage (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.io import atomic_path


def _figure(ncols: int = 1, width: float = 4.5, height: float = 4.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)


def _save(fig: Any, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return Path(path)


def parity_plot(
    path: str | Path,
    y_test: np.ndarray,
    pred: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    metrics: Mapping[str, Any],
    label: str,
) -> Path:
    """Held-out solver values against surrogate predictions with their predictive intervals."""
    fig, ax = _figure()
    ax = ax[0, 0]
    ax.errorbar(
        y_test,
        pred,
        yerr=[pred - lo, hi - pred],
        fmt="o",
        ms=4,
        capsize=2,
        label=f"held-out cases ({metrics['interval_level']:.0%} interval)",
    )
    span = [min(y_test.min(), lo.min()), max(y_test.max(), hi.max())]
    ax.plot(span, span, "k--", lw=1, label="y = ŷ")
    ax.set_xlabel("solver (held-out case)")
    ax.set_ylabel("surrogate prediction")
    ax.set_title(
        f"{label}\nR² = {metrics['r2']:.3f}, MAE = {metrics['mae']:.3g}, "
        f"coverage = {metrics['coverage']:.2f}",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    return _save(fig, path)


def coverage_plot(
    path: str | Path, levels: Sequence[float], coverage: Sequence[float], n_test: int, label: str
) -> Path:
    """Empirical coverage of central predictive intervals on held-out cases vs nominal level,
    with the ±2σ binomial band of a calibrated model."""
    fig, ax = _figure()
    ax = ax[0, 0]
    p = np.asarray(levels)
    band = 2 * np.sqrt(p * (1 - p) / max(n_test, 1))
    ax.fill_between(p, p - band, p + band, color="0.85", label="calibrated ± 2σ (binomial)")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.plot(p, coverage, "o-", ms=3, label=f"held out (n = {n_test})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("nominal interval probability")
    ax.set_ylabel("fraction of held-out cases inside")
    ax.set_title(label, fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def bo_trace_plot(
    path: str | Path,
    trace: Sequence[Mapping[str, Any]],
    objective_label: str,
    grid_best: float | None,
    grid_runs: int,
    reach: int | None,
) -> Path:
    """Objective of every optimisation case (feasible filled, infeasible open) and the best
    feasible so far, against the number of solver runs; the grid's answer for comparison."""
    fig, ax = _figure(width=6.0)
    ax = ax[0, 0]
    n = np.arange(1, len(trace) + 1)
    obj = np.array([t["objective"] for t in trace])
    feas = np.array([t["feasible"] for t in trace])
    rounds = np.array([t["round"] for t in trace])
    best = np.array(
        [np.nan if t["best_feasible_so_far"] is None else t["best_feasible_so_far"] for t in trace]
    )
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    norm = Normalize(vmin=0, vmax=max(int(rounds.max()), 1))
    cmap = colormaps["viridis"]
    sc = ax.scatter(n[feas], obj[feas], c=rounds[feas], cmap=cmap, norm=norm, label="feasible case")
    ax.scatter(
        n[~feas],
        obj[~feas],
        facecolors="none",
        edgecolors=cmap(norm(rounds[~feas])),
        label="infeasible case (open)",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.step(n, best, where="post", color="k", label="best feasible so far")
    if grid_best is not None:
        ax.axhline(grid_best, color="C1", ls="--", label=f"grid answer ({grid_runs} runs)")
    if reach is not None:
        ax.axvline(reach, color="C2", ls=":", label=f"optimisation matches grid after {reach}")
    fig.colorbar(sc, ax=ax, label="round (0 = initial design)")
    ax.set_xlabel("solver runs")
    ax.set_ylabel(objective_label)
    ax.legend(fontsize=8)
    return _save(fig, path)


def field_error_plot(
    path: str | Path,
    r_px: np.ndarray | None,
    truth: np.ndarray,
    pred: np.ndarray,
    times: np.ndarray,
    errors: Mapping[str, Sequence[Mapping[str, Any]]],
    case: str,
) -> Path:
    """Left: true and predicted two-point statistics of a held-out trajectory at a few
    snapshots. Right: relative error per snapshot of every training and held-out trajectory."""
    fig, ax = _figure(ncols=2)
    left, right = ax[0, 0], ax[0, 1]
    picks = np.unique(np.linspace(0, len(times) - 1, 4).round().astype(int))
    for k, j in enumerate(picks):
        x = r_px if r_px is not None else np.arange(truth.shape[1])
        left.plot(x, truth[j], color=f"C{k}", label=f"solver t = {times[j]:.3g}")
        left.plot(x, pred[j], color=f"C{k}", ls="--", label="surrogate" if k == 0 else None)
    left.set_xlabel("|r| (pixels)" if r_px is not None else "feature index")
    left.set_ylabel("S (autocovariance of c)")
    left.set_title(f"held-out case {case}", fontsize=9)
    left.legend(fontsize=7)
    for kind, color in (("train", "C0"), ("test", "C3")):
        for i, e in enumerate(errors.get(kind, [])):
            right.semilogy(
                np.arange(1, len(e["per_snapshot"]) + 1),
                e["per_snapshot"],
                color=color,
                alpha=0.7,
                label=f"{'training' if kind == 'train' else 'held-out'} trajectories"
                if i == 0
                else None,
            )
    right.set_xlabel("snapshot")
    right.set_ylabel("relative error of S")
    right.legend(fontsize=8)
    return _save(fig, path)
