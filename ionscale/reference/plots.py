"""Summary figure of the reference data: energies and forces per config_type, and failures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.io import atomic_path


def plot_summary(
    frames: Sequence[Atoms], failures: Sequence[Mapping[str, Any]], path: str | Path
) -> Path:
    """Three panels: energy per atom by config_type, |F| distribution by config_type, and
    energy per atom against the Li site fraction x; the title counts labelled and failed frames.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = sorted({str(a.info["config_type"]) for a in frames})
    colours = {t: plt.cm.tab10(i % 10) for i, t in enumerate(types)}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), constrained_layout=True)
    rng = np.random.default_rng(0)  # jitter of the strip plot only

    ax = axes[0]
    for k, t in enumerate(types):
        e = [a.get_potential_energy() / len(a) for a in frames if a.info["config_type"] == t]
        ax.scatter(k + rng.uniform(-0.2, 0.2, len(e)), e, s=14, color=colours[t], alpha=0.8)
    ax.set_xticks(range(len(types)), types, rotation=30, ha="right")
    ax.set_ylabel("energy per atom (eV/atom)")
    ax.set_title("energy per atom")

    ax = axes[1]
    fmax = max((np.abs(a.get_forces()).max() for a in frames), default=1.0)
    bins = np.linspace(0.0, max(fmax, 1e-3) * 1.05, 30)
    for t in types:
        f = np.concatenate(
            [np.linalg.norm(a.get_forces(), axis=1) for a in frames if a.info["config_type"] == t]
        )
        ax.hist(f, bins=bins, histtype="step", lw=1.5, color=colours[t], label=t)
    ax.set_yscale("log")
    ax.set_xlabel("|F| per atom (eV/Å)")
    ax.set_ylabel("atoms")
    ax.set_title("force magnitudes")
    ax.legend(fontsize=8)

    ax = axes[2]
    for t in types:
        sel = [a for a in frames if a.info["config_type"] == t]
        x = np.array([float(a.info["li_fraction"]) for a in sel])
        e = np.array([a.get_potential_energy() / len(a) for a in sel])
        ok = np.isfinite(x)
        ax.scatter(x[ok], e[ok], s=14, color=colours[t], label=t)
    ax.set_xlabel("Li site fraction x")
    ax.set_ylabel("energy per atom (eV/atom)")
    ax.set_title("energy vs composition (Li metal omitted)")

    reasons = Counter(str(f["reason"]) for f in failures)
    failed = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "none"
    fig.suptitle(f"reference data: {len(frames)} labelled frames; failed: {failed}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return Path(path)
