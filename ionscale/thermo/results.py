"""What the thermo rules compute, in memory: the orderings and the learned free energy.

:class:`Orderings` is what :func:`ionscale.thermo.energies.compute_orderings` returns and
:func:`ionscale.thermo.io.write_orderings` writes to orderings.h5; :class:`FreeEnergyResult`
is what :func:`ionscale.thermo.free_energy.learn_free_energy` returns and
:func:`ionscale.thermo.io.write_free_energy` writes to free_energy.h5 (and the plots draw).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ionscale.thermo.analysis import HostCoexistence
    from ionscale.thermo.montecarlo import MCResult
    from ionscale.thermo.network import FitResult


@dataclass
class HostReference:
    """The empty host end member (x = 0 of the formation energies), relaxed with DP model 0."""

    atoms: Any  # relaxed structure
    source: str  # file or prototype it came from
    formula_units: float  # framework formula units of one site in the cell (AB graphite: 4/6)
    energy_eV: np.ndarray  # (n_models,) energy of the cell
    relax_cell: bool | str  # how its cell relaxed
    converged: bool
    steps: int
    layer_spacing_A: float  # mean spacing of its framework layers (NaN if not layered in xy)

    @property
    def energy_eV_per_site(self) -> np.ndarray:
        """(n_models,) energy per framework formula unit of one site (graphite: per C6)."""
        return np.asarray(self.energy_eV, dtype=float) / self.formula_units

    @property
    def volume_A3_per_site(self) -> float:
        return float(self.atoms.get_volume() / self.formula_units)


@dataclass
class StagedPhases:
    """Staged compounds of a layered host (:func:`ionscale.reference.structures.staged_structure`:
    the mobile species in every n-th gallery, the empty galleries AB-stacked), relaxed with DP
    model 0: line phases beside the lattice phase, which holds no AB-stacked gallery."""

    stage: np.ndarray  # (k,) n
    li_fraction: np.ndarray  # (k,) x = 1/n
    n_sites: np.ndarray  # (k,) sublattice sites (framework formula units of one site)
    relaxed: list[Any]
    energy_eV: np.ndarray  # (n_models, k)
    formation_eV_per_site: np.ndarray  # (n_models, k) vs the x = 0 reference and bcc Li
    layer_spacing_A: np.ndarray  # (k,) mean framework-layer spacing (cell height / n), Å
    converged: np.ndarray
    failure: list[str]

    @property
    def ok(self) -> np.ndarray:
        return np.array([not f for f in self.failure], dtype=bool)


@dataclass
class Orderings:
    """Enumerated orderings, relaxed, with their energies and hull."""

    lattice: list[Any]  # decorated lattice structures (vacancies "X")
    relaxed: list[Any]  # relaxed structures (vacancies removed)
    energy_eV: np.ndarray  # (n_models, n): ensemble energies of the relaxed structures
    formation_eV_per_site: np.ndarray  # (n_models, n)
    host_eV_per_site: np.ndarray  # (n_models,) the x = 0 reference per site
    li_metal_eV_per_atom: np.ndarray  # (n_models,)
    li_metal_lattice_A: float
    converged: np.ndarray
    steps: np.ndarray
    failure: list[str]
    #: (n,) mean layer spacing of each relaxed ordering (Å; graphite: gallery height)
    gallery_spacing_A: np.ndarray | None = None
    #: (n_models,) energy per site of the empty lattice cell (NaN if it failed)
    empty_lattice_eV_per_site: np.ndarray | None = None
    #: the empty host end member the formation energies refer to; None: the empty lattice cell
    host_reference: HostReference | None = None
    #: staged compounds (line phases; thermo.orderings.stages), None when none are configured
    staged: StagedPhases | None = None

    @property
    def x0_reference(self) -> str:
        """What x = 0 of the formation energies is: ``host structure`` or ``empty lattice cell``."""
        return "empty lattice cell" if self.host_reference is None else "host structure"

    @property
    def ok(self) -> np.ndarray:
        return np.array([not f for f in self.failure])

    @property
    def x(self) -> np.ndarray:
        return np.array([a.info["li_fraction"] for a in self.lattice], dtype=float)

    @property
    def n_sites(self) -> np.ndarray:
        return np.array([a.info["n_sites"] for a in self.lattice], dtype=int)


@dataclass
class FreeEnergyResult:
    """The learned f(x, T) on the grid and everything that goes into free_energy.h5."""

    x: np.ndarray
    temperature_K: np.ndarray
    f: np.ndarray
    mu: np.ndarray
    d2f: np.ndarray
    f_unc: np.ndarray | None
    mu_unc: np.ndarray | None
    d2f_unc: np.ndarray | None
    fits: list[FitResult]
    data: list[MCResult]
    spinodal: list[list[tuple[float, float]]]
    two_phase: list[list[tuple[float, float, float]]]
    extrapolated: list[list[tuple[float, float]]]
    f_end_eV: float
    #: per temperature, the host phase's coexistence with the lattice phase (None: none)
    host: list[HostCoexistence | None] | None = None
    #: f of the lattice phase's empty cell vs the host phase (eV/site); None: no host phase
    f_lattice_at_0_eV: float | None = None
