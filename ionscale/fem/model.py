"""Inputs of the particle model: operating case, solver settings, material functions, kinetics.

Everything here is plain numpy/scipy (no DOLFINx), so the config checks run in the Snakefile and
the kinetics are testable alone. The parts, each importable from here:

- :mod:`~ionscale.fem.cases`: the operating case (:class:`ParticleCase`, C-rate, radius,
  temperature, direction, cut-off) and the discretisation/solver settings
  (:class:`SolverSettings`), checked with errors naming the key (:class:`FemInputError`);
- :mod:`~ionscale.fem.material`: the material at one temperature from the handoff file —
  OCV(x) = −μ(x)/e, the chemical diffusivity D(T)·Θ(x) with the thermodynamic factor
  Θ(x) = x(1 − x)·f''(x)/(k_B T) (Darken, Trans. AIME 175, 184 (1948); Bazant, Acc. Chem. Res.
  46, 1144 (2013)), regularised as max(Θ, Θ_min) in a miscibility gap, and its Chebyshev
  representation for the weak form; c_max, the partial molar volume Ω of Li, isotropic E, ν;
- :mod:`~ionscale.fem.scales`: the dimensionless scales and the capacity;
- :mod:`~ionscale.fem.kinetics`: Butler–Volmer kinetics (Newman & Thomas-Alyea, Electrochemical
  Systems, 3rd ed., §8) with a surface-composition-dependent exchange current density.
"""

from __future__ import annotations

from ionscale.fem.cases import (
    DIRECTIONS,
    FemInputError,
    ParticleCase,
    SolverSettings,
    cases_by_name,
)
from ionscale.fem.kinetics import exchange_current_density_A_m2, overpotential_V
from ionscale.fem.material import (
    CHEBYSHEV_DEGREES,
    ChebyshevFit,
    ParticleMaterial,
    check_case_against_material,
    fit_chebyshev,
    fit_thermodynamic_factor,
    intervals_below,
)
from ionscale.fem.scales import SECONDS_PER_HOUR, Scales, capacity_mAh_cm3

__all__ = [
    "CHEBYSHEV_DEGREES",
    "DIRECTIONS",
    "SECONDS_PER_HOUR",
    "ChebyshevFit",
    "FemInputError",
    "ParticleCase",
    "ParticleMaterial",
    "Scales",
    "SolverSettings",
    "capacity_mAh_cm3",
    "cases_by_name",
    "check_case_against_material",
    "exchange_current_density_A_m2",
    "fit_chebyshev",
    "fit_thermodynamic_factor",
    "intervals_below",
    "overpotential_V",
]
