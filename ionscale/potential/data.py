"""Training data for DeePMD-kit: checks before training, dpdata conversion, neighbour counts.

The labelled frames (reference/labelled.extxyz) and the split (fingerprint/split.json) are
checked before any training: every species and config_type must have training frames, the
training set must hold at least one batch, and the cutoff is compared with the smallest
perpendicular height of the training cells. They are converted to DeePMD-kit's npy format by
dpdata (virial = −V·σ from the ASE stress σ), and ``dp --pt neighbor-stat`` counts the
neighbours within each cutoff the descriptor uses, from which ``sel`` follows.

About the cell-height check: DeePMD-kit itself includes every periodic image within the cutoff,
so rcut > h/2 is computed correctly (DeePMD-kit docs, troubleshooting "Do we need to set rcut <
half boxsize?"). What it signals is the data: in such a cell each atom's environment holds its
own images, which move in lockstep with it, so the frames sample only distortions commensurate
with the cell. ``cell_height_policy`` decides whether that stops the run or is logged.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.fingerprint import FingerprintError, check_split, read_labelled_frames, species_of
from ionscale.potential.dispersion import DispersionSettings, subtract_dispersion
from ionscale.potential.settings import (
    PotentialError,
    PotentialSettings,
    descriptor_spec,
    round_sel,
)

if TYPE_CHECKING:
    from ase import Atoms

log = logging.getLogger(__name__)


def dp_executable() -> str:
    """The ``dp`` beside the running Python (the venv's), else the one on PATH."""
    import sys

    exe = Path(sys.executable).with_name("dp")
    return str(exe) if exe.exists() else (shutil.which("dp") or "dp")


def run_dp(args: Sequence[str], cwd: str | Path, log_path: str | Path) -> str:
    """Run ``dp --pt <args>`` in ``cwd``, appending its output to ``log_path``; return it.

    Raises
    ------
    RuntimeError
        The command failed; the message holds the command and the tail of its output.
    """
    cmd = [dp_executable(), "--pt", *map(str, args)]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    with open(log_path, "a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n{out}\n")
    if proc.returncode != 0:
        tail = "\n".join(out.splitlines()[-20:])
        raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode} in {cwd}:\n{tail}")
    return out


def cell_heights_A(atoms: Atoms) -> np.ndarray:
    """Perpendicular heights of the cell, Å: ``h_i = V / |a_j × a_k|``."""
    cell = np.asarray(atoms.cell[:])
    volume = abs(np.linalg.det(cell))
    return np.array(
        [volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    )


def load_split(path: str | Path) -> dict[str, Any]:
    """Read fingerprint/split.json (indices into labelled.extxyz)."""
    path = Path(path)
    if not path.is_file():
        raise PotentialError(f"{path}: split file not found")
    try:
        split = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PotentialError(f"{path}: not valid JSON ({exc})") from exc
    for key in ("train", "validation"):
        if not isinstance(split.get(key), list):
            raise PotentialError(f"{path}: expected a list under '{key}'")
    return split


@dataclass
class InputReport:
    """What the pre-training checks found."""

    n_train: int
    n_validation: int
    type_map: list[str]
    min_cell_height_A: float
    min_cell_height_frame: int
    warnings: list[str]


def check_training_inputs(
    frames: Sequence[Atoms], split: dict[str, Any], settings: PotentialSettings
) -> InputReport:
    """All bad-input checks, before any training.

    Raises
    ------
    PotentialError
        A species or config_type without training frames, a training set smaller than one batch,
        rcut above half the smallest cell height (policy ``error``), missing stress when the
        virial is in the loss, a non-periodic frame.
    """
    try:
        check_split(frames, split, where="fingerprint/split.json")
    except FingerprintError as exc:
        raise PotentialError(str(exc)) from None
    train = [int(i) for i in split["train"]]
    val = [int(i) for i in split["validation"]]
    if len(train) < settings.batch_size:
        raise PotentialError(
            f"training set has {len(train)} frame(s), fewer than potential.training.batch_size = "
            f"{settings.batch_size}"
        )
    warnings = []
    heights = []
    for i in train + val:
        atoms = frames[i]
        if not all(atoms.pbc):
            raise PotentialError(f"frame {i} ({atoms.info['frame_id']}) is not periodic in 3D")
        if settings.loss.uses_virial and "stress" not in atoms.calc.results:
            raise PotentialError(
                f"frame {i} ({atoms.info['frame_id']}) has no stress but the loss uses the virial "
                "(potential.loss.start_pref_v/limit_pref_v > 0)"
            )
        heights.append(cell_heights_A(atoms).min())
    k = int(np.argmin(heights))
    h_min, frame_min = float(heights[k]), (train + val)[k]
    if settings.rcut_A > 0.5 * h_min:
        msg = (
            f"potential.rcut_A = {settings.rcut_A} Å exceeds half the smallest perpendicular cell "
            f"height, {h_min:.3f}/2 Å (frame {frame_min}, "
            f"{frames[frame_min].info['frame_id']}): atoms see their own periodic images, so these "
            "frames sample only distortions commensurate with their cell. DeePMD-kit computes such "
            "environments correctly; set potential.cell_height_policy: warn to accept them, or "
            "use larger cells / a smaller rcut"
        )
        if settings.cell_height_policy == "error":
            raise PotentialError(msg)
        warnings.append(msg)
        log.warning(msg)
    return InputReport(len(train), len(val), species_of(frames), h_min, frame_min, warnings)


def write_deepmd_npy(
    frames: Sequence[Atoms], indices: Sequence[int], type_map: list[str], directory: str | Path
) -> list[Path]:
    """Convert frames to DeePMD-kit npy systems (one per formula) under ``directory`` via dpdata.

    Returns the system directories, sorted.
    """
    import dpdata

    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    systems = dpdata.MultiSystems(type_map=type_map)
    for i in indices:
        systems.append(dpdata.LabeledSystem(frames[i], fmt="ase/structure"))
    systems.to_deepmd_npy(str(directory))
    return sorted(p.parent for p in directory.rglob("type.raw"))


_MAX_NBOR = re.compile(r"max_nbor_size:\s*\[([\d\s,]+)\]")
_MIN_DIST = re.compile(r"min_nbor_dist:\s*([-+\d.eE]+)")


def neighbor_stat(
    data_dir: str | Path, type_map: list[str], rcut_A: float, mixed_type: bool, log_path: Path
) -> tuple[float, list[int]]:
    """Run ``dp --pt neighbor-stat``: the smallest pair distance (Å) and the largest neighbour
    count per type within ``rcut_A`` (one count over all types when ``mixed_type``)."""
    data_dir = Path(data_dir).resolve()
    args = ["neighbor-stat", "-s", str(data_dir), "-r", f"{rcut_A}", "-t", *type_map]
    if mixed_type:
        args.append("--mixed-type")
    out = run_dp(args, cwd=data_dir, log_path=log_path)
    sizes, dist = _MAX_NBOR.findall(out), _MIN_DIST.findall(out)
    if not sizes or not dist:
        raise RuntimeError(f"could not parse `dp neighbor-stat` output (see {log_path})")
    return float(dist[-1]), [int(v) for v in re.split(r"[\s,]+", sizes[-1].strip()) if v]


@dataclass
class NeighborStat:
    """Neighbour statistics and the ``sel`` derived from them, per cutoff of the descriptor."""

    type_map: list[str]
    descriptor: str
    rcut_A: dict[str, float]
    mixed_type: dict[str, bool]
    max_neighbours: dict[str, list[int]]
    sel: dict[str, Any]
    min_pair_distance_A: float

    @classmethod
    def read(cls, path: str | Path) -> NeighborStat:
        data = json.loads(Path(path).read_text())
        for other in ("provenance", "checks", "dispersion"):  # records beside the counts
            data.pop(other, None)
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute_neighbor_stat(
    data_dir: str | Path, type_map: list[str], settings: PotentialSettings, log_path: Path
) -> NeighborStat:
    """Neighbour counts over all converted data at every cutoff the descriptor needs."""
    spec = descriptor_spec(settings.descriptor)
    rcuts, mixed, counts, sel = {}, {}, {}, {}
    dmin = np.inf
    for name, (rcut, mixed_type) in spec.radii(settings).items():
        d, sizes = neighbor_stat(data_dir, type_map, rcut, mixed_type, log_path)
        dmin = min(dmin, d)
        rcuts[name], mixed[name], counts[name] = rcut, mixed_type, sizes
        rounded = [round_sel(n, settings.sel_margin) for n in sizes]
        sel[name] = rounded[0] if mixed_type else rounded
    return NeighborStat(type_map, spec.name, rcuts, mixed, counts, sel, float(dmin))


def prepare_data(
    labelled: str | Path,
    split_path: str | Path,
    settings: PotentialSettings,
    out_dir: str | Path,
    active: Sequence[str | Path] = (),
    active_validation_fraction: float = 0.2,
    dispersion: DispersionSettings | None = None,
) -> tuple[NeighborStat, InputReport]:
    """Check the inputs, write ``out_dir/{train,validation}`` npy systems, count neighbours.

    ``dispersion`` (analytic): the labels minus the reference's D3
    (:func:`ionscale.potential.dispersion.subtract_dispersion`) are what the network learns.

    ``active`` are the labelled frames of earlier active-learning rounds
    (``active/round{r}/labelled.extxyz``); they join the reference frames, every k-th of them in
    validation (:func:`validation_indices`), the rest in training.
    Neighbour counts use training and validation data together (``sel`` must hold for every
    environment the model will be evaluated on).
    """
    frames, split = combined_frames_and_split(
        labelled, split_path, active, active_validation_fraction
    )
    report = check_training_inputs(frames, split, settings)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    type_map = report.type_map
    if dispersion is not None and dispersion.analytic:
        frames = subtract_dispersion(frames, dispersion)
        log.info("labels minus D3 (%s): the network learns the rest", dispersion.as_dict())
    write_deepmd_npy(frames, split["train"], type_map, out_dir / "train")
    write_deepmd_npy(frames, split["validation"], type_map, out_dir / "validation")
    stat = compute_neighbor_stat(out_dir, type_map, settings, out_dir / "neighbor_stat.log")
    return stat, report


def validation_indices(n: int, fraction: float) -> list[int]:
    """Every k-th of n labelled frames (k = round(1/fraction)) goes to validation; none for 0."""
    if fraction <= 0 or n == 0:
        return []
    k = max(2, round(1.0 / fraction))
    return list(range(k - 1, n, k))


def combined_frames_and_split(
    labelled: str | Path,
    split_path: str | Path,
    active: Sequence[str | Path] = (),
    active_validation_fraction: float = 0.2,
) -> tuple[list[Atoms], dict[str, Any]]:
    """Reference frames + active-learning frames, with the split extended to the latter."""
    from ionscale.reference.stage import read_frames

    frames = list(read_labelled_frames(labelled))
    split = load_split(split_path)
    train, val = [int(i) for i in split["train"]], [int(i) for i in split["validation"]]
    for path in active:
        extra = read_frames(path)
        offset = len(frames)
        v = set(validation_indices(len(extra), active_validation_fraction))
        val += [offset + i for i in range(len(extra)) if i in v]
        train += [offset + i for i in range(len(extra)) if i not in v]
        frames.extend(extra)
    return frames, {**split, "train": train, "validation": val}


def systems_under(directory: str | Path) -> list[Path]:
    """DeePMD-kit systems (directories holding ``type.raw``) below ``directory``, sorted."""
    found = sorted(p.parent for p in Path(directory).rglob("type.raw"))
    if not found:
        raise PotentialError(f"{directory}: no DeePMD-kit systems (type.raw) found")
    return found
