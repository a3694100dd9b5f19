"""Fingerprint stage: SOAP descriptors, farthest-point training-set selection, novelty.

Each atomic environment of every labelled frame is described by its smooth overlap of atomic
positions (SOAP) power spectrum [1]_, computed by dscribe [2]_ and normalised to unit length (so
that the Euclidean distance between two environments is a monotonic function of their SOAP
kernel, ``d² = 2 − 2k``). A frame is described by the mean environment of each species,
concatenated over species (zeros for a species the frame lacks).

The training set is chosen by farthest-point sampling (FPS) [3]_ in that frame space, so that
training frames span the sampled configurations rather than crowd where sampling was dense; the
remaining frames are the validation set. The split is stratified: every stratum (a config_type
and a bin of Li content x) with at least two frames has frames in both sets, and every stratum
has at least one training frame.

The novelty of a new atomic environment is its distance to the nearest training environment of
the same species, divided by the median of the same distance measured for the training
environments themselves (each to its nearest training environment in *another* frame). A
training environment therefore scores 0, a typical environment like the training ones scores
~1, and an environment far outside the training set scores well above 1. This is the
descriptor-space counterpart of DP-GEN's force deviation [4]_: it needs no model, only the
training set.

References
----------
.. [1] A. P. Bartók, R. Kondor, G. Csányi, Phys. Rev. B 87, 184115 (2013).
.. [2] L. Himanen et al., Comput. Phys. Commun. 247, 106949 (2020) (dscribe).
.. [3] Y. Eldar et al., IEEE Trans. Image Process. 6, 1305 (1997); M. Ceriotti, G. A.
   Tribello, M. Parrinello, J. Chem. Theory Comput. 9, 1521 (2013) (FPS of atomistic data).
.. [4] Y. Zhang et al., Comput. Phys. Commun. 253, 107206 (2020) (DP-GEN).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.settings import default

if TYPE_CHECKING:
    import h5py
    from ase import Atoms

log = logging.getLogger(__name__)

#: Keys every frame of reference/labelled.extxyz carries in ``atoms.info`` (the contract).
REQUIRED_INFO = ("config_type", "li_fraction", "frame_id")
#: SOAP distance below which two environments count as duplicates (for the novelty scale).
DUPLICATE_DISTANCE = 1e-6
#: Split methods: "fps" (farthest-point sampling of the training set) or "random".
SPLIT_METHODS = ("fps", "random")


class FingerprintError(ValueError):
    """Bad input to the fingerprint stage (a file, a frame or a setting)."""


# --------------------------------------------------------------------------------------------
# Reading the labelled frames
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Descriptors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoapSettings:
    """SOAP settings (dscribe).

    Parameters
    ----------
    r_cut_A:
        Cutoff radius, Å.
    n_max:
        Number of radial basis functions.
    l_max:
        Maximum degree of the spherical harmonics.
    sigma_A:
        Width of the Gaussian smearing of each atom, Å.
    """

    r_cut_A: float = default("fingerprint.soap.r_cut_A")
    n_max: int = default("fingerprint.soap.n_max")
    l_max: int = default("fingerprint.soap.l_max")
    sigma_A: float = default("fingerprint.soap.sigma_A")

    def __post_init__(self) -> None:
        if self.r_cut_A < 1.0:
            raise FingerprintError(f"fingerprint.soap.r_cut_A = {self.r_cut_A} Å: must be ≥ 1 Å")
        if self.n_max < 1 or self.l_max < 0 or self.sigma_A <= 0:
            raise FingerprintError(f"invalid SOAP settings {self}")


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


# --------------------------------------------------------------------------------------------
# Selection and split
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Novelty
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FingerprintSettings:
    """Settings of the fingerprint stage (config key ``fingerprint``).

    Parameters
    ----------
    soap:
        SOAP descriptor settings.
    selection:
        ``"fps"`` (farthest-point sampling of the training set) or ``"random"``.
    validation_fraction:
        Fraction of each stratum's frames held out for validation (dimensionless).
    li_content_bins:
        Number of equal-width bins of Li content x ∈ [0, 1] used to stratify the split.
    """

    soap: SoapSettings = field(default_factory=SoapSettings)
    selection: str = default("fingerprint.selection")
    validation_fraction: float = default("fingerprint.validation_fraction")
    li_content_bins: int = default("fingerprint.li_content_bins")

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> FingerprintSettings:
        return cls(
            soap=SoapSettings(**cfg["soap"]),
            selection=cfg["selection"],
            validation_fraction=cfg["validation_fraction"],
            li_content_bins=cfg["li_content_bins"],
        )


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
