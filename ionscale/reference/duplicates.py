"""Near-duplicate removal of sampled frames.

Two frames are near-duplicates when they have the same composition and cell lengths and their
sorted species-resolved pair-distance lists (to :data:`FINGERPRINT_CUTOFF_A`) agree within a
tolerance. This fingerprint is invariant to translation and atom permutation, so
symmetry-equivalent orderings collapse to one; it is hand-written because it is exact, cheap and
needs no descriptor library.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

#: Cutoff of the near-duplicate fingerprint, Å.
FINGERPRINT_CUTOFF_A = 5.0


def _fingerprint(atoms: Atoms, cutoff_A: float) -> dict[tuple[int, int], np.ndarray]:
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, cutoff_A)
    z = atoms.numbers
    zi, zj = np.minimum(z[i], z[j]), np.maximum(z[i], z[j])
    out = {}
    for key in sorted(set(zip(zi.tolist(), zj.tolist(), strict=True))):
        mask = (zi == key[0]) & (zj == key[1])
        out[key] = np.sort(d[mask])
    return out


def _near_equal(
    fa: dict[tuple[int, int], np.ndarray], fb: dict[tuple[int, int], np.ndarray], tol: float
) -> bool:
    if fa.keys() != fb.keys():
        return False
    for key, da in fa.items():
        db = fb[key]
        if da.shape != db.shape or (da.size and np.max(np.abs(da - db)) >= tol):
            return False
    return True


def remove_near_duplicates(
    frames: Sequence[Atoms], tolerance_A: float, cutoff_A: float = FINGERPRINT_CUTOFF_A
) -> tuple[list[Atoms], list[dict[str, str]]]:
    """Keep the first of each group of near-duplicate frames (see the module docstring).

    Returns the kept frames (in order) and ``{"frame_id", "duplicate_of"}`` for the others.
    """
    kept: list[Atoms] = []
    removed: list[dict[str, str]] = []
    seen: dict[tuple[str, int], list[tuple[Atoms, np.ndarray, dict]]] = {}
    for atoms in frames:
        group = seen.setdefault((atoms.get_chemical_formula(), len(atoms)), [])
        lengths = atoms.cell.lengths()
        fp = _fingerprint(atoms, cutoff_A)
        match = next(
            (
                other
                for other, other_lengths, other_fp in group
                if np.max(np.abs(lengths - other_lengths)) < tolerance_A
                and _near_equal(fp, other_fp, tolerance_A)
            ),
            None,
        )
        if match is None:
            group.append((atoms, lengths, fp))
            kept.append(atoms)
        else:
            removed.append(
                {"frame_id": atoms.info["frame_id"], "duplicate_of": match.info["frame_id"]}
            )
    return kept, removed
