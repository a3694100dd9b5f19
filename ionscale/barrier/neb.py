"""The hop cell and the climbing-image NEB of one potential (ASE's NEB and optimisers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.gates import GateError, check_action
from ionscale.settings import default, from_section


class BarrierError(GateError):
    """A barrier check failed and the config does not allow it; ``record`` holds its numbers."""


@dataclass(frozen=True)
class BarrierSettings:
    """The ``barrier`` config section (see the schema for each key)."""

    enabled: bool = default("barrier.enabled")
    supercell: tuple[int, ...] = default("barrier.supercell")
    n_images: int = default("barrier.n_images")
    fmax_eV_A: float = default("barrier.fmax_eV_A")
    max_steps: int = default("barrier.max_steps")
    dft_images: str = default("barrier.dft_images")
    max_spread_eV: float = default("barrier.max_spread_eV")
    max_dft_difference_eV: float = default("barrier.max_dft_difference_eV")
    action: str = default("barrier.action")

    def __post_init__(self) -> None:
        check_action("barrier.action", self.action)
        if self.dft_images not in ("none", "saddle", "all"):
            raise ValueError(
                f"barrier.dft_images = {self.dft_images!r}; expected none, saddle or all"
            )

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> BarrierSettings:
        return from_section(cls, section, "barrier", error=ValueError)


@dataclass
class HopCell:
    """End points of one vacancy hop and the initial path's waypoint.

    ``initial`` and ``final`` hold the same atoms in the same order; ``index`` is the hopping
    ion; ``waypoint`` (Å) the most open point of the hop's mid-plane.
    """

    initial: Atoms
    final: Atoms
    index: int
    waypoint: np.ndarray
    hop_length_A: float


def hop_cell(host: Atoms, supercell: Sequence[int], mobile_species: str) -> HopCell:
    """The hop cell of :mod:`ionscale.barrier` from the reference structure.

    Raises ValueError when the supercell holds fewer than two sites of ``mobile_species``.
    """
    from ionscale.reference.generators import hop_path, hop_waypoint
    from ionscale.reference.structures import make_supercell, sublattice_indices

    cell = make_supercell(host, tuple(supercell))
    sites = sublattice_indices(cell, mobile_species)
    pair = hop_path(cell, sites)
    if pair is None:
        raise ValueError(
            f"barrier.supercell = {list(supercell)}: {len(sites)} {mobile_species} site(s); a "
            "hop needs two (a larger supercell)"
        )
    a, b, vec = pair
    waypoint = hop_waypoint(cell, a, vec, exclude=sites)
    initial = cell.copy()
    del initial[[b]]
    index = a - 1 if b < a else a
    final = initial.copy()
    final.positions[index] = cell.positions[a] + vec
    for atoms in (initial, final):
        atoms.info.clear()
        atoms.calc = None
    return HopCell(initial, final, index, waypoint, float(np.linalg.norm(vec)))


@dataclass
class NEBPath:
    """A converged (or not) NEB: the images, their energies (eV) and the barrier (eV)."""

    images: list[Atoms]
    energies_eV: np.ndarray
    converged: bool
    steps: int
    end_points_converged: bool
    notes: list[str] = field(default_factory=list)

    @property
    def barrier_eV(self) -> float:
        """Highest image above the initial state."""
        return float(np.max(self.energies_eV) - self.energies_eV[0])

    @property
    def climbing_index(self) -> int:
        return int(np.argmax(self.energies_eV[1:-1]) + 1)


def _relax(atoms: Atoms, calc: Any, fmax: float, steps: int) -> tuple[Atoms, bool]:
    from ase.optimize import BFGS

    work = atoms.copy()
    work.calc = calc
    converged = bool(BFGS(work, logfile=None).run(fmax=fmax, steps=steps))
    return work, converged


def neb_path(hop: HopCell, calc: Any, settings: BarrierSettings) -> NEBPath:
    """Relax the end points with ``calc`` (fixed cell), then a climbing-image NEB.

    The initial images move the host linearly between the relaxed end points and the
    hopping ion along the two legs through the waypoint (shifted with the relaxed end points'
    midpoint), the path of the reference stage's hop frames.
    """
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.mep import NEB
    from ase.optimize import FIRE

    from ionscale.reference.generators import hop_image

    s = settings
    initial, ok_i = _relax(hop.initial, calc, s.fmax_eV_A, s.max_steps)
    final, ok_f = _relax(hop.final, calc, s.fmax_eV_A, s.max_steps)
    i = hop.index
    shift = 0.5 * (initial.positions[i] + final.positions[i]) - 0.5 * (
        hop.initial.positions[i] + hop.final.positions[i]
    )
    waypoint = hop.waypoint + shift
    images = [initial]
    for k in range(1, s.n_images + 1):
        t = k / (s.n_images + 1)
        image = initial.copy()
        image.positions = (1 - t) * initial.positions + t * final.positions
        image.positions[i] = hop_image(initial.positions[i], waypoint, final.positions[i], t)
        images.append(image)
    images.append(final)
    for image in images:
        image.calc = calc
    neb = NEB(images, climb=True, method="improvedtangent", allow_shared_calculator=True)
    opt = FIRE(neb, logfile=None)
    converged = bool(opt.run(fmax=s.fmax_eV_A, steps=s.max_steps))
    energies = np.array([float(image.get_potential_energy()) for image in images])
    frozen = []
    for k, image in enumerate(images):
        out = image.copy()
        out.calc = SinglePointCalculator(out, energy=float(energies[k]))
        out.info["image"] = k
        frozen.append(out)
    notes = []
    if not (ok_i and ok_f):
        notes.append(f"end points not relaxed to {s.fmax_eV_A} eV/Å in {s.max_steps} steps")
    if not converged:
        notes.append(f"NEB not converged to {s.fmax_eV_A} eV/Å in {s.max_steps} steps")
    return NEBPath(frozen, energies, converged, int(opt.nsteps), ok_i and ok_f, notes)
