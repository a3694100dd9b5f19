"""The md stage's result file, ``md/T{T}K/trajectory.h5``: its names, units and writer.

Layout (every dataset carries ``units``; the writer is :func:`ionscale.io.open_result_h5`, so
the root group also carries the provenance attributes)

root datasets
    ``time_ps`` (ps, time since the start of production), ``positions_A`` (Å, unwrapped
    positions of the mobile species, shape (frames, n_mobile, 3)), ``center_of_mass_A`` (Å,
    unwrapped centre of mass of all atoms, (frames, 3)), ``cell_A`` (Å, production cell, rows
    are the cell vectors), ``mobile_atom_ids`` (LAMMPS ids, 1-based).
``thermo/``
    ``step``, ``temperature_K``, ``potential_energy_eV``, ``pressure_bar`` at every production
    frame.
``equilibration/``
    ``step``, ``temperature_K``, ``potential_energy_eV``, ``pressure_bar``, ``volume_A3`` at
    every equilibration check.
``model_deviation/``
    ``time_ps``, ``max_force_deviation_eV_A``, ``avg_force_deviation_eV_A`` (production),
    ``equilibration_step``, ``equilibration_max_force_deviation_eV_A``; attributes
    ``trust_lo_eV_A``, ``trust_hi_eV_A``, ``share_above_trust_hi``, ``share_above_trust_lo``.
root attributes
    the run's settings (:func:`write_header`), ``start_potential_energy_eV``, ``volume_A3``,
    ``production_start_step``, the outcome (:func:`write_outcome`, as in :class:`MDSummary`)
    and ``status`` (``running``, ``complete`` or ``FAILED: <reason>``).

The time series are written in blocks (:class:`SeriesWriter`, resizable datasets) so memory does
not grow with the run length. A failed run's file is kept as :data:`FAILED_TRAJECTORY_NAME`
beside the missing result (:func:`keep_partial`). The reader the diffusion stage uses is
:func:`ionscale.diffusion.read_trajectory`.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.io import add_dataset
from ionscale.provenance import Provenance

log = logging.getLogger("ionscale.md")  # the stage's logger (one per stage)

#: file name under which a failed run's trajectory is kept (never the result's name)
FAILED_TRAJECTORY_NAME = "FAILED_partial_trajectory.h5"

# dataset and group names of trajectory.h5 (the contract the diffusion stage reads)
TIME = "time_ps"
POSITIONS = "positions_A"
CENTER_OF_MASS = "center_of_mass_A"
CELL = "cell_A"
MOBILE_ATOM_IDS = "mobile_atom_ids"
THERMO_GROUP = "thermo"
EQUILIBRATION_GROUP = "equilibration"
MODEL_DEVIATION_GROUP = "model_deviation"

#: name → (shape of one frame, units, description) of the series in ``equilibration/``
EQUILIBRATION_SERIES: dict[str, tuple[tuple[int, ...], str, str]] = {
    "step": ((), "1", "MD step"),
    "temperature_K": ((), "K", ""),
    "potential_energy_eV": ((), "eV", ""),
    "pressure_bar": ((), "bar", ""),
    "volume_A3": ((), "Å³", ""),
}

#: name → (shape of one frame, units, description) of the series in ``thermo/``
THERMO_SERIES: dict[str, tuple[tuple[int, ...], str, str]] = {
    "step": ((), "1", "MD step"),
    "temperature_K": ((), "K", ""),
    "potential_energy_eV": ((), "eV", ""),
    "pressure_bar": ((), "bar", ""),
}


def trajectory_series(
    mobile_species: str, n_mobile: int
) -> dict[str, tuple[tuple[int, ...], str, str]]:
    """name → (shape of one frame, units, description) of the root series (the trajectory)."""
    return {
        TIME: ((), "ps", "time since the start of production"),
        POSITIONS: ((n_mobile, 3), "Å", f"unwrapped positions of {mobile_species}"),
        CENTER_OF_MASS: ((3,), "Å", "unwrapped centre of mass of all atoms"),
    }


@dataclass
class MDSummary:
    """What a finished run reports (also stored as attributes of trajectory.h5)."""

    temperature_K: float
    n_atoms: int
    n_mobile: int
    n_frames: int
    volume_A3: float
    share_above_trust_hi: float
    share_above_trust_lo: float
    extrapolating: bool
    production_seconds: float
    us_per_step_atom: float
    python_overhead_share: float
    warnings: list[str] = field(default_factory=list)


class SeriesWriter:
    """Resizable HDF5 datasets filled in blocks (no-op without a file: non-root MPI ranks).

    ``specs`` maps each dataset name to (shape of one frame, units, description); ``group`` is
    the HDF5 group they are created in (None: buffer and discard). Values are buffered and
    written every ``block`` frames and on :meth:`flush`.
    """

    def __init__(self, group, specs: dict[str, tuple[tuple[int, ...], str, str]], block: int):
        self.block = block
        self.buffers: dict[str, list[np.ndarray]] = {name: [] for name in specs}
        self.datasets = {}
        if group is None:
            return
        for name, (shape, units, description) in specs.items():
            self.datasets[name] = add_dataset(
                group, name, np.zeros((0, *shape)), units, description,
                maxshape=(None, *shape), chunks=(max(1, min(block, 1024)), *shape),
            )  # fmt: skip

    def append(self, **values: Any) -> None:
        """Buffer one frame (one value per dataset); write the block when it is full."""
        for name, value in values.items():
            self.buffers[name].append(np.asarray(value, dtype=float))
        if len(next(iter(self.buffers.values()))) >= self.block:
            self.flush()

    def flush(self) -> None:
        """Write the buffered frames (or drop them without a file)."""
        if not self.datasets:
            for buf in self.buffers.values():
                buf.clear()
            return
        for name, buf in self.buffers.items():
            if not buf:
                continue
            ds = self.datasets[name]
            data = np.stack(buf)
            n0 = ds.shape[0]
            ds.resize(n0 + len(data), axis=0)
            ds[n0:] = data
            buf.clear()


def write_header(h5, s: Any, n_atoms: int, mobile_ids: np.ndarray, species: list[str],
                 models: list[Path]) -> None:  # fmt: skip
    """Root attributes of the run (``s`` an :class:`ionscale.md.MDSettings`), status "running",
    and ``mobile_atom_ids``."""
    h5.attrs["temperature_K"] = s.temperature_K
    h5.attrs["mobile_species"] = s.mobile_species
    h5.attrs["n_atoms"] = n_atoms
    h5.attrs["n_mobile"] = len(mobile_ids)
    h5.attrs["timestep_fs"] = s.timestep_fs
    h5.attrs["sample_stride_steps"] = s.sample_stride_steps
    h5.attrs["species"] = " ".join(species)
    h5.attrs["models"] = " ".join(m.name for m in models)
    h5.attrs["settings_json"] = json.dumps(asdict(s))
    h5.attrs["zbl_repulsion"] = (
        f"on, switched off between {s.zbl_inner_A} and {s.zbl_outer_A} Å"
        if s.zbl_enabled
        else "off"
    )
    h5.attrs["status"] = "running"
    add_dataset(h5, MOBILE_ATOM_IDS, mobile_ids, "1", "LAMMPS atom ids (1-based)")


def write_production_cell(h5, cell: np.ndarray, volume_A3: float, start_step: int) -> None:
    """The production cell (``cell_A``), its volume and the step production starts at."""
    add_dataset(h5, CELL, cell, "Å", "production cell, rows are the cell vectors")
    h5.attrs["volume_A3"] = volume_A3
    h5.attrs["production_start_step"] = start_step


def write_model_deviation(
    h5,
    time_ps: np.ndarray,
    max_deviation: np.ndarray,
    avg_deviation: np.ndarray,
    equilibration_step: np.ndarray,
    equilibration_max_deviation: np.ndarray,
    *,
    trust_lo_eV_A: float,
    trust_hi_eV_A: float,
    share_above_trust_hi: float,
    share_above_trust_lo: float,
) -> None:
    """The ``model_deviation`` group: the ensemble's force deviations (eV/Å) in production and
    equilibration, the trust levels and the shares of production frames above them."""
    g = h5.create_group(MODEL_DEVIATION_GROUP)
    add_dataset(g, "time_ps", time_ps, "ps")
    add_dataset(g, "max_force_deviation_eV_A", max_deviation, "eV/Å",
                "max over atoms of the ensemble force deviation (DP-GEN)")  # fmt: skip
    add_dataset(g, "avg_force_deviation_eV_A", avg_deviation, "eV/Å")
    add_dataset(g, "equilibration_step", equilibration_step, "1")
    add_dataset(g, "equilibration_max_force_deviation_eV_A", equilibration_max_deviation, "eV/Å")
    g.attrs["trust_lo_eV_A"] = trust_lo_eV_A
    g.attrs["trust_hi_eV_A"] = trust_hi_eV_A
    g.attrs["share_above_trust_hi"] = share_above_trust_hi
    g.attrs["share_above_trust_lo"] = share_above_trust_lo


def write_outcome(h5, summary: MDSummary) -> None:
    """The finished run's outcome as root attributes; status "complete"."""
    h5.attrs["extrapolating"] = summary.extrapolating
    h5.attrs["share_above_trust_hi"] = summary.share_above_trust_hi
    h5.attrs["production_us_per_step_atom"] = summary.us_per_step_atom
    h5.attrs["production_python_overhead_share"] = summary.python_overhead_share
    h5.attrs["warnings_json"] = json.dumps(summary.warnings)
    h5.attrs["status"] = "complete"


def keep_partial(h5, provenance: Provenance, out_path: Path, reason: str) -> None:
    """Copy the partial result under a name that cannot be mistaken for the finished file."""
    for key, value in provenance.attributes().items():
        h5.attrs[key] = value
    h5.attrs["status"] = f"FAILED: {reason}"
    h5.flush()
    failed = out_path.with_name(FAILED_TRAJECTORY_NAME)
    shutil.copyfile(h5.filename, failed)
    log.error("partial trajectory kept for inspection: %s", failed)


class TrajectoryFileError(ValueError):
    """A trajectory.h5 that does not hold what this contract says (names the file and what)."""


def read_trajectory(path: str | Path) -> dict[str, Any]:
    """Read trajectory.h5 for analysis: ``time_ps`` (from 0), ``positions_A`` of the mobile
    species (n_frames, n_mobile, 3; unwrapped, relative to the system's centre of mass when the
    file stores it), ``temperature_K``, ``mobile_species``, ``volume_A3`` and
    ``mobile_vacancies`` (0 in files that predate it).

    Raises :class:`TrajectoryFileError` naming the file and what is missing or malformed.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise TrajectoryFileError(f"{path}: trajectory file not found")
    with h5py.File(path, "r") as h5:
        for name in (TIME, POSITIONS):
            if name not in h5:
                raise TrajectoryFileError(f"{path}: no dataset {name!r} (md trajectory contract)")
        for name in ("temperature_K", "mobile_species", "volume_A3"):
            if name not in h5.attrs:
                raise TrajectoryFileError(f"{path}: no root attribute {name!r}")
        time_ps = h5[TIME][()]
        pos = h5[POSITIONS]
        if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[0] != len(time_ps):
            raise TrajectoryFileError(
                f"{path}: {POSITIONS} has shape {pos.shape}; expected "
                f"({len(time_ps)}, n_mobile, 3) matching {TIME}"
            )
        if pos.shape[1] == 0:
            raise TrajectoryFileError(f"{path}: no atoms of the mobile species in {POSITIONS}")
        positions = pos[()]
        if CENTER_OF_MASS in h5:
            positions = positions - h5[CENTER_OF_MASS][()][:, None, :]
        species = h5.attrs["mobile_species"]
        out = {
            "time_ps": time_ps - time_ps[0],
            "positions_A": positions,
            "temperature_K": float(h5.attrs["temperature_K"]),
            "mobile_species": species.decode() if isinstance(species, bytes) else str(species),
            "volume_A3": float(h5.attrs["volume_A3"]),
            "mobile_vacancies": int(h5.attrs.get("mobile_vacancies", 0)),
        }
    dt = np.diff(out["time_ps"])
    if len(dt) == 0 or not np.allclose(dt, dt[0], rtol=1e-6, atol=1e-9) or dt[0] <= 0:
        raise TrajectoryFileError(f"{path}: time_ps must be equally spaced and increasing")
    return out
