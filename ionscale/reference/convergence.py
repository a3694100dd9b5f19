"""Reference convergence: a few frames relabelled at tighter settings, and a gate on the gap.

Labels are only as good as their basis and k-point sampling. Rule ``reference_convergence``
recomputes the Pulay calibration cells (the end members at their experimental cells, whose
configured-setting labels :mod:`ionscale.reference.pulay` already computed) and a few labelled
frames at ``reference.convergence.cutoff_eV`` (and k-point density), and records per frame:

- ΔE/atom: the difference of the energies per atom after removing a per-species constant
  (fitted by least squares over the frames: an absolute energy shift per atom of each species
  cancels in every formation energy and every force, so only what is left matters);
- max |ΔF| over atoms and components, eV/Å;
- max |Δσ| over the Voigt components, GPa, with the configured labels Pulay-corrected (the tight
  labels are not: at ≥ 1000 eV the Pulay stress of C is below 0.5 GPa).

The stage fails when any exceeds its tolerance, naming the frame and both numbers, unless
``reference.convergence.action`` is ``warn``: a gate in the sense of :mod:`ionscale.gates`,
with its verdict (passed, failed, allowed by config) in ``convergence.json``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.config import ConfigError
from ionscale.gates import GateError, check_action, verdict_of
from ionscale.reference.pulay import PulayCorrection, species_matrix
from ionscale.settings import default, from_section
from ionscale.units import EV_PER_A3_TO_GPA

log = logging.getLogger(__name__)


class ConvergenceError(GateError):
    """Labels at the configured settings differ from the tight ones beyond the tolerances."""


@dataclass(frozen=True)
class ConvergenceSettings:
    """The ``reference.convergence`` config section (see the schema for each key)."""

    enabled: bool = default("reference.convergence.enabled")
    n_frames: int = default("reference.convergence.n_frames")
    cutoff_eV: float = default("reference.convergence.cutoff_eV")
    kpoint_density_per_A: float | None = default("reference.convergence.kpoint_density_per_A")
    max_energy_meV_atom: float = default("reference.convergence.max_energy_meV_atom")
    max_force_meV_A: float = default("reference.convergence.max_force_meV_A")
    max_stress_GPa: float = default("reference.convergence.max_stress_GPa")
    action: str = default("reference.convergence.action")

    def __post_init__(self) -> None:
        check_action("reference.convergence.action", self.action)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ConvergenceSettings:
        return from_section(cls, cfg, "reference.convergence")

    def tight(self, calculator_settings: Any) -> Any:
        """The tight calculator settings: the configured ones with the tighter cutoff and
        k-point density (ConfigError if they are not at least as tight)."""
        k = self.kpoint_density_per_A or calculator_settings.kpoint_density_per_A
        if self.cutoff_eV < calculator_settings.cutoff_eV or k < (
            calculator_settings.kpoint_density_per_A
        ):
            raise ConfigError(
                "reference.convergence: the tight settings must be at least the configured ones "
                f"(cutoff {self.cutoff_eV:g} vs {calculator_settings.cutoff_eV:g} eV, k-point "
                f"density {k:g} vs {calculator_settings.kpoint_density_per_A:g} per Å⁻¹)"
            )
        return dataclasses.replace(
            calculator_settings, cutoff_eV=self.cutoff_eV, kpoint_density_per_A=k
        )


def _same(a: Atoms, b: Atoms) -> bool:
    return (
        len(a) == len(b)
        and np.array_equal(a.numbers, b.numbers)
        and np.allclose(a.cell, b.cell, atol=1e-6)
        and np.allclose(a.positions, b.positions, atol=1e-6)
    )


def select_frames(frames: Sequence[Atoms], n: int) -> list[int]:
    """Indices of ``n`` labelled frames of the host to relabel: spread over the Li fraction
    (targets evenly over the frames' range), each the smallest cell nearest its target; frames
    with atomic displacements (nonzero forces) first, so forces are compared where they are not
    zero by symmetry; never the same frame twice, never the metal (a calibration cell)."""
    if n <= 0 or not frames:
        return []
    x = np.array([float(a.info.get("li_fraction", np.nan)) for a in frames])
    fmax = np.array([np.abs(a.get_forces()).max() if a.calc else 0.0 for a in frames])
    size = np.array([len(a) for a in frames])
    host = np.isfinite(x)  # the metal (no site fraction) is a calibration cell already
    if not host.any():
        return []
    targets = np.linspace(x[host].min(), x[host].max(), n) if n > 1 else [np.median(x[host])]
    chosen: list[int] = []
    for t in targets:
        order = np.lexsort((size, fmax < 1e-3, np.where(host, np.abs(x - t), np.inf)))
        pick = next((int(i) for i in order if int(i) not in chosen), None)
        if pick is not None:
            chosen.append(pick)
    return chosen


def energy_residuals(labels: Sequence[Atoms], tight: Sequence[Atoms]) -> np.ndarray:
    """ΔE per atom (eV) of each frame after the least-squares per-species shift."""
    _, counts = species_matrix(list(labels))
    d = np.array(
        [
            b.get_potential_energy() - a.get_potential_energy()
            for a, b in zip(labels, tight, strict=True)
        ]
    )
    shift = np.linalg.lstsq(counts, d, rcond=None)[0]
    return (d - counts @ shift) / counts.sum(axis=1)


def compare(
    names: Sequence[str], labels: Sequence[Atoms], tight: Sequence[Atoms]
) -> list[dict[str, Any]]:
    """Per-frame ΔE/atom (meV, shift removed), max |ΔF| (meV/Å) and max |Δσ| (GPa)."""
    de = energy_residuals(labels, tight)
    rows = []
    for name, a, b, e in zip(names, labels, tight, de, strict=True):
        s_a = np.asarray(a.get_stress(voigt=True)) * EV_PER_A3_TO_GPA
        s_b = np.asarray(b.get_stress(voigt=True)) * EV_PER_A3_TO_GPA
        rows.append(
            {
                "frame": name,
                "formula": a.get_chemical_formula(),
                "n_atoms": len(a),
                "energy_diff_meV_atom": 1e3 * float(e),
                "energy_raw_diff_meV_atom": 1e3
                * (b.get_potential_energy() - a.get_potential_energy())
                / len(a),
                "max_force_diff_meV_A": 1e3 * float(np.abs(b.get_forces() - a.get_forces()).max()),
                "max_stress_diff_GPa": float(np.abs(s_b - s_a).max()),
                "stress_GPa": s_a.tolist(),
                "stress_tight_GPa": s_b.tolist(),
            }
        )
    return rows


def verdict(rows: Sequence[Mapping[str, Any]], settings: ConvergenceSettings) -> list[str]:
    """What exceeds its tolerance (empty: converged), one line per frame and quantity."""
    limits = (
        ("energy_diff_meV_atom", settings.max_energy_meV_atom, "meV/atom", "ΔE"),
        ("max_force_diff_meV_A", settings.max_force_meV_A, "meV/Å", "max |ΔF|"),
        ("max_stress_diff_GPa", settings.max_stress_GPa, "GPa", "max |Δσ|"),
    )
    out = []
    for r in rows:
        for key, limit, unit, what in limits:
            if abs(r[key]) > limit:
                out.append(
                    f"{r['frame']} ({r['formula']}): {what} = {abs(r[key]):.3g} {unit} between "
                    f"the labels and the tight settings, tolerance {limit:g} {unit}"
                )
    return out


def check_convergence(
    calibration_cells: Mapping[str, Atoms],
    correction: PulayCorrection,
    labelled: Sequence[Atoms],
    calculator_settings: Any,
    settings: ConvergenceSettings,
    workdir: str | Path,
    txt: Any = None,
) -> dict[str, Any]:
    """Relabel the calibration cells and a few labelled frames at the tight settings.

    Parameters
    ----------
    calibration_cells:
        The Pulay calibration cells labelled at the configured settings (uncorrected), by name.
    correction:
        The Pulay correction applied to the configured-setting labels.
    labelled:
        The reference stage's labelled frames (stress already Pulay-corrected).

    Returns the JSON-ready report (rows, tolerances, problems); raises nothing itself.
    """
    from ionscale.reference.labelling import label_frame

    tight_settings = settings.tight(calculator_settings)
    names: list[str] = []
    labels: list[Atoms] = []
    for name, atoms in calibration_cells.items():
        names.append(f"{name}-experimental-cell")
        labels.append(correction.apply(atoms))
    # a labelled frame identical to a calibration cell (the ideal end members) adds nothing
    fresh = [a for a in labelled if not any(_same(a, c) for c in calibration_cells.values())]
    labelled = fresh
    picks = select_frames(labelled, settings.n_frames)
    for i in picks:
        names.append(str(labelled[i].info.get("frame_id", i)))
        labels.append(labelled[i])
    tight = []
    for name, a in zip(names, labels, strict=True):
        log.info("%s (%d atoms) at %g eV", name, len(a), tight_settings.cutoff_eV)
        tight.append(label_frame(a, tight_settings, Path(workdir) / name, txt))
    rows = compare(names, labels, tight)
    problems = verdict(rows, settings)
    return {
        "tight": {
            "cutoff_eV": tight_settings.cutoff_eV,
            "kpoint_density_per_A": tight_settings.kpoint_density_per_A,
        },
        "configured": {
            "cutoff_eV": calculator_settings.cutoff_eV,
            "kpoint_density_per_A": calculator_settings.kpoint_density_per_A,
            "pulay_correction": correction.as_dict(),
        },
        "tolerances": {
            "max_energy_meV_atom": settings.max_energy_meV_atom,
            "max_force_meV_A": settings.max_force_meV_A,
            "max_stress_GPa": settings.max_stress_GPa,
        },
        "frames": rows,
        "max_energy_diff_meV_atom": max(abs(r["energy_diff_meV_atom"]) for r in rows),
        "max_force_diff_meV_A": max(r["max_force_diff_meV_A"] for r in rows),
        "max_stress_diff_GPa": max(r["max_stress_diff_GPa"] for r in rows),
        "problems": problems,
        "verdict": verdict_of(problems, settings.action),
        "energy_note": "ΔE/atom after removing a least-squares per-species shift",
    }
