"""Plots of the fingerprint stage: the PCA maps of the frames (fingerprint/map.png)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ionscale.fingerprint.stage import FingerprintResult


def plot_map(path: str | Path, result: FingerprintResult) -> None:
    """PCA maps of the frames (all; within each composition), by config_type and split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ionscale.io import atomic_path

    in_train = np.zeros(len(result.labels), bool)
    in_train[result.split.train] = True
    types = sorted(set(result.config_types))
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    panels = (
        (result.pca, result.pca_explained_variance_ratio, "all frames"),
        (result.pca_within, result.pca_within_explained_variance_ratio,
         "within each composition (its mean removed)"),
    )  # fmt: skip
    for ax, (xy, evr, title) in zip(axes, panels, strict=True):
        for c, t in enumerate(types):
            mask = np.array([ct == t for ct in result.config_types])
            for sel, marker, tag in ((in_train, "o", "train"), (~in_train, "x", "validation")):
                m = mask & sel
                if m.any():
                    ax.scatter(xy[m, 0], xy[m, 1], marker=marker, s=28, color=colours(c % 10),
                               label=f"{t} ({tag})")  # fmt: skip
        ax.set_xlabel(f"PC1 ({100 * evr[0]:.0f} % of variance)")
        ax.set_ylabel(f"PC2 ({100 * evr[1]:.0f} % of variance)")
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"SOAP maps of {len(result.labels)} frames ({result.split.method} split)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
