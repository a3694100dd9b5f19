"""Relaxations and energies with the DeePMD potential through its ASE calculator.

Positions are relaxed with BFGS, and with them the cell (ASE's FrechetCellFilter: log-strain
cell degrees of freedom) when asked: every strain component, or only the strain along the
Cartesian z axis, the stacking direction of a layered host whose layers lie in the xy plane
(graphite: the gallery spacing; :data:`RELAX_CELL_MODES`). Energies of the relaxed structures
are then evaluated by every ensemble member, and the members' spread is the stated uncertainty
of each energy (the committee estimate used by DP-GEN; Zhang et al., Phys. Rev. Mater. 3, 023804
(2019)).
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

#: ``relax_cell`` values → the FrechetCellFilter mask of Voigt strain components (xx, yy, zz,
#: yz, xz, xy) that relax; None: the cell stays fixed. ``"c"`` relaxes only ε_zz: the layers
#: (in the xy plane) keep their in-plane lattice and the spacing between them follows the stress.
RELAX_CELL_MODES: dict[bool | str, tuple[int, ...] | None] = {
    False: None,
    True: (1, 1, 1, 1, 1, 1),
    "c": (0, 0, 1, 0, 0, 0),
}


def cell_mask(relax_cell: bool | str) -> tuple[int, ...] | None:
    """The FrechetCellFilter mask of a ``relax_cell`` value (None: fixed cell).

    Raises
    ------
    ValueError
        Anything but ``False``, ``True`` or ``"c"`` (naming the value).
    """
    if not isinstance(relax_cell, bool | str) or relax_cell not in RELAX_CELL_MODES:
        raise ValueError(
            f"thermo.relax.relax_cell: {relax_cell!r} is not a relax mode; use false (fixed "
            'cell), "c" (only the strain along z, the stacking axis) or true (the whole cell)'
        )
    return RELAX_CELL_MODES[relax_cell]


def more_relaxed_mode(a: bool | str, b: bool | str) -> bool | str:
    """Of two relax modes, the one that relaxes more of the cell: fixed < ``"c"`` < whole cell."""
    order = [False, "c", True]
    return order[max(order.index(a), order.index(b))]


def check_layers_in_xy(atoms: Atoms, what: str) -> None:
    """The ``"c"`` mode strains along z: the cell's first two vectors must lie in the xy plane
    (the layers of a layered host), else a clear error."""
    cell = np.asarray(atoms.cell)
    if np.any(np.abs(cell[:2, 2]) > 1e-6):
        raise ValueError(
            f'{what}: relax_cell "c" strains the cell along z only, but its a and b vectors '
            f"have z components {cell[:2, 2].round(4).tolist()} Å: rotate the structure so "
            "that its layers lie in the xy plane (c along the stacking direction)"
        )


@dataclass
class RelaxSettings:
    """Relaxation of one structure.

    Parameters
    ----------
    fmax_eV_A:
        Convergence: largest force (eV/Å); a relaxing cell also converges its stress to
        :data:`CELL_STRESS_TOLERANCE_GPa` (see :func:`relax`).
    max_steps:
        BFGS steps before giving up (the structure is kept and flagged ``converged = False``).
    relax_cell:
        ``False``: positions only (fixed cell); ``"c"``: positions and the strain along z (the
        stacking axis: gallery spacing); ``True``: positions and the whole cell.
    min_distance_A:
        A relaxed structure with two atoms closer than this (Å) has collapsed: it is flagged
        ``failed`` and left out of the fits.
    """

    fmax_eV_A: float = default("thermo.relax.fmax_eV_A")
    max_steps: int = default("thermo.relax.max_steps")
    relax_cell: bool | str = default("thermo.relax.relax_cell")
    min_distance_A: float = default("thermo.relax.min_distance_A")

    def __post_init__(self) -> None:
        cell_mask(self.relax_cell)


@dataclass
class RelaxResult:
    """A relaxed structure: energy (eV), whether BFGS converged, steps, and a failure reason."""

    atoms: Atoms
    energy_eV: float
    converged: bool
    steps: int
    failure: str = ""


def dp_calculator(model: str | Path, dispersion: Any = None) -> Any:
    """ASE calculator of one frozen DeePMD model (``.pth``); its type map comes from the model.

    ``dispersion`` (:class:`ionscale.potential.dispersion.DispersionSettings`): when the model
    learned the labels minus D3, the calculator adds D3 back (the potential's total energy)."""
    from deepmd.calculator import DP

    from ionscale.potential.dispersion import with_dispersion

    model = Path(model)
    if not model.is_file():
        raise FileNotFoundError(f"DeePMD model {model} does not exist (run the potential stage)")
    calc = DP(model=str(model))
    return calc if dispersion is None else with_dispersion(calc, dispersion)


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


#: the stress (GPa) a relaxing cell converges to: ~0.1 % strain along the stacking axis of
#: graphite (C33 ≈ 37 GPa), 0.005 Å of layer spacing
CELL_STRESS_TOLERANCE_GPa = 0.05


def relax(
    atoms: Atoms, calc: Any, settings: RelaxSettings, hydrostatic: bool = False
) -> RelaxResult:
    """Relax positions (and the cell, as ``settings.relax_cell`` says) with BFGS; never raises
    for a non-converged relaxation. ``hydrostatic``: a cell that relaxes keeps its shape and
    relaxes only its volume (a cubic metal).

    The cell converges its stress to :data:`CELL_STRESS_TOLERANCE_GPa`, not only to ``fmax``:
    ASE's FrechetCellFilter divides the virial by ``exp_cell_factor`` (the number of atoms),
    so at fmax 0.05 eV/Å a 7-atom LiC6 cell stopped at up to 0.94 GPa, ~0.08 Å off its
    layer-spacing minimum. The relaxation therefore runs to ``fmax`` first and, while the
    (masked) stress is above the tolerance, goes on at the tighter fmax that makes the cell's
    criterion the stress tolerance (σ V / N = fmax), within the same ``max_steps``. The
    filter's scaling is left at ASE's default: lowering ``exp_cell_factor`` instead enlarges
    the cell's first steps by 1/factor², and a poor potential then drives a cell to collapse
    before a single check.
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = atoms.copy()
    atoms.calc = calc
    mask = cell_mask(settings.relax_cell)
    if mask is None:
        target = atoms
    elif hydrostatic:
        target = FrechetCellFilter(atoms, hydrostatic_strain=True)
    else:
        target = FrechetCellFilter(atoms, mask=list(mask))
    opt = BFGS(target, logfile=None)
    converged = bool(opt.run(fmax=settings.fmax_eV_A, steps=settings.max_steps))
    if mask is not None and converged:
        converged = _converge_stress(atoms, opt, mask, hydrostatic, settings)
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


def cell_stress_GPa(atoms: Atoms, mask: Sequence[int], hydrostatic: bool = False) -> float:
    """The largest stress component (GPa) a relaxation with this cell ``mask`` (Voigt) acts
    on; the pressure alone for a ``hydrostatic`` one."""
    from ionscale.units import EV_PER_A3_TO_GPA

    sigma = np.asarray(atoms.get_stress(voigt=True)) * EV_PER_A3_TO_GPA
    if hydrostatic:
        return float(abs(sigma[:3].mean()))
    return float(np.max(np.abs(sigma[np.asarray(mask, dtype=bool)]), initial=0.0))


def _converge_stress(
    atoms: Atoms, opt: Any, mask: Sequence[int], hydrostatic: bool, settings: RelaxSettings
) -> bool:
    """Go on relaxing (same optimizer, same step budget) until the cell's stress is within
    :data:`CELL_STRESS_TOLERANCE_GPa`; True when it is."""
    from ionscale.units import EV_PER_A3_TO_GPA

    fmax = settings.fmax_eV_A
    for _ in range(50):  # each pass halves fmax at least: the step budget ends it sooner
        if cell_stress_GPa(atoms, mask, hydrostatic) <= CELL_STRESS_TOLERANCE_GPa:
            return True
        left = settings.max_steps - opt.nsteps
        if left <= 0:
            return False
        # the filter's cell force is σ V / N (eV): this fmax puts it at the tolerance
        tight = CELL_STRESS_TOLERANCE_GPa * atoms.get_volume() / EV_PER_A3_TO_GPA / len(atoms)
        fmax = min(tight, 0.5 * fmax)
        if not opt.run(fmax=fmax, steps=left):
            return False
    return False


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
    the chemical potential of the metal reference, μ_metal (eV). A cell that relaxes keeps
    cubic shape under ``relax_cell: "c"`` (its volume relaxes: the layered host's stacking axis
    means nothing for a cubic metal) and relaxes fully under ``True``."""
    from ionscale.thermo.structures import bcc_metal

    atoms = bcc_metal(symbol, lattice_constant_A)
    check_species(atoms, calc, f"bcc {symbol} reference")
    res = relax(atoms, calc, settings, hydrostatic=settings.relax_cell == "c")
    if res.failure:
        raise RuntimeError(f"bcc {symbol} reference relaxation failed: {res.failure}")
    return res
