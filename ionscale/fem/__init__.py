"""fem stage: a spherical electrode particle lithiated at a C-rate, solved with DOLFINx.

Every material parameter comes from the handoff file (``handoff/parameters.h5``): the
open-circuit voltage OCV(x) = −μ(x)/e, the chemical diffusivity D(T)·Θ(x) with the thermodynamic
factor Θ = x(1 − x) f''(x)/k_BT, c_max, the partial molar volume of Li and the host's isotropic
elastic constants. The model (Doyle, Fuller & Newman, J. Electrochem. Soc. 140, 1526 (1993),
single-particle form; diffusion-induced stress after Zhang, Shyy & Sastry, J. Electrochem. Soc.
154, A910 (2007)):

- nonlinear Li diffusion in the sphere (1-D radial mesh, r² weighting: exact for a sphere),
  backward Euler by step doubling with Richardson extrapolation and an adaptive step, SNES
  Newton with a line search;
- Butler–Volmer kinetics at the surface under a galvanostatic current: terminal voltage
  V = OCV(x_surface) + η;
- linear elasticity with the chemical strain Ω·Δc/3: radial, hoop and von Mises stress.

Modules: :mod:`~ionscale.fem.model` (cases, settings, material, kinetics; no DOLFINx; in parts
:mod:`~ionscale.fem.cases`, :mod:`~ionscale.fem.material`, :mod:`~ionscale.fem.scales`,
:mod:`~ionscale.fem.kinetics`),
:mod:`~ionscale.fem.solver` (``simulate``, a driver of the phases in
:mod:`~ionscale.fem.transport` and :mod:`~ionscale.fem.mechanics` (weak forms),
:mod:`~ionscale.fem.stepping` (time loop), :mod:`~ionscale.fem.events` (stop events) and
:mod:`~ionscale.fem.results`), :mod:`~ionscale.fem.analytic`
(Crank's series, the analytic sphere stress), :mod:`~ionscale.fem.output`,
:mod:`~ionscale.fem.run` (one case from the handoff file). ``python -m ionscale.fem`` runs a case
under ``mpirun``. DOLFINx is imported only inside the functions that need it (import
``mpi4py.MPI`` first).
"""

from ionscale.fem.model import (
    FemInputError,
    ParticleCase,
    ParticleMaterial,
    SolverSettings,
    cases_by_name,
)

__all__ = [
    "FemInputError",
    "ParticleCase",
    "ParticleMaterial",
    "SolverSettings",
    "cases_by_name",
    "run_case",
]


def run_case(*args, **kwargs):
    """See :func:`ionscale.fem.run.run_case` (imported lazily: it needs DOLFINx)."""
    from ionscale.fem.run import run_case as _run_case

    return _run_case(*args, **kwargs)
