"""One MD run at one temperature: set-up, equilibration, production, model deviation, result.

Protocol
    velocities from a Maxwell–Boltzmann distribution at T (seeded, zero total momentum);
    equilibration with a Nosé–Hoover thermostat (Shinoda et al., Phys. Rev. B 69, 134103 (2004)
    equations as implemented in LAMMPS fix npt/nvt), either NPT (the production cell is the
    mean cell of the second half of the equilibration) or NVT; production in NVT (Nosé–Hoover).
    Every ``sample_stride_steps`` steps of production the unwrapped positions of the mobile
    species, the system's centre of mass (unwrapped) and the thermo are appended to
    ``md/T{T}K/trajectory.h5`` in blocks (resizable HDF5 datasets: memory does not grow with the
    run length; names and units in :mod:`ionscale.md.io`).

Blow-ups
    The LAMMPS engine (:mod:`ionscale.engines.lammps`) checks between strides, in both phases,
    and raises :class:`~ionscale.md.MDBlowUpError` naming T and the step. The trajectory written
    so far is kept as ``FAILED_partial_trajectory.h5`` beside the missing result, so it cannot be
    mistaken for a finished file.

Trust levels
    The share of production frames whose max force deviation exceeds ``trust_hi_eV_A`` is
    reported; above ``max_extrapolating_share`` the run is flagged (``extrapolating`` attribute
    and a warning): the potential is outside what it was trained on.

Under MPI (more than one rank) LAMMPS decomposes the box; only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ionscale.engines.lammps import (
    FS_PER_PS,
    LammpsRun,
    last_row_per_step,
    open_lammps,
    read_model_deviation,
    require_deepmd,
    write_data_file,
)
from ionscale.io import open_result_h5
from ionscale.md.io import (
    EQUILIBRATION_GROUP,
    EQUILIBRATION_SERIES,
    THERMO_GROUP,
    THERMO_SERIES,
    MDSummary,
    SeriesWriter,
    keep_partial,
    trajectory_series,
    write_header,
    write_model_deviation,
    write_outcome,
    write_production_cell,
)
from ionscale.md.settings import (
    MDExtrapolationError,
    MDInputError,
    MDRunError,
    MDSettings,
    MDWarning,
)
from ionscale.provenance import Provenance


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
        The MD cell (ase.Atoms), e.g. from :func:`~ionscale.md.build_md_cell`.
    models:
        Frozen DeePMD models (``.pth``), first one drives the dynamics; at least two for the
        model deviation. Their type maps must hold every element of ``atoms``.
    settings:
        :class:`~ionscale.md.MDSettings`.
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
            write_data_file(data_file, atoms, species, parallel=False)
        if root and lammps_log:
            Path(lammps_log).parent.mkdir(parents=True, exist_ok=True)
        comm.Barrier()
        lmp = open_lammps(lammps_log, comm=comm)
        stack.callback(lmp.close)
        require_deepmd(lmp)
        h5 = stack.enter_context(open_result_h5(out_path, provenance)) if root else None
        if h5 is not None:  # the diffusion stage's carrier count (diffusion.carriers: auto)
            h5.attrs["mobile_vacancies"] = int(atoms.info.get("mobile_vacancies", 0))
        run = LammpsRun(lmp, s, mobile_idx + 1, n_atoms)  # LAMMPS ids follow the ASE order, from 1
        try:
            summary = _simulate(
                lmp, run, h5, data_file, devi_file, species, models, s, flush_frames
            )
        except MDRunError as exc:
            if root and h5 is not None:
                keep_partial(h5, provenance, out_path, str(exc))
            raise
    return summary


def _simulate(
    lmp,
    run: LammpsRun,
    h5,
    data_file: Path,
    devi_file: Path,
    species: list[str],
    models: list[Path],
    s: MDSettings,
    flush_frames: int,
) -> MDSummary:
    """The phases in order; ``h5`` is None on ranks other than 0 (they write nothing)."""
    if h5 is not None:
        write_header(h5, s, run.n_atoms, run.mobile_ids, species, models)
    _set_up(lmp, run, h5, data_file, devi_file, species, models, s)
    _equilibrate(lmp, run, h5, s, flush_frames)
    production = _produce(lmp, run, h5, s, flush_frames)
    share_hi, share_lo = _model_deviation(lmp, h5, devi_file, s, production.start_step)
    return _finish(run, h5, s, production, share_hi, share_lo)


def _set_up(lmp, run: LammpsRun, h5, data_file: Path, devi_file: Path, species: list[str],
            models: list[Path], s: MDSettings) -> None:  # fmt: skip
    """The engine's set-up and ``run 0``; the starting structure's energy (blow-up reference)."""
    try:
        run.start(data_file, species, models, devi_file)
    except Exception as exc:
        raise MDRunError(
            f"MD at T = {s.temperature_K:g} K: LAMMPS setup failed (do the models' type maps "
            f"hold every element of the cell, {species}?): {str(exc).strip()}"
        ) from None
    run.record_start_energy()
    if h5 is not None:
        h5.attrs["start_potential_energy_eV"] = run.start_energy_eV


def _equilibrate(lmp, run: LammpsRun, h5, s: MDSettings, flush_frames: int) -> None:
    """NPT or NVT equilibration; after NPT the cell becomes the mean of its second half."""
    eq_group = h5.create_group(EQUILIBRATION_GROUP) if h5 is not None else None
    eq = SeriesWriter(eq_group, EQUILIBRATION_SERIES, flush_frames)
    tdamp = s.thermostat_damping_fs / FS_PER_PS
    T = s.temperature_K
    if s.equilibration_ensemble == "npt":
        if s.barostat == "tri":
            lmp.command("change_box all triclinic")
        pdamp = s.barostat_damping_fs / FS_PER_PS
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


@dataclass
class _Production:
    """What the production phase hands to the rest of the run."""

    start_step: int
    volume_A3: float
    n_frames: int
    seconds: float
    us_per_step_atom: float
    python_overhead_share: float


def _produce(lmp, run: LammpsRun, h5, s: MDSettings, flush_frames: int) -> _Production:
    """NVT production: a frame (trajectory + thermo) every ``sample_stride_steps``, timed."""
    T = s.temperature_K
    tdamp = s.thermostat_damping_fs / FS_PER_PS
    lmp.command(f"fix ionscale_prod all nvt temp {T} {T} {tdamp}")
    run.first_run = True  # fixes changed: LAMMPS must initialise them (run with pre yes)

    cell = run.cell()
    volume = float(abs(np.linalg.det(cell)))
    step0 = run.step()
    dt_ps = s.timestep_fs / FS_PER_PS
    if h5 is not None:
        write_production_cell(h5, cell, volume, step0)
    thermo_group = h5.create_group(THERMO_GROUP) if h5 is not None else None
    traj = SeriesWriter(h5, trajectory_series(s.mobile_species, len(run.mobile_ids)), flush_frames)
    th_series = SeriesWriter(thermo_group, THERMO_SERIES, flush_frames)

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
    return _Production(step0, volume, n_frames, seconds, us, overhead)


def _model_deviation(lmp, h5, devi_file: Path, s: MDSettings, step0: int) -> tuple[float, float]:
    """Store the ensemble's deviation (rank 0 wrote the file); the shares of production frames
    above ``trust_hi_eV_A`` and ``trust_lo_eV_A``, on every rank."""
    share_hi = share_lo = float("nan")
    if h5 is not None:
        lmp.flush_buffers()
        devi = last_row_per_step(read_model_deviation(devi_file))
        steps = devi["step"]
        prod = steps >= step0
        fmax = devi["max_devi_f"]
        dt_ps = s.timestep_fs / FS_PER_PS
        share_hi = float(np.mean(fmax[prod] > s.trust_hi_eV_A)) if prod.any() else float("nan")
        share_lo = float(np.mean(fmax[prod] > s.trust_lo_eV_A)) if prod.any() else float("nan")
        write_model_deviation(
            h5,
            (steps[prod] - step0) * dt_ps,
            fmax[prod],
            devi["avg_devi_f"][prod],
            steps[~prod],
            fmax[~prod],
            trust_lo_eV_A=s.trust_lo_eV_A,
            trust_hi_eV_A=s.trust_hi_eV_A,
            share_above_trust_hi=share_hi,
            share_above_trust_lo=share_lo,
        )
    import mpi4py.MPI as MPI

    share_hi, share_lo = MPI.COMM_WORLD.bcast((share_hi, share_lo), root=0)
    return share_hi, share_lo


def _finish(run: LammpsRun, h5, s: MDSettings, production: _Production, share_hi: float,
            share_lo: float) -> MDSummary:  # fmt: skip
    """Flag an extrapolating potential (trust levels), write the outcome, return the summary."""
    notes: list[str] = []
    extrapolating = bool(share_hi > s.max_extrapolating_share)
    if extrapolating:
        msg = (
            f"MD at T = {s.temperature_K:g} K: {100 * share_hi:.1f} % of the sampled frames have a "
            f"max force deviation above md.trust_hi_eV_A = {s.trust_hi_eV_A:g} eV/Å (more than "
            f"md.max_extrapolating_share = {s.max_extrapolating_share:g}): the potential "
            "extrapolates; add such frames to the reference data"
        )
        notes.append(msg)
        if s.extrapolation_action == "error":  # the gate: a D from outside the data stops here
            if h5 is not None:
                write_outcome(h5, _summary(run, s, production, share_hi, share_lo, True, notes))
            raise MDExtrapolationError(msg + ". To go on anyway set md.extrapolation_action: warn")
        # stacklevel 3: attributed to run_md (→ _simulate → here), as before the split
        warnings.warn(msg, MDWarning, stacklevel=3)
    summary = _summary(run, s, production, share_hi, share_lo, extrapolating, notes)
    if h5 is not None:
        write_outcome(h5, summary)
    return summary


def _summary(run: LammpsRun, s: MDSettings, production: _Production, share_hi: float,
             share_lo: float, extrapolating: bool, notes: list[str]) -> MDSummary:  # fmt: skip
    return MDSummary(
        temperature_K=s.temperature_K,
        n_atoms=run.n_atoms,
        n_mobile=len(run.mobile_ids),
        n_frames=production.n_frames,
        volume_A3=production.volume_A3,
        share_above_trust_hi=share_hi,
        share_above_trust_lo=share_lo,
        extrapolating=extrapolating,
        production_seconds=production.seconds,
        us_per_step_atom=production.us_per_step_atom,
        python_overhead_share=production.python_overhead_share,
        warnings=notes,
    )
