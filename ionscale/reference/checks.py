"""Per-frame sanity checks of labelled frames.

- Net force: in a periodic cell the forces sum to zero (translation invariance, Newton's third
  law); a residual |ΣF| measures the real-space grid error of the code ("egg-box effect") or a
  broken calculation.
- Closest pair: no two atoms closer than a configured distance (a sampling accident or a
  corrupt import gives absurd energies and forces that poison a fitted potential).
- Energy per atom inside a configured window: catches wrong units, energies from a different
  energy reference (e.g. absolute all-electron totals mixed with pseudopotential energies), and
  exploded SCF solutions.
- The contract: every frame has energy, forces (n_atoms × 3) and stress (6 Voigt components).

A frame failing any check is reported with the check's name and the numbers; the gather step
records it in failed.json instead of the labelled set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.reference.structures import closest_pair
from ionscale.settings import default


@dataclass(frozen=True)
class CheckSettings:
    """Thresholds of the sanity checks.

    Parameters
    ----------
    max_net_force_eV_A:
        Largest accepted |ΣF| over all atoms, eV/Å.
    min_pair_distance_A:
        Smallest accepted interatomic distance, Å (also used to reject sampled candidates and
        input structures).
    energy_per_atom_min_eV, energy_per_atom_max_eV:
        Accepted window of energy per atom, eV/atom, in the code's energy reference.
    """

    max_net_force_eV_A: float = default("reference.checks.max_net_force_eV_A")
    min_pair_distance_A: float = default("reference.checks.min_pair_distance_A")
    energy_per_atom_min_eV: float = default("reference.checks.energy_per_atom_min_eV")
    energy_per_atom_max_eV: float = default("reference.checks.energy_per_atom_max_eV")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CheckSettings:
        """From the ``reference.checks`` config section."""
        return cls(**{k: float(v) for k, v in cfg.items()})


def check_frame(atoms: Atoms, settings: CheckSettings) -> list[tuple[str, str]]:
    """Violated checks of one labelled frame as ``(check name, message)``; empty if it passes."""
    problems: list[tuple[str, str]] = []
    results = atoms.calc.results if atoms.calc is not None else {}
    missing = [k for k in ("energy", "forces", "stress") if k not in results]
    if missing:
        return [("labels", f"no {', '.join(missing)} (energy, forces, stress are required)")]
    forces = np.asarray(results["forces"], dtype=float)
    stress = np.asarray(results["stress"], dtype=float)
    energy = float(results["energy"])
    if forces.shape != (len(atoms), 3) or stress.size not in (6, 9):
        return [("labels", f"forces shape {forces.shape}, stress size {stress.size}")]
    if not (np.isfinite(energy) and np.all(np.isfinite(forces)) and np.all(np.isfinite(stress))):
        return [("labels", "non-finite energy, forces or stress")]
    net = float(np.linalg.norm(forces.sum(axis=0)))
    if net > settings.max_net_force_eV_A:
        problems.append(
            ("net_force", f"|ΣF| = {net:.4f} eV/Å > {settings.max_net_force_eV_A} eV/Å")
        )
    d, i, j = closest_pair(atoms, cutoff_A=settings.min_pair_distance_A * 1.001 + 1e-6)
    if d < settings.min_pair_distance_A:
        problems.append(
            ("min_pair_distance", f"atoms {i} and {j} are {d:.3f} Å apart "
             f"(< {settings.min_pair_distance_A} Å)")
        )  # fmt: skip
    e_atom = energy / len(atoms)
    if not settings.energy_per_atom_min_eV <= e_atom <= settings.energy_per_atom_max_eV:
        problems.append(
            ("energy_per_atom", f"{e_atom:.4f} eV/atom outside [{settings.energy_per_atom_min_eV}, "
             f"{settings.energy_per_atom_max_eV}] eV/atom")
        )  # fmt: skip
    return problems


def net_force_eV_A(atoms: Atoms) -> float:
    """|ΣF| of a labelled frame, eV/Å."""
    return float(np.linalg.norm(np.asarray(atoms.get_forces()).sum(axis=0)))


def split_by_checks(
    frames: Sequence[Atoms], settings: CheckSettings
) -> tuple[list[Atoms], list[tuple[Atoms, list[tuple[str, str]]]]]:
    """Frames that pass every check, and the others with their violated checks."""
    passed, failed = [], []
    for atoms in frames:
        problems = check_frame(atoms, settings)
        if problems:
            failed.append((atoms, problems))
        else:
            passed.append(atoms)
    return passed, failed
