"""Training-set selection: farthest-point sampling and the stratified train/validation split.

The training set is chosen by farthest-point sampling (FPS) [3]_ in the frame-descriptor space
(:mod:`ionscale.fingerprint.descriptors`), so that training frames span the sampled
configurations rather than crowd where sampling was dense; the remaining frames are the
validation set. The split is stratified: every stratum (a config_type and a bin of Li content x)
with at least two frames has frames in both sets, and every stratum has at least one training
frame.

References
----------
.. [3] Y. Eldar et al., IEEE Trans. Image Process. 6, 1305 (1997); M. Ceriotti, G. A.
   Tribello, M. Parrinello, J. Chem. Theory Comput. 9, 1521 (2013) (FPS of atomistic data).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.fingerprint.settings import SPLIT_METHODS, FingerprintError

if TYPE_CHECKING:
    from ase import Atoms

#: The stage's logger (the name it had as one module, so log records keep it).
log = logging.getLogger("ionscale.fingerprint")


def farthest_point_sampling(
    points: np.ndarray,
    n_select: int,
    initial: Sequence[int] = (),
    groups: Sequence[str] | None = None,
    quota: dict[str, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy farthest-point sampling in Euclidean space, optionally with per-group quotas.

    Hand-written (a dozen lines) because neither scikit-learn nor scipy offers it.

    Parameters
    ----------
    points:
        ``(n, d)`` coordinates.
    n_select:
        Number of points to select, ``initial`` included (fewer if the quotas run out first).
    initial:
        Indices selected first, in order. Without them FPS starts at the point farthest from the
        centroid (ties: lowest index), which makes the result deterministic.
    groups, quota:
        Optional group label of each point and the most points to take from each group; a
        group whose quota is full takes no more points.

    Returns
    -------
    (indices, distances):
        Selected indices in selection order, and for each the distance to the points selected
        before it (``inf`` for the initial ones): the FPS covering radius as it shrinks.
    """
    points = np.asarray(points, dtype=float)
    n = len(points)
    if not 0 < n_select <= n:
        raise FingerprintError(f"cannot select {n_select} of {n} points")
    chosen = list(dict.fromkeys(int(i) for i in initial))
    if not chosen:
        chosen = [int(np.argmax(np.linalg.norm(points - points.mean(axis=0), axis=1)))]
    radii = [np.inf] * len(chosen)
    open_ = np.ones(n, bool)
    labels = np.asarray(groups) if groups is not None else None
    taken: Counter[str] = Counter()
    d_min = np.full(n, np.inf)

    def take(i: int) -> None:
        nonlocal d_min
        open_[i] = False
        d_min = np.minimum(d_min, np.linalg.norm(points - points[i], axis=1))
        if labels is not None and quota is not None:
            taken[labels[i]] += 1
            if taken[labels[i]] >= quota.get(labels[i], 0):
                open_[labels == labels[i]] = False

    for i in chosen:
        take(i)
    while len(chosen) < n_select and open_.any():
        i = int(np.argmax(np.where(open_, d_min, -np.inf)))
        chosen.append(i)
        radii.append(float(d_min[i]))
        take(i)
    return np.asarray(chosen, int), np.asarray(radii)


def strata(frames: Sequence[Atoms], li_bins: int) -> list[str]:
    """Stratum label of each frame: its config_type and its bin of Li content x ∈ [0, 1].

    Frames whose ``li_fraction`` is NaN (bcc Li metal) form their own bin ``x=n/a``.
    """
    if li_bins < 1:
        raise FingerprintError(f"fingerprint.li_content_bins = {li_bins}: must be ≥ 1")
    labels = []
    for i, atoms in enumerate(frames):
        x = float(atoms.info["li_fraction"])
        if math.isnan(x):
            xbin = "x=n/a"
        else:
            if not -1e-9 <= x <= 1 + 1e-9:
                raise FingerprintError(f"frame {i}: li_fraction = {x} outside [0, 1]")
            b = min(int(x * li_bins), li_bins - 1)
            close = "]" if b == li_bins - 1 else ")"
            xbin = f"x∈[{b / li_bins:.3g},{(b + 1) / li_bins:.3g}{close}"
        labels.append(f"{atoms.info['config_type']}|{xbin}")
    return labels


@dataclass
class Split:
    """A train/validation split of the labelled frames (indices into labelled.extxyz)."""

    train: list[int]
    validation: list[int]
    method: str
    seed: int
    strata: dict[str, dict[str, int]] = field(default_factory=dict)
    validation_duplicates_of_train: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_frames(
    descriptors: np.ndarray,
    labels: Sequence[str],
    validation_fraction: float,
    method: str,
    seed: int,
    frame_species: Sequence[set[str]] | None = None,
) -> Split:
    """Stratified train/validation split, training frames chosen by FPS or at random.

    Per stratum with ``n`` frames, ``clip(round(f·n), 1, n−1)`` frames go to validation (none
    when ``n = 1``). With ``method="fps"`` one random frame per stratum (from ``seed``) starts a
    global FPS that fills each stratum's training quota with the frames farthest from those
    already chosen; the rest are validation. With ``"random"`` each stratum is shuffled.

    Small data sets, where most strata hold a single frame, are topped up to ``round(f·N)``
    (at least one) validation frames: the most redundant training frames (nearest to another
    training frame; random ones for ``"random"``) move to validation as long as their
    config_type (the stratum label before ``|``) and, given ``frame_species``, their species
    keep a training frame.
    """
    if method not in SPLIT_METHODS:
        raise FingerprintError(
            f"fingerprint.selection = {method!r}: expected one of {SPLIT_METHODS}"
        )
    if not 0 < validation_fraction < 1:
        raise FingerprintError(
            f"fingerprint.validation_fraction = {validation_fraction}: must lie in (0, 1)"
        )
    n = len(labels)
    if n < 2:
        raise FingerprintError(f"{n} labelled frame(s): a split needs at least 2")
    rng = np.random.default_rng(seed)
    labels_arr = np.asarray(labels)
    groups = {s: np.flatnonzero(labels_arr == s) for s in sorted(set(labels))}
    quota = {}
    for s, idx in groups.items():
        n_val = (
            0
            if len(idx) == 1
            else int(np.clip(round(validation_fraction * len(idx)), 1, len(idx) - 1))
        )
        quota[s] = len(idx) - n_val
    train: list[int] = []
    if method == "random":
        for s, idx in groups.items():
            train.extend(int(i) for i in rng.permutation(idx)[: quota[s]])
    else:
        initial = [int(rng.choice(idx)) for idx in groups.values()]
        chosen, _ = farthest_point_sampling(
            descriptors, sum(quota.values()), initial=initial, groups=labels_arr, quota=quota
        )
        train = [int(i) for i in chosen]
    train = _top_up_validation(
        train,
        descriptors,
        labels,
        frame_species,
        max(1, round(validation_fraction * n)),
        rng if method == "random" else None,
    )
    train_set = set(train)
    validation = [i for i in range(n) if i not in train_set]
    if not validation:
        raise FingerprintError(
            f"{n} frames: no frame can be held out for validation without leaving a config_type "
            "or species out of training; label more frames"
        )
    duplicates = []
    if train:
        d = np.linalg.norm(descriptors[validation][:, None] - descriptors[train][None], axis=-1)
        duplicates = [v for v, row in zip(validation, d, strict=True) if row.min() <= 1e-8]
    if duplicates:
        log.warning(
            "validation frames %s duplicate training frames (same descriptor): the validation "
            "error will understate the error on new configurations",
            duplicates,
        )
    summary = {
        s: {"frames": len(idx), "train": int(sum(i in train_set for i in idx))}
        for s, idx in groups.items()
    }
    for s in summary:
        summary[s]["validation"] = summary[s]["frames"] - summary[s]["train"]
    return Split(sorted(train), validation, method, int(seed), summary, duplicates)


def _top_up_validation(
    train: list[int],
    descriptors: np.ndarray,
    labels: Sequence[str],
    frame_species: Sequence[set[str]] | None,
    target: int,
    rng: np.random.Generator | None,
) -> list[int]:
    """Move training frames to validation until ``target`` are held out (see split_frames)."""
    train = list(train)
    n = len(labels)
    kind = [lab.split("|")[0] for lab in labels]
    while n - len(train) < target:
        movable = []
        for i in train:
            rest = [j for j in train if j != i]
            if kind[i] not in {kind[j] for j in rest}:
                continue
            if frame_species is not None and not frame_species[i] <= set().union(
                *(frame_species[j] for j in rest)
            ):
                continue
            movable.append(i)
        if not movable:
            break
        if rng is not None:
            pick = int(rng.choice(movable))
        else:
            x = descriptors[train]
            d = np.linalg.norm(x[:, None] - x[None], axis=-1) + np.diag(np.full(len(train), np.inf))
            nearest = dict(zip(train, d.min(axis=1), strict=True))
            pick = min(movable, key=lambda i: (nearest[i], i))
        train.remove(pick)
    return sorted(train)
