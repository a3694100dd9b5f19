"""Molecular dynamics with the DeePMD ensemble in LAMMPS: one run per temperature.

LAMMPS (Thompson et al., Comput. Phys. Commun. 271, 108171 (2022)) is driven from Python with
``pair_style deepmd`` (DeePMD-kit's LAMMPS plugin; Zeng et al., J. Chem. Phys. 159, 054801
(2023)). The first (compressed) ensemble member drives the dynamics; every member is listed in
the pair style, which then evaluates all of them every ``model_deviation_stride_steps`` steps
and writes the ensemble model deviation of the forces, as DP-GEN defines it (Zhang et al.,
Comput. Phys. Commun. 253, 107206 (2020)): for atom i, σ_i = sqrt(⟨‖F_i − ⟨F_i⟩‖²⟩) over the
members, and a frame's value is max_i σ_i (eV/Å). Between those steps only the first member is
evaluated, so the ensemble costs little. The compressed members are the same networks tabulated
(Lu et al., J. Chem. Theory Comput. 18, 5555 (2022)); their tabulation error is far below DP-GEN
trust levels.

Protocol
    velocities from a Maxwell–Boltzmann distribution at T (seeded, zero total momentum);
    equilibration with a Nosé–Hoover thermostat (Shinoda et al., Phys. Rev. B 69, 134103 (2004)
    equations as implemented in LAMMPS fix npt/nvt), either NPT (the production cell is the
    mean cell of the second half of the equilibration) or NVT; production in NVT (Nosé–Hoover).
    Every ``sample_stride_steps`` steps of production the unwrapped positions of the mobile
    species, the system's centre of mass (unwrapped) and the thermo are appended to
    ``md/T{T}K/trajectory.h5`` in blocks (resizable HDF5 datasets: memory does not grow with the
    run length).

Blow-up detection (between strides, in both phases)
    lost atoms (a LAMMPS error), temperature above ``max_temperature_factor`` × T or not finite,
    non-finite energy, any two atoms closer than ``min_distance_A`` (LAMMPS coord/atom with
    that cutoff), and a potential energy more than ``max_energy_drop_eV_atom`` per atom below
    that of the starting structure. A thermalised crystal sits above its lattice energy (by
    about 3/2 N k_B T), so falling far below it means the potential has found an unphysical
    low-energy state (a hole where it has no data) even when no pair of atoms is yet too close
    and the thermostat keeps the temperature in bounds. Each raises :class:`MDBlowUpError`
    naming T and the step. The trajectory written so far is kept as
    ``FAILED_partial_trajectory.h5`` beside the missing result, so it cannot be mistaken for a
    finished file.

Trust levels
    The share of production frames whose max force deviation exceeds ``trust_hi_eV_A`` is
    reported; above ``max_extrapolating_share`` the run is flagged (``extrapolating`` attribute
    and a warning): the potential is outside what it was trained on.

Optional short-range safety net
    ``zbl_enabled`` overlays the ZBL universal screened-nuclear repulsion (LAMMPS ``pair_style
    hybrid/overlay deepmd ... zbl inner outer``), zero beyond ``zbl_outer_A``, for potentials
    trained without short-range data (the DP-ZBL idea); off by default.

Threads: DeePMD-kit and OpenMP thread pools are set by the caller (scripts/_common.py). Under MPI
(more than one rank) LAMMPS decomposes the box; only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import math
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.io import add_dataset, open_result_h5
from ionscale.provenance import Provenance
from ionscale.settings import default

log = logging.getLogger(__name__)

#: file name under which a failed run's trajectory is kept (never the result's name)
FAILED_TRAJECTORY_NAME = "FAILED_partial_trajectory.h5"

_FS_PER_PS = 1000.0


class MDInputError(ValueError):
    """Bad input to the md stage (names the key or file and what was expected)."""


class MDRunError(RuntimeError):
    """LAMMPS stopped with an error during the run (T and step named)."""


class MDBlowUpError(MDRunError):
    """The dynamics became unphysical: lost atoms, temperature runaway, atoms too close."""


class MDWarning(UserWarning):
    """The run finished, but its result needs care (e.g. the potential extrapolates)."""


@dataclass
class MDSettings:
    """One MD run (config key ``md``; the temperature comes from the sweep).

    Parameters
    ----------
    temperature_K:
        Thermostat temperature, K.
    timestep_fs:
        Integration time step, fs.
    thermostat_damping_fs:
        Nosé–Hoover temperature damping time, fs.
    equilibration_ensemble:
        "npt" or "nvt".
    barostat:
        NPT cell coupling: "iso" (shape kept), "aniso" (x, y, z independent, tilts fixed) or
        "tri" (all six cell components).
    pressure_bar:
        NPT target pressure, bar.
    barostat_damping_fs:
        NPT pressure damping time, fs.
    equilibration_steps, production_steps:
        Lengths of the two phases, steps.
    sample_stride_steps:
        Production steps between stored frames (and between blow-up checks).
    model_deviation_stride_steps:
        Steps between ensemble evaluations (model deviation).
    trust_lo_eV_A, trust_hi_eV_A:
        DP-GEN trust levels of the max force deviation, eV/Å.
    max_extrapolating_share:
        Share of production frames above ``trust_hi_eV_A`` beyond which the run is flagged.
    min_distance_A:
        Two atoms closer than this (Å) are a blow-up.
    max_temperature_factor:
        A temperature above this multiple of T is a blow-up.
    max_energy_drop_eV_atom:
        A potential energy this far (eV/atom) below the starting structure's is a blow-up.
    zbl_enabled, zbl_inner_A, zbl_outer_A:
        Overlay the ZBL universal screened-nuclear repulsion (Ziegler, Biersack, Littmark, The
        Stopping and Range of Ions in Solids (1985)) on the DeePMD forces, switched smoothly to
        zero between the inner and outer distance (Å), as DP-ZBL models do: a safety net
        against atoms collapsing onto each other where a potential has no short-range data.
        Off by default (it changes the potential below the outer distance).
    mobile_species:
        Element whose unwrapped positions are stored (``reference.mobile_species``).
    seed:
        Velocity seed (derived from the master seed and the temperature).
    """

    temperature_K: float
    timestep_fs: float = default("md.timestep_fs")
    thermostat_damping_fs: float = default("md.thermostat_damping_fs")
    equilibration_ensemble: str = default("md.equilibration_ensemble")
    barostat: str = default("md.barostat")
    pressure_bar: float = default("md.pressure_bar")
    barostat_damping_fs: float = default("md.barostat_damping_fs")
    equilibration_steps: int = default("md.equilibration_steps")
    production_steps: int = default("md.production_steps")
    sample_stride_steps: int = default("md.sample_stride_steps")
    model_deviation_stride_steps: int = default("md.model_deviation_stride_steps")
    trust_lo_eV_A: float = default("md.trust_lo_eV_A")
    trust_hi_eV_A: float = default("md.trust_hi_eV_A")
    max_extrapolating_share: float = default("md.max_extrapolating_share")
    min_distance_A: float = default("md.min_distance_A")
    max_temperature_factor: float = default("md.max_temperature_factor")
    max_energy_drop_eV_atom: float = default("md.max_energy_drop_eV_atom")
    zbl_enabled: bool = default("md.zbl_repulsion.enabled")
    zbl_inner_A: float = default("md.zbl_repulsion.inner_A")
    zbl_outer_A: float = default("md.zbl_repulsion.outer_A")
    mobile_species: str = default("reference.mobile_species")
    seed: int = 1

    def __post_init__(self) -> None:
        # key → (rule holds, what was expected)
        checks = {
            "md.temperatures_K": (self.temperature_K > 0, "> 0 K"),
            "md.timestep_fs": (self.timestep_fs > 0, "> 0"),
            "md.thermostat_damping_fs": (self.thermostat_damping_fs > 0, "> 0"),
            "md.barostat_damping_fs": (self.barostat_damping_fs > 0, "> 0"),
            "md.equilibration_steps": (self.equilibration_steps >= 0, ">= 0"),
            "md.production_steps": (self.production_steps >= 1, ">= 1"),
            "md.sample_stride_steps": (
                1 <= self.sample_stride_steps <= self.production_steps,
                f"in [1, production_steps = {self.production_steps}]",
            ),
            "md.model_deviation_stride_steps": (self.model_deviation_stride_steps >= 1, ">= 1"),
            "md.trust_hi_eV_A": (
                0 < self.trust_lo_eV_A <= self.trust_hi_eV_A,
                f"0 < trust_lo_eV_A ≤ trust_hi_eV_A, got {self.trust_lo_eV_A}, "
                f"{self.trust_hi_eV_A}",
            ),
            "md.min_distance_A": (self.min_distance_A > 0, "> 0"),
            "md.max_temperature_factor": (self.max_temperature_factor > 1, "> 1"),
            "md.max_energy_drop_eV_atom": (self.max_energy_drop_eV_atom > 0, "> 0"),
            "md.zbl_repulsion": (
                0 < self.zbl_inner_A < self.zbl_outer_A,
                f"0 < inner_A < outer_A, got {self.zbl_inner_A}, {self.zbl_outer_A}",
            ),
        }
        bad = [f"{key}: expected {want}" for key, (ok, want) in checks.items() if not ok]
        if bad:
            raise MDInputError("\n".join(bad))
        if self.equilibration_ensemble not in ("npt", "nvt"):
            raise MDInputError(
                f"md.equilibration_ensemble = {self.equilibration_ensemble!r}; expected npt or nvt"
            )
        if self.barostat not in ("iso", "aniso", "tri"):
            raise MDInputError(f"md.barostat = {self.barostat!r}; expected iso, aniso or tri")

    @classmethod
    def from_config(
        cls, cfg: dict[str, Any], temperature_K: float, seed: int, mobile_species: str
    ) -> MDSettings:
        """Settings from the ``md`` config section for one temperature of the sweep.

        ``seed`` is the run's own seed (derive it from the master seed and T);
        ``mobile_species`` is ``reference.mobile_species``.
        """
        names = set(cls.__dataclass_fields__) - {"temperature_K", "seed", "mobile_species"}
        zbl = cfg.get("zbl_repulsion", {})
        return cls(
            temperature_K=float(temperature_K),
            seed=int(seed),
            mobile_species=mobile_species,
            zbl_enabled=bool(zbl.get("enabled", False)),
            zbl_inner_A=float(zbl.get("inner_A", 0.6)),
            zbl_outer_A=float(zbl.get("outer_A", 1.0)),
            **{k: v for k, v in cfg.items() if k in names},
        )


# ------------------------------------------------------------------------------- structure


def build_md_cell(
    host,
    supercell: Sequence[int],
    mobile_species: str,
    mobile_vacancies: int = 0,
    seed: int = 0,
    min_distance_A: float = 0.5,
    name: str = "host structure",
):
    """The MD cell: the host structure (reference stage) repeated, with mobile-ion vacancies.

    Parameters
    ----------
    host:
        Fully occupied host with the mobile species (ase.Atoms, e.g. LiC6), from
        :func:`ionscale.reference.structures.load_structure` (config ``reference.structure``).
    supercell:
        Repetitions along the three cell vectors (``md.supercell``).
    mobile_species:
        Element that diffuses (``reference.mobile_species``); must be in the host.
    mobile_vacancies:
        Mobile atoms removed, chosen at random with ``seed`` (``md.mobile_vacancies``), so that
        vacancy-mediated hops can happen in a stoichiometric host.
    min_distance_A:
        Atoms closer than this in the starting cell are an error.
    name:
        Named in errors.

    Returns
    -------
    ase.Atoms
    """
    from ionscale.reference.structures import (
        StructureError,
        make_supercell,
        sublattice_indices,
        validate_structure,
    )

    try:
        validate_structure(host, name, min_distance_A, mobile_species)
        atoms = make_supercell(host, supercell)
    except StructureError as exc:
        raise MDInputError(f"md: {exc} (reference.structure, md.supercell)") from None
    mobile = sublattice_indices(atoms, mobile_species)
    if mobile_vacancies >= len(mobile):
        raise MDInputError(
            f"md.mobile_vacancies = {mobile_vacancies} would remove every one of the "
            f"{len(mobile)} {mobile_species} atoms of the {list(supercell)} supercell"
        )
    if mobile_vacancies > 0:
        rng = np.random.default_rng(seed)
        del atoms[sorted(rng.choice(mobile, size=mobile_vacancies, replace=False).tolist())]
    atoms.info.clear()
    atoms.calc = None
    return atoms


# ----------------------------------------------------------------------------- writing


class _Series:
    """Resizable HDF5 datasets filled in blocks (no-op without a file: non-root MPI ranks)."""

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
        for name, value in values.items():
            self.buffers[name].append(np.asarray(value, dtype=float))
        if len(next(iter(self.buffers.values()))) >= self.block:
            self.flush()

    def flush(self) -> None:
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


def read_model_deviation(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a DeePMD LAMMPS model-deviation file (``out_file``) by their header names."""
    path = Path(path)
    if not path.is_file():
        raise MDRunError(f"LAMMPS wrote no model-deviation file {path}")
    with open(path) as fh:
        header = fh.readline().lstrip("#").split()
    data = np.loadtxt(path, comments="#", ndmin=2)
    if data.shape[1] != len(header):
        raise MDRunError(f"{path}: {data.shape[1]} columns but header {header}")
    return {name: data[:, i] for i, name in enumerate(header)}


# ------------------------------------------------------------------------------- the run


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


class _Run:
    """One LAMMPS instance with the checks between strides (internal)."""

    def __init__(self, lmp, settings: MDSettings, mobile_ids: np.ndarray, n_atoms: int):
        self.lmp = lmp
        self.s = settings
        self.n_atoms = n_atoms
        self.mobile_ids = mobile_ids
        self._ids_c = (ctypes.c_int * len(mobile_ids))(*[int(i) for i in mobile_ids])
        self.first_run = True
        self.lammps_seconds = 0.0  # wall time inside LAMMPS `run` commands
        self.start_energy_eV: float | None = None  # potential energy of the starting structure

    def step(self) -> int:
        return int(self.lmp.extract_global("ntimestep"))

    def advance(self, n: int, phase: str) -> None:
        """Run n steps, turning a LAMMPS error into an error naming T, phase and step."""
        cmd = f"run {n}" if self.first_run else f"run {n} pre no post no"
        start = self.step()
        clock = time.perf_counter()
        try:
            self.lmp.command(cmd)
        except Exception as exc:
            msg = str(exc).strip()
            cls = MDBlowUpError if "lost atoms" in msg.lower() else MDRunError
            what = "lost atoms" if cls is MDBlowUpError else "LAMMPS error"
            raise cls(
                f"MD at T = {self.s.temperature_K:g} K, {phase}: {what} between steps {start} and "
                f"{start + n}: {msg}"
            ) from None
        finally:
            self.lammps_seconds += time.perf_counter() - clock
        self.first_run = False

    def check(self, phase: str) -> dict[str, float]:
        """Blow-up checks at the current step; returns the thermo values."""
        lmp, s = self.lmp, self.s
        step = self.step()
        thermo = {
            "temperature_K": float(lmp.get_thermo("temp")),
            "potential_energy_eV": float(lmp.get_thermo("pe")),
            "pressure_bar": float(lmp.get_thermo("press")),
            "volume_A3": float(lmp.get_thermo("vol")),
        }
        where = f"MD at T = {s.temperature_K:g} K blew up in {phase} at step {step}"
        natoms = int(lmp.get_natoms())
        if natoms != self.n_atoms:
            raise MDBlowUpError(f"{where}: lost atoms ({self.n_atoms} → {natoms})")
        t = thermo["temperature_K"]
        if not math.isfinite(t) or not math.isfinite(thermo["potential_energy_eV"]):
            raise MDBlowUpError(f"{where}: non-finite temperature or energy ({thermo})")
        if t > s.max_temperature_factor * s.temperature_K:
            raise MDBlowUpError(
                f"{where}: temperature runaway, {t:.0f} K > md.max_temperature_factor = "
                f"{s.max_temperature_factor:g} × {s.temperature_K:g} K"
            )
        e0 = self.start_energy_eV
        drop = (e0 - thermo["potential_energy_eV"]) / self.n_atoms if e0 is not None else 0.0
        if drop > s.max_energy_drop_eV_atom:
            raise MDBlowUpError(
                f"{where}: potential energy {thermo['potential_energy_eV']:.2f} eV is "
                f"{drop:.3f} eV/atom below the starting structure's {e0:.2f} eV "
                f"(md.max_energy_drop_eV_atom = {s.max_energy_drop_eV_atom:g}): the potential "
                "has found an unphysical low-energy state; add such frames to the reference data"
            )
        close = lmp.extract_compute("ionscale_close_max", 0, 0)
        if close is not None and close > 0:
            raise MDBlowUpError(
                f"{where}: {self._closest_pair()} (md.min_distance_A = {s.min_distance_A:g} Å)"
            )
        return thermo

    def _closest_pair(self) -> str:
        from ase import Atoms
        from ase.neighborlist import neighbor_list

        x = np.array(self.lmp.gather_atoms("x", 1, 3)).reshape(-1, 3)
        types = np.array(self.lmp.gather_atoms("type", 0, 1))
        atoms = Atoms(positions=x, cell=self.cell(), pbc=True)
        i, j, d = neighbor_list("ijd", atoms, self.s.min_distance_A)
        if len(d) == 0:
            return f"atoms closer than {self.s.min_distance_A:g} Å"
        k = int(np.argmin(d))
        return (
            f"atoms {i[k] + 1} (type {types[i[k]]}) and {j[k] + 1} (type {types[j[k]]}) are "
            f"{d[k]:.2f} Å apart"
        )

    def cell(self) -> np.ndarray:
        lo, hi, xy, yz, xz, _, _ = self.lmp.extract_box()
        lx, ly, lz = (hi[i] - lo[i] for i in range(3))
        return np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])

    def mobile_unwrapped(self) -> np.ndarray:
        data = self.lmp.gather_subset(
            "c_ionscale_unwrapped", 1, 3, len(self.mobile_ids), self._ids_c
        )
        return np.array(data).reshape(-1, 3)

    def center_of_mass(self) -> np.ndarray:
        vec = self.lmp.extract_compute("ionscale_com", 0, 1)
        return np.array([vec[0], vec[1], vec[2]])


def pair_commands(species: list[str], models: list[Path], s: MDSettings, devi_file: Path) -> str:
    """``pair_style``/``pair_coeff`` lines: DeePMD ensemble, optionally overlaid with ZBL."""
    from ase.data import atomic_numbers

    deepmd = (
        f"deepmd {' '.join(str(m) for m in models)} "
        f"out_freq {s.model_deviation_stride_steps} out_file {devi_file}"
    )
    names = " ".join(species)
    if not s.zbl_enabled:
        return f"pair_style {deepmd}\npair_coeff * * {names}\n"
    lines = [
        f"pair_style hybrid/overlay {deepmd} zbl {s.zbl_inner_A} {s.zbl_outer_A}",
        f"pair_coeff * * deepmd {names}",
    ]
    for i, a in enumerate(species, start=1):
        for j, b in enumerate(species[i - 1 :], start=i):
            lines.append(f"pair_coeff {i} {j} zbl {atomic_numbers[a]} {atomic_numbers[b]}")
    return "\n".join(lines) + "\n"


def _lammps_setup(lmp, data_file: Path, species: list[str], models: list[Path], s: MDSettings,
                  devi_file: Path) -> None:  # fmt: skip
    lmp.commands_string(
        f"""
        units metal
        boundary p p p
        atom_style atomic
        atom_modify map array
        read_data {data_file}
        """
    )
    lmp.commands_string(pair_commands(species, models, s, devi_file))
    lmp.commands_string(
        f"""
        timestep {s.timestep_fs / _FS_PER_PS}
        neighbor 1.0 bin
        compute ionscale_unwrapped all property/atom xu yu zu
        compute ionscale_com all com
        compute ionscale_close all coord/atom cutoff {s.min_distance_A}
        compute ionscale_close_max all reduce max c_ionscale_close
        thermo_style custom step temp pe press vol lx ly lz
        thermo {max(s.sample_stride_steps, 100)}
        velocity all create {s.temperature_K} {s.seed % 900_000_000 + 1} &
            mom yes rot no dist gaussian
        """
    )


def run_md(
    atoms,
    models: Sequence[str | Path],
    settings: MDSettings,
    out_path: str | Path,
    provenance: Provenance,
    lammps_log: str | Path | None = None,
    flush_frames: int = 200,
) -> MDSummary:
    """Run equilibration + production at one temperature and write trajectory.h5 (contract).

    Parameters
    ----------
    atoms:
        The MD cell (ase.Atoms), e.g. from :func:`build_md_cell`.
    models:
        Frozen DeePMD models (``.pth``), first one drives the dynamics; at least two for the
        model deviation. Their type maps must hold every element of ``atoms``.
    settings:
        :class:`MDSettings`.
    out_path:
        Result path, ``md/T{T}K/trajectory.h5``.
    provenance:
        Stamped on the result.
    lammps_log:
        LAMMPS log file (default: none).
    flush_frames:
        Frames buffered before they are written (memory bound).

    Raises
    ------
    MDInputError
        Missing models, fewer than two models, no mobile atoms.
    MDBlowUpError, MDRunError
        The run failed; the partial trajectory is kept as ``FAILED_partial_trajectory.h5``.
    """
    import mpi4py.MPI as MPI  # loads libmpi before LAMMPS (see envs/README.md)
    from ase.io import write
    from lammps import lammps

    s = settings
    out_path = Path(out_path)
    models = [Path(m).resolve() for m in models]
    missing = [str(m) for m in models if not m.is_file()]
    if missing:
        raise MDInputError(f"DeePMD model file(s) not found: {missing}")
    if len(models) < 2:
        raise MDInputError(
            f"the ensemble model deviation needs at least 2 models; got {len(models)} "
            "(potential.n_models)"
        )
    species = sorted(set(atoms.get_chemical_symbols()))
    mobile_idx = np.array([a.index for a in atoms if a.symbol == s.mobile_species])
    if len(mobile_idx) == 0:
        raise MDInputError(
            f"reference.mobile_species = {s.mobile_species!r} is not in the MD cell "
            f"({atoms.get_chemical_formula()})"
        )
    n_atoms = len(atoms)
    comm = MPI.COMM_WORLD
    root = comm.rank == 0

    with contextlib.ExitStack() as stack:
        # one scratch directory, made by rank 0 and named to all ranks
        tmp = (
            stack.enter_context(tempfile.TemporaryDirectory(prefix="ionscale-md-"))
            if root
            else None
        )
        tmp = Path(comm.bcast(tmp, root=0))
        data_file, devi_file = tmp / "cell.lmp", tmp / "model_devi.out"
        if root:
            write(data_file, atoms, format="lammps-data", masses=True, specorder=species,
                  parallel=False)  # fmt: skip
        if root and lammps_log:
            Path(lammps_log).parent.mkdir(parents=True, exist_ok=True)
        comm.Barrier()
        args = ["-screen", "none", "-log", str(lammps_log) if lammps_log else "none"]
        lmp = lammps(cmdargs=args, comm=comm)
        stack.callback(lmp.close)
        if not lmp.has_style("pair", "deepmd"):
            raise MDRunError("LAMMPS has no pair_style deepmd (DeePMD-kit plugin not loaded)")
        h5 = stack.enter_context(open_result_h5(out_path, provenance)) if root else None
        run = _Run(lmp, s, mobile_idx + 1, n_atoms)  # LAMMPS ids follow the ASE order, from 1
        try:
            summary = _simulate(
                lmp, run, h5, data_file, devi_file, species, models, s, flush_frames
            )
        except MDRunError as exc:
            if root and h5 is not None:
                _keep_partial(h5, provenance, out_path, str(exc))
            raise
    return summary


def _keep_partial(h5, provenance: Provenance, out_path: Path, reason: str) -> None:
    """Copy the partial result under a name that cannot be mistaken for the finished file."""
    for key, value in provenance.attributes().items():
        h5.attrs[key] = value
    h5.attrs["status"] = f"FAILED: {reason}"
    h5.flush()
    failed = out_path.with_name(FAILED_TRAJECTORY_NAME)
    shutil.copyfile(h5.filename, failed)
    log.error("partial trajectory kept for inspection: %s", failed)


def _simulate(
    lmp,
    run: _Run,
    h5,
    data_file: Path,
    devi_file: Path,
    species: list[str],
    models: list[Path],
    s: MDSettings,
    flush_frames: int,
) -> MDSummary:
    n_mobile = len(run.mobile_ids)
    if h5 is not None:
        h5.attrs["temperature_K"] = s.temperature_K
        h5.attrs["mobile_species"] = s.mobile_species
        h5.attrs["n_atoms"] = run.n_atoms
        h5.attrs["n_mobile"] = n_mobile
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
        add_dataset(h5, "mobile_atom_ids", run.mobile_ids, "1", "LAMMPS atom ids (1-based)")
    try:
        _lammps_setup(lmp, data_file, species, models, s, devi_file)
        lmp.command("run 0")
    except Exception as exc:
        raise MDRunError(
            f"MD at T = {s.temperature_K:g} K: LAMMPS setup failed (do the models' type maps "
            f"hold every element of the cell, {species}?): {str(exc).strip()}"
        ) from None
    run.start_energy_eV = float(lmp.get_thermo("pe"))
    if h5 is not None:
        h5.attrs["start_potential_energy_eV"] = run.start_energy_eV

    # ---- equilibration
    eq_group = h5.create_group("equilibration") if h5 is not None else None
    eq = _Series(
        eq_group,
        {
            "step": ((), "1", "MD step"),
            "temperature_K": ((), "K", ""),
            "potential_energy_eV": ((), "eV", ""),
            "pressure_bar": ((), "bar", ""),
            "volume_A3": ((), "Å³", ""),
        },
        flush_frames,
    )
    tdamp = s.thermostat_damping_fs / _FS_PER_PS
    T = s.temperature_K
    if s.equilibration_ensemble == "npt":
        if s.barostat == "tri":
            lmp.command("change_box all triclinic")
        pdamp = s.barostat_damping_fs / _FS_PER_PS
        P = s.pressure_bar
        lmp.command(f"fix ionscale_eq all npt temp {T} {T} {tdamp} {s.barostat} {P} {P} {pdamp}")
    else:
        lmp.command(f"fix ionscale_eq all nvt temp {T} {T} {tdamp}")
    chunk = max(1, min(s.sample_stride_steps * 10, 100))
    done, cells = 0, []
    while done < s.equilibration_steps:
        n = min(chunk, s.equilibration_steps - done)
        run.advance(n, "equilibration")
        done += n
        th = run.check("equilibration")
        eq.append(step=run.step(), **th)
        if done > s.equilibration_steps // 2:
            cells.append(run.cell())
    eq.flush()
    lmp.command("unfix ionscale_eq")
    if s.equilibration_ensemble == "npt" and cells:
        # production cell: the mean cell of the second half of the NPT run
        c = np.mean(cells, axis=0)
        lo = lmp.extract_box()[0]
        tilts = f"xy final {c[1, 0]} xz final {c[2, 0]} yz final {c[2, 1]} "
        lmp.command(
            f"change_box all x final {lo[0]} {lo[0] + c[0, 0]} y final {lo[1]} {lo[1] + c[1, 1]} "
            f"z final {lo[2]} {lo[2] + c[2, 2]} "
            + (tilts if s.barostat == "tri" else "")
            + "remap units box"
        )
    lmp.command(f"fix ionscale_prod all nvt temp {T} {T} {tdamp}")
    run.first_run = True  # fixes changed: LAMMPS must initialise them (run with pre yes)

    # ---- production
    cell = run.cell()
    volume = float(abs(np.linalg.det(cell)))
    step0 = run.step()
    dt_ps = s.timestep_fs / _FS_PER_PS
    if h5 is not None:
        add_dataset(h5, "cell_A", cell, "Å", "production cell, rows are the cell vectors")
        h5.attrs["volume_A3"] = volume
        h5.attrs["production_start_step"] = step0
    thermo_group = h5.create_group("thermo") if h5 is not None else None
    traj = _Series(
        h5,
        {
            "time_ps": ((), "ps", "time since the start of production"),
            "positions_A": ((n_mobile, 3), "Å", f"unwrapped positions of {s.mobile_species}"),
            "center_of_mass_A": ((3,), "Å", "unwrapped centre of mass of all atoms"),
        },
        flush_frames,
    )
    th_series = _Series(
        thermo_group,
        {
            "step": ((), "1", "MD step"),
            "temperature_K": ((), "K", ""),
            "potential_energy_eV": ((), "eV", ""),
            "pressure_bar": ((), "bar", ""),
        },
        flush_frames,
    )

    def record() -> None:
        th = run.check("production")
        step = run.step()
        traj.append(
            time_ps=(step - step0) * dt_ps,
            positions_A=run.mobile_unwrapped(),
            center_of_mass_A=run.center_of_mass(),
        )
        th_series.append(
            step=step,
            temperature_K=th["temperature_K"],
            potential_energy_eV=th["potential_energy_eV"],
            pressure_bar=th["pressure_bar"],
        )

    run.advance(0, "production")  # setup at step0 so the first frame is current
    record()
    n_frames = 1
    start = time.perf_counter()
    run.lammps_seconds = 0.0
    done = 0
    try:
        while done < s.production_steps:
            n = min(s.sample_stride_steps, s.production_steps - done)
            run.advance(n, "production")
            done += n
            if n == s.sample_stride_steps:
                record()
                n_frames += 1
    finally:
        traj.flush()
        th_series.flush()
    seconds = time.perf_counter() - start
    us = seconds / max(1, s.production_steps) / run.n_atoms * 1e6
    overhead = 1.0 - run.lammps_seconds / seconds if seconds > 0 else float("nan")
    lmp.command("unfix ionscale_prod")

    # ---- model deviation (rank 0 wrote the file)
    notes: list[str] = []
    share_hi = share_lo = float("nan")
    if h5 is not None:
        lmp.flush_buffers()
        devi = read_model_deviation(devi_file)
        # a step evaluated twice (the end of one run and the setup of the next) is kept once
        _, last = np.unique(devi["step"][::-1], return_index=True)
        keep = np.sort(len(devi["step"]) - 1 - last)
        devi = {name: col[keep] for name, col in devi.items()}
        steps = devi["step"]
        prod = steps >= step0
        fmax = devi["max_devi_f"]
        g = h5.create_group("model_deviation")
        add_dataset(g, "time_ps", (steps[prod] - step0) * dt_ps, "ps")
        add_dataset(g, "max_force_deviation_eV_A", fmax[prod], "eV/Å",
                    "max over atoms of the ensemble force deviation (DP-GEN)")  # fmt: skip
        add_dataset(g, "avg_force_deviation_eV_A", devi["avg_devi_f"][prod], "eV/Å")
        add_dataset(g, "equilibration_step", steps[~prod], "1")
        add_dataset(g, "equilibration_max_force_deviation_eV_A", fmax[~prod], "eV/Å")
        share_hi = float(np.mean(fmax[prod] > s.trust_hi_eV_A)) if prod.any() else float("nan")
        share_lo = float(np.mean(fmax[prod] > s.trust_lo_eV_A)) if prod.any() else float("nan")
        g.attrs["trust_lo_eV_A"] = s.trust_lo_eV_A
        g.attrs["trust_hi_eV_A"] = s.trust_hi_eV_A
        g.attrs["share_above_trust_hi"] = share_hi
        g.attrs["share_above_trust_lo"] = share_lo
    import mpi4py.MPI as MPI

    share_hi, share_lo = MPI.COMM_WORLD.bcast((share_hi, share_lo), root=0)
    extrapolating = bool(share_hi > s.max_extrapolating_share)
    if extrapolating:
        msg = (
            f"MD at T = {s.temperature_K:g} K: {100 * share_hi:.1f} % of the sampled frames have a "
            f"max force deviation above md.trust_hi_eV_A = {s.trust_hi_eV_A:g} eV/Å (more than "
            f"md.max_extrapolating_share = {s.max_extrapolating_share:g}): the potential "
            "extrapolates; add such frames to the reference data"
        )
        warnings.warn(msg, MDWarning, stacklevel=2)
        notes.append(msg)
    summary = MDSummary(
        temperature_K=s.temperature_K,
        n_atoms=run.n_atoms,
        n_mobile=n_mobile,
        n_frames=n_frames,
        volume_A3=volume,
        share_above_trust_hi=share_hi,
        share_above_trust_lo=share_lo,
        extrapolating=extrapolating,
        production_seconds=seconds,
        us_per_step_atom=us,
        python_overhead_share=overhead,
        warnings=notes,
    )
    if h5 is not None:
        h5.attrs["extrapolating"] = extrapolating
        h5.attrs["share_above_trust_hi"] = share_hi
        h5.attrs["production_us_per_step_atom"] = us
        h5.attrs["production_python_overhead_share"] = overhead
        h5.attrs["warnings_json"] = json.dumps(notes)
        h5.attrs["status"] = "complete"
    return summary
