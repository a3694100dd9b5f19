"""The fingerprint stage's file contracts.

- Input: ``reference/labelled.extxyz`` (:func:`read_labelled_frames`; every frame carries
  :data:`REQUIRED_INFO` in ``atoms.info``).
- ``fingerprint/split.json``: the train/validation indices (:class:`Split`, written by the
  script); :func:`check_split` checks one before training.
- ``fingerprint/descriptors.h5``: frame descriptors, PCA maps, strata and the novelty model
  (:func:`write_descriptors_h5`; read the model back with ``NoveltyModel.read``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.fingerprint.selection import Split
from ionscale.fingerprint.settings import FingerprintError

if TYPE_CHECKING:
    from ase import Atoms

    from ionscale.fingerprint.stage import FingerprintResult

#: Keys every frame of reference/labelled.extxyz carries in ``atoms.info`` (the contract).
REQUIRED_INFO = ("config_type", "li_fraction", "frame_id")


def read_labelled_frames(path: str | Path, require_labels: bool = True) -> list[Atoms]:
    """Read ``reference/labelled.extxyz`` and check it against the contract.

    Parameters
    ----------
    path:
        Extended XYZ file written by the reference stage.
    require_labels:
        Also require an energy (eV) and forces (eV/Å) on every frame.

    Raises
    ------
    FingerprintError
        The file is missing, empty or unreadable, or a frame lacks a required key, or frame ids
        repeat; the message names the file, the frame and the key.
    """
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise FingerprintError(f"{path}: labelled frames file not found")
    try:
        frames = ase.io.read(path, index=":", format="extxyz")
    except Exception as exc:  # ase raises many types for a malformed file
        raise FingerprintError(f"{path}: not a readable extxyz file ({exc})") from exc
    if not frames:
        raise FingerprintError(f"{path}: contains no frames")
    ids = []
    for i, atoms in enumerate(frames):
        missing = [k for k in REQUIRED_INFO if k not in atoms.info]
        if missing:
            raise FingerprintError(f"{path}: frame {i} lacks info key(s) {missing}")
        if require_labels:
            results = atoms.calc.results if atoms.calc is not None else {}
            for key in ("energy", "forces"):
                if key not in results:
                    raise FingerprintError(
                        f"{path}: frame {i} ({atoms.info['frame_id']}) has no {key}"
                    )
        ids.append(str(atoms.info["frame_id"]))
    dupes = [k for k, n in Counter(ids).items() if n > 1]
    if dupes:
        raise FingerprintError(f"{path}: frame_id not unique: {dupes[:5]}")
    return frames


def species_of(frames: Sequence[Atoms]) -> list[str]:
    """Sorted element symbols present in the frames (DeePMD's type_map uses the same order)."""
    return sorted({s for atoms in frames for s in atoms.get_chemical_symbols()})


def check_split(
    frames: Sequence[Atoms], split: dict[str, Any] | Split, where: str = "split"
) -> None:
    """Check a split before training: valid disjoint indices; training covers every species
    and every config_type of the data; a non-empty validation set.

    Raises
    ------
    FingerprintError
        Naming what is missing from the training set.
    """
    s = split.as_dict() if isinstance(split, Split) else dict(split)
    for key in ("train", "validation"):
        if key not in s:
            raise FingerprintError(f"{where}: no '{key}' list")
    train, val = [int(i) for i in s["train"]], [int(i) for i in s["validation"]]
    n = len(frames)
    bad = [i for i in train + val if not 0 <= i < n]
    if bad:
        raise FingerprintError(f"{where}: frame indices {bad[:5]} outside 0..{n - 1}")
    if set(train) & set(val):
        raise FingerprintError(f"{where}: frames {sorted(set(train) & set(val))[:5]} in both sets")
    if not train:
        raise FingerprintError(f"{where}: empty training set")
    if not val:
        raise FingerprintError(f"{where}: empty validation set")
    all_species = set(species_of(frames))
    train_species = set(species_of([frames[i] for i in train]))
    if all_species - train_species:
        raise FingerprintError(
            f"{where}: species {sorted(all_species - train_species)} occur in the data but in no "
            "training frame (the model could not learn them)"
        )
    all_types = {str(a.info["config_type"]) for a in frames}
    train_types = {str(frames[i].info["config_type"]) for i in train}
    if all_types - train_types:
        raise FingerprintError(
            f"{where}: config_type(s) {sorted(all_types - train_types)} have no training frame"
        )


def write_descriptors_h5(path: str | Path, result: FingerprintResult, provenance: Any) -> None:
    """fingerprint/descriptors.h5: frame descriptors, PCA map, strata, the novelty model."""
    from ionscale.io import add_dataset, add_strings, open_result_h5

    n = len(result.labels)
    in_train = np.zeros(n, bool)
    in_train[result.split.train] = True
    with open_result_h5(path, provenance) as h5:
        add_dataset(
            h5,
            "frame_descriptors",
            result.frame_descriptors,
            "1",
            "mean unit SOAP vector per species, concatenated over species",
        )
        add_dataset(h5, "pca_coordinates", result.pca, "1", "frames on the first 2 PCs")
        add_dataset(h5, "pca_explained_variance_ratio", result.pca_explained_variance_ratio, "1")
        add_dataset(
            h5,
            "pca_within_composition_coordinates",
            result.pca_within,
            "1",
            "first 2 PCs after subtracting each composition's mean descriptor",
        )
        add_dataset(h5, "in_training_set", in_train, "1", "True for training frames")
        add_strings(h5, "stratum", result.labels, "config_type|Li-content bin of each frame")
        add_strings(h5, "config_type", result.config_types)
        add_dataset(h5, "validation_frame_index", np.asarray(result.split.validation), "1")
        add_dataset(
            h5,
            "validation_novelty",
            result.validation_novelty,
            "1",
            "max per-atom novelty of each validation frame vs the training set",
        )
        h5.attrs["species"] = result.species
        result.novelty.write(h5.create_group("novelty"))
