"""SOAP descriptors of atomic environments and of frames.

Each atomic environment of every labelled frame is described by its smooth overlap of atomic
positions (SOAP) power spectrum [1]_, computed by dscribe [2]_ and normalised to unit length (so
that the Euclidean distance between two environments is a monotonic function of their SOAP
kernel, ``d² = 2 − 2k``). A frame is described by the mean environment of each species,
concatenated over species (zeros for a species the frame lacks).

References
----------
.. [1] A. P. Bartók, R. Kondor, G. Csányi, Phys. Rev. B 87, 184115 (2013).
.. [2] L. Himanen et al., Comput. Phys. Commun. 247, 106949 (2020) (dscribe).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.fingerprint.settings import FingerprintError, SoapSettings

if TYPE_CHECKING:
    from ase import Atoms


def _soap(species: Sequence[str], settings: SoapSettings) -> Any:
    from dscribe.descriptors import SOAP

    return SOAP(
        species=list(species),
        periodic=True,
        r_cut=settings.r_cut_A,
        n_max=settings.n_max,
        l_max=settings.l_max,
        sigma=settings.sigma_A,
        rbf="gto",
        average="off",
        sparse=False,
    )


def soap_environments(
    frames: Sequence[Atoms], species: Sequence[str], settings: SoapSettings, n_jobs: int = 1
) -> list[np.ndarray]:
    """Unit-length SOAP vector of every atom, one ``(n_atoms, n_features)`` array per frame.

    Raises
    ------
    FingerprintError
        A frame holds an element that is not in ``species``.
    """
    allowed = set(species)
    for i, atoms in enumerate(frames):
        extra = set(atoms.get_chemical_symbols()) - allowed
        if extra:
            raise FingerprintError(
                f"frame {i} holds element(s) {sorted(extra)} not in the descriptor's species "
                f"{list(species)}"
            )
    soap = _soap(species, settings)
    out = soap.create(list(frames), n_jobs=max(1, n_jobs))
    per_frame = [out] if len(frames) == 1 else list(out)
    normed = []
    for env in per_frame:
        env = np.atleast_2d(np.asarray(env, dtype=float))
        norm = np.linalg.norm(env, axis=1, keepdims=True)
        normed.append(env / np.where(norm > 0, norm, 1.0))
    return normed


def pool_frames(
    frames: Sequence[Atoms], environments: Sequence[np.ndarray], species: Sequence[str]
) -> np.ndarray:
    """Frame descriptors: the mean environment of each species, concatenated over species.

    Returns
    -------
    numpy.ndarray
        ``(n_frames, n_species * n_features)``; a species absent from a frame contributes zeros.
    """
    n_feat = environments[0].shape[1]
    out = np.zeros((len(frames), len(species) * n_feat))
    for f, (atoms, env) in enumerate(zip(frames, environments, strict=True)):
        symbols = np.asarray(atoms.get_chemical_symbols())
        for s, sym in enumerate(species):
            mask = symbols == sym
            if mask.any():
                out[f, s * n_feat : (s + 1) * n_feat] = env[mask].mean(axis=0)
    return out
