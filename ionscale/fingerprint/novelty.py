"""Novelty of atomic environments: distance to the training set in units of its spread.

The novelty of a new atomic environment is its distance to the nearest training environment of
the same species, divided by the median of the same distance measured for the training
environments themselves (each to its nearest training environment in *another* frame). A
training environment therefore scores 0, a typical environment like the training ones scores
~1, and an environment far outside the training set scores well above 1. This is the
descriptor-space counterpart of DP-GEN's force deviation [4]_: it needs no model, only the
training set.

References
----------
.. [4] Y. Zhang et al., Comput. Phys. Commun. 253, 107206 (2020) (DP-GEN).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ionscale.fingerprint.descriptors import soap_environments
from ionscale.fingerprint.settings import FingerprintError, SoapSettings

if TYPE_CHECKING:
    import h5py
    from ase import Atoms

#: SOAP distance below which two environments count as duplicates (for the novelty scale).
DUPLICATE_DISTANCE = 1e-6


@dataclass
class NoveltyModel:
    """Distance of atomic environments to the training set, in units of the training spread.

    Parameters
    ----------
    species:
        Element symbols the SOAP vectors are built for.
    settings:
        SOAP settings used for the training environments (new frames use the same).
    environments:
        Unit SOAP vectors of every training atom, per species: ``{symbol: (m, n_features)}``.
    frame_of:
        Training frame index of each environment row, per species.
    scale:
        Per species, the median distance of a training environment to its nearest training
        environment in another frame (dimensionless SOAP distance); exact duplicates
        (distance ≤ :data:`DUPLICATE_DISTANCE`) are left out of the median.
    """

    species: list[str]
    settings: SoapSettings
    environments: dict[str, np.ndarray]
    frame_of: dict[str, np.ndarray]
    scale: dict[str, float]

    @classmethod
    def fit(
        cls,
        frames: Sequence[Atoms],
        species: Sequence[str],
        settings: SoapSettings,
        environments: Sequence[np.ndarray] | None = None,
        n_jobs: int = 1,
    ) -> NoveltyModel:
        """Build the model from training frames (their environments may be passed in)."""
        from sklearn.neighbors import NearestNeighbors

        envs = environments or soap_environments(frames, species, settings, n_jobs)
        per_species: dict[str, np.ndarray] = {}
        frame_of: dict[str, np.ndarray] = {}
        scale: dict[str, float] = {}
        for sym in species:
            rows, owners = [], []
            for f, (atoms, env) in enumerate(zip(frames, envs, strict=True)):
                mask = np.asarray(atoms.get_chemical_symbols()) == sym
                rows.append(env[mask])
                owners.append(np.full(mask.sum(), f))
            x = np.concatenate(rows)
            owner = np.concatenate(owners)
            if len(np.unique(owner)) < 2:
                raise FingerprintError(
                    f"novelty needs training environments of {sym} from at least 2 frames "
                    f"(found {len(np.unique(owner))})"
                )
            # nearest neighbour in another frame: enough neighbours to skip the own frame's atoms
            k = min(len(x), int(np.bincount(owner).max()) + 1)
            dist, idx = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(x)
            other = owner[idx] != owner[:, None]
            nn = np.where(other, dist, np.inf).min(axis=1)
            # duplicated environments (repeated or imported copies of a frame) carry no spread
            nn = nn[np.isfinite(nn) & (nn > DUPLICATE_DISTANCE)]
            if not len(nn):
                raise FingerprintError(
                    f"training environments of {sym} are identical across frames: novelty has no "
                    "scale (the training set has no spread)"
                )
            s = float(np.median(nn))
            per_species[sym], frame_of[sym], scale[sym] = x, owner, s
        return cls(list(species), settings, per_species, frame_of, scale)

    def environment_novelty(self, frames: Sequence[Atoms], n_jobs: int = 1) -> list[np.ndarray]:
        """Per-atom novelty of each frame (``(n_atoms,)`` arrays, dimensionless)."""
        from sklearn.neighbors import NearestNeighbors

        envs = soap_environments(frames, self.species, self.settings, n_jobs)
        trees = {s: NearestNeighbors(n_neighbors=1).fit(x) for s, x in self.environments.items()}
        out = []
        for atoms, env in zip(frames, envs, strict=True):
            symbols = np.asarray(atoms.get_chemical_symbols())
            score = np.empty(len(atoms))
            for sym in set(symbols):
                mask = symbols == sym
                dist, _ = trees[sym].kneighbors(env[mask])
                score[mask] = dist[:, 0] / self.scale[sym]
            out.append(score)
        return out

    def frame_novelty(self, frames: Sequence[Atoms], n_jobs: int = 1) -> np.ndarray:
        """Novelty of each frame: the largest novelty of its atomic environments."""
        return np.array([s.max() for s in self.environment_novelty(frames, n_jobs)])

    def write(self, group: h5py.Group) -> None:
        """Store the model in an HDF5 group (datasets carry units; ``'1'`` = dimensionless)."""
        from ionscale.io import add_dataset

        group.attrs["species"] = list(self.species)
        for key, value in asdict(self.settings).items():
            group.attrs[f"soap_{key}"] = value
        for sym in self.species:
            g = group.create_group(sym)
            add_dataset(g, "environments", self.environments[sym], "1", "unit SOAP vectors")
            add_dataset(g, "frame_of", self.frame_of[sym], "1", "training frame of each row")
            g.attrs["scale"] = self.scale[sym]

    @classmethod
    def read(cls, path: str | Path, group: str = "novelty") -> NoveltyModel:
        """Load a model written by :meth:`write` (e.g. from fingerprint/descriptors.h5)."""
        import h5py

        with h5py.File(path, "r") as h5:
            if group not in h5:
                raise FingerprintError(f"{path}: no group '{group}' (not a fingerprint result?)")
            g = h5[group]
            species = [str(s) for s in g.attrs["species"]]
            settings = SoapSettings(
                **{k: g.attrs[f"soap_{k}"].item() for k in asdict(SoapSettings()).keys()}
            )
            envs = {s: g[s]["environments"][()] for s in species}
            owners = {s: g[s]["frame_of"][()] for s in species}
            scale = {s: float(g[s].attrs["scale"]) for s in species}
        return cls(species, settings, envs, owners, scale)
