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
    from ionscale.thermo.montecarlo import MCResult
    from ionscale.thermo.network import FitResult


@dataclass
class Orderings:
    """Enumerated orderings, relaxed, with their energies and hull."""

    lattice: list[Any]  # decorated lattice structures (vacancies "X")
    relaxed: list[Any]  # relaxed structures (vacancies removed)
    energy_eV: np.ndarray  # (n_models, n): ensemble energies of the relaxed structures
    formation_eV_per_site: np.ndarray  # (n_models, n)
    host_eV_per_site: np.ndarray  # (n_models,)
    li_metal_eV_per_atom: np.ndarray  # (n_models,)
    li_metal_lattice_A: float
    converged: np.ndarray
    steps: np.ndarray
    failure: list[str]

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
