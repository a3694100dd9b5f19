r"""Li transport in a spherical particle: mesh, weak form and the nonlinear solve of one step.

Geometry and mesh
-----------------
A sphere lithiated uniformly over its surface stays spherically symmetric, so the 3-D problem
is exactly a 1-D problem in r ∈ [0, R] with the volume element 4πr² dr: the weak forms (below
and in :mod:`ionscale.fem.mechanics`) carry the weight ξ² (ξ = r/R), and the mesh is an interval
(``dolfinx.mesh.create_interval``) whose coordinates are r in µm, graded towards the surface by
r/R = 1 − (1 − s)^p. A 2-D axisymmetric or 3-D mesh would give the same answer at a far higher
cost (and needs gmsh).

Li transport (dimensionless: x = c/c_max, τ = t D(T)/R², J = N R/(c_max D(T)))
-------------------------------------------------------------------------------
Strong form::

    ∂x/∂τ = ξ⁻² ∂_ξ(ξ² Θ(x) ∂_ξ x)          0 < ξ < 1
    ∂_ξ x = 0                                 ξ = 0   (symmetry)
    Θ(x) ∂_ξ x = J                            ξ = 1   (galvanostatic surface flux)
    x = x₀                                    τ = 0

with Θ(x) = max(Σₖ aₖ Tₖ(s(x)), Θ_min) the Chebyshev form of the thermodynamic factor
(:mod:`ionscale.fem.model`). Multiply by a test function v and ξ² (the sphere's measure),
integrate by parts (the boundary term at ξ = 0 vanishes with ξ²) and use backward Euler
(L-stable; exactly conservative, since v = 1 is in the space)::

    F(xⁿ⁺¹; v) = ∫₀¹ (xⁿ⁺¹ − xⁿ) v ξ² dξ + Δτ ∫₀¹ Θ(xⁿ⁺¹) ∂_ξxⁿ⁺¹ ∂_ξv ξ² dξ − Δτ J v(1) = 0.

A time step combines three such solves (Δτ, then Δτ/2 twice) by Richardson extrapolation
(:meth:`RadialDiffusion.advance`): second order, still conservative.

F is solved by PETSc SNES (Newton with a backtracking line search, LU by MUMPS) through
``dolfinx.fem.petsc.NonlinearProblem``; the Jacobian is UFL's exact derivative.

The time step is chosen by :mod:`ionscale.fem.stepping`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# h5py must load its HDF5 before petsc4py loads PETSc's (dolfinx.fem.petsc): in the other order
# h5py fails with "Not a datatype" (measured with h5py 3.16 and dolfinx-solver-real 0.11).
import h5py  # noqa: F401
import numpy as np

from ionscale.fem.model import ChebyshevFit, SolverSettings

_PREFIX_COUNTER = itertools.count()


def newton_options(settings: SolverSettings, n_dofs: int = 1) -> dict[str, Any]:
    """PETSc options of the SNES: Newton + backtracking line search, direct LU (MUMPS).

    The absolute tolerance is per degree of freedom (scaled by √n for the 2-norm), so a finer
    mesh does not push it below the round-off floor of the assembled residual.
    """
    return {
        "snes_type": "newtonls",
        "snes_linesearch_type": "bt",
        "snes_rtol": settings.snes_rtol,
        "snes_atol": settings.snes_atol * math.sqrt(n_dofs),
        "snes_stol": 0.0,
        "snes_max_it": 30,
        "ksp_type": "preonly",
        "pc_type": "lu",
        "pc_factor_mat_solver_type": "mumps",
    }


def create_radial_mesh(comm: Any, n_cells: int, radius_um: float, grading: float = 1.0) -> Any:
    """Interval mesh of [0, R] (coordinates in µm), graded towards r = R for grading > 1."""
    from dolfinx import mesh

    msh = mesh.create_interval(comm, n_cells, [0.0, 1.0])
    s = msh.geometry.x[:, 0].copy()
    msh.geometry.x[:, 0] = radius_um * (1.0 - (1.0 - s) ** grading)
    return msh


def chebyshev_ufl(x: Any, coefficients: Any, lo: Any, hi: Any, degree: int) -> Any:
    """Σₖ aₖ Tₖ(s) in UFL with Tₖ(s) = cos(k arccos s), s clamped to (−1, 1).

    The three-term recurrence makes a UFL graph whose derivative grows exponentially with the
    degree; the trigonometric form keeps every term independent.
    """
    import ufl

    s = (2 * x - lo - hi) / (hi - lo)
    s = ufl.min_value(ufl.max_value(s, -1 + 1e-10), 1 - 1e-10)
    theta = ufl.acos(s)
    return coefficients[0] + sum(coefficients[k] * ufl.cos(k * theta) for k in range(1, degree + 1))


def _land() -> Any:
    from mpi4py import MPI

    return MPI.LAND


@dataclass
class Observation:
    """Scalars of a state (identical on every MPI rank)."""

    mean_x: float
    surface_x: float
    centre_x: float
    ocv_V: float = math.nan
    overpotential_V: float = math.nan
    voltage_V: float = math.nan
    i0_A_m2: float = math.nan


class RadialDiffusion:
    """Mesh, function space and compiled nonlinear diffusion problem of one particle.

    Parameters
    ----------
    comm:
        MPI communicator.
    settings:
        Mesh and solver settings.
    radius_um:
        Particle radius (µm; sets the mesh coordinates only: the problem is dimensionless).
    fit:
        Chebyshev representation of Θ(x).
    source:
        Optional callable ``(xi, t) -> UFL expr`` of a volumetric source (manufactured solutions).
    surface_flux:
        Optional callable ``(xi, t) -> UFL expr`` replacing the constant J (manufactured solutions).
    """

    def __init__(
        self,
        comm: Any,
        settings: SolverSettings,
        radius_um: float,
        fit: ChebyshevFit,
        source: Callable[[Any, Any], Any] | None = None,
        surface_flux: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        import ufl
        from dolfinx import fem, mesh
        from dolfinx.fem.petsc import NonlinearProblem

        self.comm = comm
        self.settings = settings
        self.msh = create_radial_mesh(comm, settings.mesh_cells, radius_um, settings.mesh_grading)
        msh = self.msh
        self.V = fem.functionspace(msh, ("Lagrange", settings.element_degree))
        self.x = fem.Function(self.V, name="Li_fraction")
        self.x_old = fem.Function(self.V)
        self.dt = fem.Constant(msh, 1.0)
        self.t = fem.Constant(msh, 0.0)
        self.J = fem.Constant(msh, 0.0)
        self.R = fem.Constant(msh, float(radius_um))
        self.coef = fem.Constant(msh, np.asarray(fit.coefficients, float))
        self.lo = fem.Constant(msh, fit.lo)
        self.hi = fem.Constant(msh, fit.hi)
        self.theta_min = fem.Constant(msh, settings.min_thermodynamic_factor)
        self.fit = fit

        xi = ufl.SpatialCoordinate(msh)[0] / self.R
        self.xi = xi
        qdeg = 2 * settings.element_degree + 4
        dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": qdeg})

        tdim = msh.topology.dim
        surface = mesh.locate_entities_boundary(
            msh, tdim - 1, lambda p: np.isclose(p[0], radius_um)
        )
        tags = mesh.meshtags(msh, tdim - 1, surface, np.full(len(surface), 1, dtype=np.int32))
        ds = ufl.Measure("ds", domain=msh, subdomain_data=tags)

        v = ufl.TestFunction(self.V)
        xc = ufl.min_value(ufl.max_value(self.x, self.lo), self.hi)
        theta = ufl.max_value(
            chebyshev_ufl(xc, self.coef, self.lo, self.hi, fit.degree), self.theta_min
        )
        self.theta_expr = theta

        def d(f: Any) -> Any:  # ∂/∂ξ on a mesh in µm
            return self.R * f.dx(0)

        # dξ = dr/R: the 1/R factors out of every term but the point term; keep it exact.
        flux = self.J if surface_flux is None else surface_flux(xi, self.t)
        # The residual is the backward-Euler step multiplied by Δτ/(1 + Δτ): for Δτ ≪ 1 its
        # entries are Li fractions × volume, for Δτ ≫ 1 flux balances, and in both limits its
        # round-off floor stays O(machine ε), so one absolute tolerance is reachable at any
        # step size (divided by Δτ, a tiny step could never reach it; undivided, a step of
        # many diffusion times — a small, fast-diffusing particle — could not either).
        F = (
            (self.x - self.x_old) * v * xi**2 / self.R * dx
            + self.dt * theta * d(self.x) * d(v) * xi**2 / self.R * dx
            - self.dt * flux * v * ds(1)
        )
        if source is not None:
            F -= self.dt * source(xi, self.t) * v * xi**2 / self.R * dx
        self.scale = fem.Constant(msh, 1.0)
        F = self.scale * F
        prefix = f"ionscale_fem_{next(_PREFIX_COUNTER)}_"
        self.n_dofs = self.V.dofmap.index_map.size_global * self.V.dofmap.index_map_bs
        options = newton_options(settings, self.n_dofs)
        self._atol = options["snes_atol"]
        self.problem = NonlinearProblem(
            F, self.x, petsc_options_prefix=prefix, petsc_options=options
        )
        # 3 ∫ x ξ² dξ = volume average of x
        self._mean_form = fem.form(3 * self.x * xi**2 / self.R * dx)
        n_owned = self.V.dofmap.index_map.size_local * self.V.dofmap.index_map_bs
        coords = self.V.tabulate_dof_coordinates()[:n_owned, 0]
        self._owned = n_owned
        self._surface_dofs = np.flatnonzero(np.isclose(coords, radius_um, rtol=0, atol=1e-12))
        self._centre_dofs = np.flatnonzero(np.isclose(coords, 0.0, rtol=0, atol=1e-12))

    @property
    def surface_cell_width(self) -> float:
        """Spacing of the nodes at the surface in ξ (the graded mesh's last cell over the
        element degree): the shortest length the mesh resolves."""
        s = self.settings
        return (1.0 - (1.0 - 1.0 / s.mesh_cells) ** s.mesh_grading) / s.element_degree

    # -- state -------------------------------------------------------------------------------
    def set_uniform(self, value: float) -> None:
        self.x.x.array[:] = value
        self.x_old.x.array[:] = value

    def point_value(self, dofs: np.ndarray) -> float:
        """Value of x at a point dof (owned by one rank), broadcast to every rank."""
        from mpi4py import MPI

        local = float(self.x.x.array[dofs[0]]) if len(dofs) else -math.inf
        return self.comm.allreduce(local, op=MPI.MAX)

    def observe(self) -> Observation:
        from dolfinx import fem
        from mpi4py import MPI

        mean = self.comm.allreduce(fem.assemble_scalar(self._mean_form), op=MPI.SUM)
        return Observation(
            mean_x=float(mean),
            surface_x=self.point_value(self._surface_dofs),
            centre_x=self.point_value(self._centre_dofs),
        )

    def solve_step(self, dt: float) -> tuple[bool, int]:
        """One backward-Euler step from x_old; returns (converged, Newton iterations)."""
        self.dt.value = dt
        self.scale.value = 1.0 / (1.0 + dt)
        self.x.x.array[:] = self.x_old.x.array  # initial guess: the previous state
        self.problem.solve()
        snes = self.problem.solver
        reason = snes.getConvergedReason()
        # At the round-off floor the backtracking line search cannot lower ‖F‖ any further and
        # reports failure; a residual within 10× the absolute tolerance is converged there.
        at_floor = reason == -6 and snes.getFunctionNorm() < 10 * self._atol
        finite = self.comm.allreduce(bool(np.all(np.isfinite(self.x.x.array))), op=_land())
        return bool((reason > 0 or at_floor) and finite), int(snes.getIterationNumber())

    def advance(self, dt: float) -> tuple[bool, int, int, float]:
        """One step of Δτ from x_old by step doubling: a backward-Euler step of Δτ and two of
        Δτ/2, combined by Richardson extrapolation, x = 2 x_½ − x_1 (second order, and still
        exactly conservative: both solutions carry the same Li). Returns (converged, Newton
        iterations, backward-Euler solves, error estimate ‖x_½ − x_1‖∞); x_old is left as it
        was, x holds the extrapolated state.

        Why not plain backward Euler: the surface of a particle under a constant flux rises as
        √τ, and a backward-Euler step from rest undershoots that rise by 11.4 % whatever its
        size (the step is self-similar); the extrapolated step undershoots by 0.6 %, and by
        0.3 % over steps that double (spectral integral of the half-space response, measured
        against Crank's series in tests/test_fem.py). Autonomous problems only: the time
        constant ``t`` of a manufactured source is not advanced here.
        """
        start = self.x_old.x.array.copy()
        ok, its = self.solve_step(dt)
        solves = 1
        if not ok:
            return False, its, solves, math.inf
        full = self.x.x.array.copy()
        try:
            for _ in range(2):
                ok, more = self.solve_step(0.5 * dt)
                its += more
                solves += 1
                if not ok:
                    return False, its, solves, math.inf
                self.x_old.x.array[:] = self.x.x.array
        finally:
            self.x_old.x.array[:] = start
        half = self.x.x.array
        err = self.max_abs(half - full)
        half *= 2.0
        half -= full
        return True, its, solves, err

    def max_abs(self, array: np.ndarray) -> float:
        from mpi4py import MPI

        local = float(np.max(np.abs(array[: self._owned]))) if self._owned else 0.0
        return self.comm.allreduce(local, op=MPI.MAX)

    def gather_profile(self, func: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """(r_um, values) of a scalar Lagrange/DG function on rank 0, sorted by r."""
        imap = func.function_space.dofmap.index_map
        n = imap.size_local * func.function_space.dofmap.index_map_bs
        coords = func.function_space.tabulate_dof_coordinates()[:n, 0]
        parts = self.comm.gather((coords, func.x.array[:n].copy()), root=0)
        if self.comm.rank != 0:
            return None
        r = np.concatenate([p[0] for p in parts])
        v = np.concatenate([p[1] for p in parts])
        order = np.lexsort((v, r))
        return r[order], v[order]
