"""Relaxations and energies with the DeePMD potential through its ASE calculator.

Cells and positions are relaxed together (ASE's FrechetCellFilter: Kaneko-style log-strain cell
degrees of freedom) with BFGS; energies of the relaxed structures are then evaluated by every
ensemble member, and the members' spread is the stated uncertainty of each energy (the committee
estimate used by DP-GEN; Zhang et al., Phys. Rev. Mater. 3, 023804 (2019)).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.settings import default

log = logging.getLogger(__name__)


@dataclass
class RelaxSettings:
    """Relaxation of one structure.

    Parameters
    ----------
    fmax_eV_A:
        Convergence: largest force (eV/Å) and cell force (eV per unit strain / volume scale).
    max_steps:
        BFGS steps before giving up (the structure is kept and flagged ``converged = False``).
    relax_cell:
        Relax the cell too (True) or only the positions.
    min_distance_A:
        A relaxed structure with two atoms closer than this (Å) has collapsed: it is flagged
        ``failed`` and left out of the fits.
    """

    fmax_eV_A: float = default("thermo.relax.fmax_eV_A")
    max_steps: int = default("thermo.relax.max_steps")
    relax_cell: bool = default("thermo.relax.relax_cell")
    min_distance_A: float = default("thermo.relax.min_distance_A")


@dataclass
class RelaxResult:
    """A relaxed structure: energy (eV), whether BFGS converged, steps, and a failure reason."""

    atoms: Atoms
    energy_eV: float
    converged: bool
    steps: int
    failure: str = ""


def dp_calculator(model: str | Path) -> Any:
    """ASE calculator of one frozen DeePMD model (``.pth``); its type map comes from the model."""
    from deepmd.calculator import DP

    model = Path(model)
    if not model.is_file():
        raise FileNotFoundError(f"DeePMD model {model} does not exist (run the potential stage)")
    return DP(model=str(model))


def check_species(atoms: Atoms, calc: Any, what: str) -> None:
    """Every element of ``atoms`` must be in the model's type map (else a clear error)."""
    missing = sorted(set(atoms.get_chemical_symbols()) - set(calc.type_dict))
    if missing:
        raise ValueError(
            f"{what}: element(s) {missing} are not in the DeePMD model's type map "
            f"{sorted(calc.type_dict)}"
        )


def min_distance_A(atoms: Atoms) -> float:
    """Shortest interatomic distance (Å, minimum image); inf for one atom."""
    if len(atoms) < 2:
        # one atom: its shortest distance is to its own periodic image
        return float(min(np.linalg.norm(atoms.cell, axis=1)))
    d = atoms.get_all_distances(mic=True)
    d[np.diag_indices_from(d)] = np.inf
    return float(d.min())


def relax(atoms: Atoms, calc: Any, settings: RelaxSettings) -> RelaxResult:
    """Relax positions (and the cell) with BFGS; never raises for a non-converged relaxation."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = atoms.copy()
    atoms.calc = calc
    target = FrechetCellFilter(atoms) if settings.relax_cell else atoms
    opt = BFGS(target, logfile=None)
    converged = bool(opt.run(fmax=settings.fmax_eV_A, steps=settings.max_steps))
    energy = float(atoms.get_potential_energy())
    failure = ""
    dmin = min_distance_A(atoms)
    if dmin < settings.min_distance_A:
        failure = f"collapsed: shortest distance {dmin:.2f} Å < {settings.min_distance_A} Å"
    elif not np.isfinite(energy):
        failure = "non-finite energy"
    result = atoms.copy()
    result.info = dict(atoms.info)
    return RelaxResult(result, energy, converged, int(opt.nsteps), failure)


def ensemble_energies(structures: Sequence[Atoms], calcs: Sequence[Any]) -> np.ndarray:
    """Energies (eV), shape (n_models, n_structures), of fixed structures by each model."""
    out = np.empty((len(calcs), len(structures)))
    for m, calc in enumerate(calcs):
        for s, atoms in enumerate(structures):
            a = atoms.copy()
            a.calc = calc
            out[m, s] = a.get_potential_energy()
    return out


def relaxed_metal_reference(
    symbol: str, lattice_constant_A: float, calc: Any, settings: RelaxSettings
) -> RelaxResult:
    """bcc metal (2-atom conventional cell) relaxed with the potential: its energy per atom is
    the chemical potential of the metal reference, μ_metal (eV)."""
    from ionscale.thermo.structures import bcc_metal

    atoms = bcc_metal(symbol, lattice_constant_A)
    check_species(atoms, calc, f"bcc {symbol} reference")
    res = relax(atoms, calc, settings)
    if res.failure:
        raise RuntimeError(f"bcc {symbol} reference relaxation failed: {res.failure}")
    return res
