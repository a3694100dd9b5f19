"""Label frames with DFT energies, forces and stress; failures become records, never drops.

Each frame gets a fresh calculator (:func:`ionscale.reference.calculators.build_calculator`), so
one frame's SCF history cannot leak into the next and a crash affects only its own frame. The
energy stored is the force-consistent (free) energy, the one whose gradient the forces are
(:func:`~ionscale.reference.calculators.force_consistent_energy`); the σ→0 extrapolated energy
is kept in ``info["energy_sigma0_eV"]`` for reference.

A frame whose SCF does not converge, whose calculator raises, or whose results are not finite
is returned as a :class:`FailureRecord` with the reason; the caller writes these to
``reference/failed.json`` and decides from their fraction whether the stage fails.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ionscale.reference.calculators import (
    CalculatorSettings,
    build_calculator,
    classify_failure,
    finite,
    force_consistent_energy,
    scf_converged,
)

log = logging.getLogger(__name__)


class SCFNotConverged(RuntimeError):
    """A code finished without a converged SCF and said so only in a flag."""


class NonFiniteResult(RuntimeError):
    """A code returned NaN or infinite energies, forces or stress."""


@dataclass
class FailureRecord:
    """A frame that could not be labelled, with the reason.

    Parameters
    ----------
    frame_id, config_type, li_fraction:
        The frame's identity (as in ``atoms.info``).
    reason:
        ``"scf_not_converged"``, ``"calculator_error"``, ``"non_finite_result"`` or
        ``"check:<name>"`` (a sanity check of :mod:`ionscale.reference.checks`).
    message:
        What the code or the check said.
    error_type:
        Exception class name ("" for a failed check).
    seconds:
        Wall time spent on the frame, s.
    calculator:
        Calculator name.
    """

    frame_id: str
    config_type: str
    li_fraction: float
    reason: str
    message: str
    error_type: str = ""
    seconds: float = 0.0
    calculator: str = ""
    traceback_tail: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        # JSON has no NaN: Li metal frames have no site fraction
        out["li_fraction"] = None if not np.isfinite(self.li_fraction) else self.li_fraction
        return out


@dataclass
class LabelResult:
    """Labelled frames (in input order) and failure records of one batch."""

    labelled: list[Atoms] = field(default_factory=list)
    failures: list[FailureRecord] = field(default_factory=list)
    #: Wall time per frame id, s.
    seconds: dict[str, float] = field(default_factory=dict)
    #: CPU time of this process per frame id, s (independent of other load on the machine).
    cpu_seconds: dict[str, float] = field(default_factory=dict)


def _prepare(atoms: Atoms, settings: CalculatorSettings) -> Atoms:
    """A bare copy (positions, cell, species) with initial moments for spin-polarised runs."""
    bare = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    if settings.spin_polarized:
        moments = atoms.get_initial_magnetic_moments()
        bare.set_initial_magnetic_moments(moments if np.any(moments) else np.ones(len(atoms)))
    return bare


def label_frame(
    atoms: Atoms, settings: CalculatorSettings, directory: str | Path, txt: Any = None
) -> Atoms:
    """One frame labelled by the configured calculator (raises on any failure).

    Returns a new Atoms with a ``SinglePointCalculator`` holding energy (= free energy, eV),
    forces (eV/Å) and stress (eV/Å³, Voigt order xx yy zz yz xz xy, ASE sign: positive is
    tensile), and ``info`` copied from the input plus ``source`` and ``energy_sigma0_eV``.
    """
    work = _prepare(atoms, settings)
    calc = build_calculator(settings, work, directory, txt)
    work.calc = calc
    forces = work.get_forces()
    stress = work.get_stress(voigt=True)
    energy_sigma0 = float(work.get_potential_energy())
    free_energy = force_consistent_energy(calc, work)
    if not scf_converged(calc):
        raise SCFNotConverged(f"{settings.name} reports an unconverged SCF")
    if not finite(forces, stress, free_energy, energy_sigma0):
        raise NonFiniteResult("energy, forces or stress contain NaN or inf")
    out = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out.info = dict(atoms.info)
    out.info["source"] = settings.name
    out.info["energy_sigma0_eV"] = energy_sigma0
    out.calc = SinglePointCalculator(
        out,
        energy=free_energy,
        free_energy=free_energy,
        forces=np.array(forces),
        stress=np.array(stress),
    )
    for part in getattr(getattr(calc, "mixer", None), "calcs", [calc]):
        close = getattr(part, "close", None)  # CP2K keeps a shell process per calculator
        if callable(close):
            close()
    return out


def label_frames(
    frames: Sequence[Atoms],
    settings: CalculatorSettings,
    workdir: str | Path,
    txt: Any = None,
) -> LabelResult:
    """Label every frame; a frame that fails becomes a :class:`FailureRecord` and the batch goes on.

    Parameters
    ----------
    frames:
        Frames with ``frame_id``, ``config_type`` and ``li_fraction`` in ``info``.
    settings:
        Calculator settings.
    workdir:
        Parent of the per-frame working directories of file-based codes.
    txt:
        GPAW text output for all frames of the batch (path or open file).
    """
    result = LabelResult()
    for atoms in frames:
        frame_id = str(atoms.info["frame_id"])
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            result.labelled.append(label_frame(atoms, settings, Path(workdir) / frame_id, txt))
        except Exception as exc:  # any code failure is data about this frame, not a crash
            if isinstance(exc, NonFiniteResult):
                reason = "non_finite_result"
            elif isinstance(exc, SCFNotConverged):
                reason = "scf_not_converged"
            else:
                reason = classify_failure(exc)
            record = FailureRecord(
                frame_id=frame_id,
                config_type=str(atoms.info.get("config_type", "")),
                li_fraction=float(atoms.info.get("li_fraction", float("nan"))),
                reason=reason,
                message=str(exc) or type(exc).__name__,
                error_type=type(exc).__name__,
                seconds=time.perf_counter() - start,
                calculator=settings.name,
                traceback_tail="".join(traceback.format_exception(exc, limit=-3))[-2000:],
            )
            result.failures.append(record)
            log.warning("frame %s failed (%s): %s", frame_id, reason, record.message)
        result.seconds[frame_id] = time.perf_counter() - start
        result.cpu_seconds[frame_id] = time.process_time() - cpu_start
        log.info(
            "frame %s: %.1f s wall, %.1f s CPU",
            frame_id, result.seconds[frame_id], result.cpu_seconds[frame_id],
        )  # fmt: skip
    return result
