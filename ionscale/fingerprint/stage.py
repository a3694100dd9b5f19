"""The fingerprint stage: descriptors, split, novelty model and PCA maps of the labelled frames.

:func:`run_fingerprint` runs the steps of :mod:`~ionscale.fingerprint.descriptors`,
:mod:`~ionscale.fingerprint.selection` and :mod:`~ionscale.fingerprint.novelty` in order; the
script writes the result with :mod:`~ionscale.fingerprint.io` and
:mod:`~ionscale.fingerprint.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ionscale.fingerprint.descriptors import pool_frames, soap_environments
from ionscale.fingerprint.io import check_split, species_of
from ionscale.fingerprint.novelty import NoveltyModel
from ionscale.fingerprint.selection import Split, split_frames, strata
from ionscale.fingerprint.settings import FingerprintSettings

if TYPE_CHECKING:
    from ase import Atoms


@dataclass
class FingerprintResult:
    """Everything the stage computes (the script writes it)."""

    species: list[str]
    frame_descriptors: np.ndarray
    pca: np.ndarray
    pca_explained_variance_ratio: np.ndarray
    pca_within: np.ndarray
    pca_within_explained_variance_ratio: np.ndarray
    labels: list[str]
    config_types: list[str]
    split: Split
    novelty: NoveltyModel
    validation_novelty: np.ndarray


def run_fingerprint(
    frames: Sequence[Atoms], settings: FingerprintSettings, seed: int, n_jobs: int = 1
) -> FingerprintResult:
    """Descriptors, split, novelty model and PCA maps of the labelled frames."""
    species = species_of(frames)
    envs = soap_environments(frames, species, settings.soap, n_jobs)
    desc = pool_frames(frames, envs, species)
    labels = strata(frames, settings.li_content_bins)
    split = split_frames(
        desc,
        labels,
        settings.validation_fraction,
        settings.selection,
        seed,
        frame_species=[set(a.get_chemical_symbols()) for a in frames],
    )
    check_split(frames, split)
    train_frames = [frames[i] for i in split.train]
    novelty = NoveltyModel.fit(
        train_frames, species, settings.soap, environments=[envs[i] for i in split.train]
    )
    val_novelty = novelty.frame_novelty([frames[i] for i in split.validation], n_jobs)
    coords, evr = _pca2(desc)
    # composition dominates the map; the second map removes each composition's mean descriptor
    # so the spread of distortions (rattle, strain, hops) within a composition shows
    formula = [a.get_chemical_formula(empirical=True) for a in frames]
    within = desc.copy()
    for f in set(formula):
        rows = [i for i, g in enumerate(formula) if g == f]
        within[rows] -= desc[rows].mean(axis=0)
    coords_within, evr_within = _pca2(within)
    return FingerprintResult(
        species=species,
        frame_descriptors=desc,
        pca=coords,
        pca_explained_variance_ratio=evr,
        pca_within=coords_within,
        pca_within_explained_variance_ratio=evr_within,
        labels=labels,
        config_types=[str(a.info["config_type"]) for a in frames],
        split=split,
        novelty=novelty,
        validation_novelty=val_novelty,
    )


def _pca2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates on the first two principal components and their explained variance ratio."""
    from sklearn.decomposition import PCA

    n_comp = min(2, x.shape[0], x.shape[1])
    pca = PCA(n_components=n_comp).fit(x)
    coords = pca.transform(x)
    ratio = np.asarray(pca.explained_variance_ratio_)
    if n_comp < 2:
        coords = np.column_stack([coords, np.zeros(len(coords))])
        ratio = np.append(ratio, 0.0)
    return coords, np.nan_to_num(ratio)
