r"""DOLFINx solver of a spherical electrode particle: Li diffusion, Butler–Volmer, stress.

Geometry and mesh
-----------------
A sphere lithiated uniformly over its surface stays spherically symmetric, so the 3-D problem
is exactly a 1-D problem in r ∈ [0, R] with the volume element 4πr² dr: the weak forms below
carry the weight ξ² (ξ = r/R), and the mesh is an interval (``dolfinx.mesh.create_interval``)
whose coordinates are r in µm, graded towards the surface by r/R = 1 − (1 − s)^p. A 2-D
axisymmetric or 3-D mesh would give the same answer at a far higher cost (and needs gmsh).

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

F is solved by PETSc SNES (Newton with a backtracking line search, LU by MUMPS) through
``dolfinx.fem.petsc.NonlinearProblem``; the Jacobian is UFL's exact derivative.

Time step: adaptive. The local error of backward Euler is estimated against the linear
extrapolation x_p = xⁿ + Δτₙ(xⁿ − xⁿ⁻¹)/Δτₙ₋₁ as e ≈ Δτₙ/(Δτₙ + Δτₙ₋₁)·‖xⁿ⁺¹ − x_p‖∞;
a step with e > tol is repeated with a smaller Δτ, and Δτₙ₊₁ = Δτₙ·clip(0.9 (tol/e)^½, 0.2, 2).
A step whose Newton iteration fails is repeated with Δτ/4. Stop events (voltage at the cut-off,
mean x at the full capacity, surface x at the end of the handoff's x range) are located by
regula falsi on the step size, so the run ends on the event to a tolerance.

Terminal voltage: for a uniform galvanostatic current the surface flux is set by the current,
so the Butler–Volmer equation fixes the overpotential η algebraically from the current density
and i₀(x_s); V = OCV(x_s) + η (:func:`ionscale.fem.model.overpotential_V`).

Chemo-mechanics (quasi-static, small strain, isotropic; one-way coupled: stress does not feed
back into the Li flux)
-----------------------------------------------------------------------------------------------
Radial displacement u = R û(ξ); ε_r = ∂_ξû, ε_θ = û/ξ; chemical (linear) strain
β = Ω c_max (x − x₀)/3, stress-free at the initial state. With λ, G, K the Lamé constants and
bulk modulus (scaled by E)::

    σ_r = (λ + 2G) ε_r + 2λ ε_θ − 3Kβ,     σ_θ = λ ε_r + 2(λ + G) ε_θ − 3Kβ,
    ∂_ξσ_r + 2(σ_r − σ_θ)/ξ = 0,  û(0) = 0,  σ_r(1) = 0 (free surface).

Weak form (w(0) = 0)::

    ∫₀¹ [σ_r(û) ∂_ξw + 2 σ_θ(û) w/ξ] ξ² dξ = 0.

Von Mises stress of diag(σ_r, σ_θ, σ_θ) is |σ_r − σ_θ|. The stiffness matrix is assembled and
factorised once; each step assembles only the right-hand side.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# h5py must load its HDF5 before petsc4py loads PETSc's (dolfinx.fem.petsc): in the other order
# h5py fails with "Not a datatype" (measured with h5py 3.16 and dolfinx-solver-real 0.11).
import h5py  # noqa: F401
import numpy as np

from ionscale.fem.model import (
    ChebyshevFit,
    ParticleCase,
    ParticleMaterial,
    Scales,
    SolverSettings,
    capacity_mAh_cm3,
    exchange_current_density_A_m2,
    fit_chebyshev,
    intervals_below,
    overpotential_V,
)

_PREFIX_COUNTER = itertools.count()
log = logging.getLogger("ionscale.fem")

#: Tolerances of the stop events (the run ends within these of the event).
EVENT_TOLERANCES = {"cutoff_voltage": 1e-5, "full_capacity": 1e-7, "surface_at_x_range_end": 1e-7}
#: A located event may sit up to this many tolerances early when Newton fails just past it.
LOCATE_FALLBACK_TOLERANCES = 10.0


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


class RadialElasticity:
    """Linear elasticity of the sphere with the chemical strain of x (see module docstring)."""

    def __init__(self, diffusion: RadialDiffusion, material: ParticleMaterial, x0: float):
        import ufl
        from dolfinx import fem
        from dolfinx.fem.petsc import assemble_matrix, create_vector
        from petsc4py import PETSc

        self.diffusion = diffusion
        msh = diffusion.msh
        degree = diffusion.settings.displacement_degree
        self.W = fem.functionspace(msh, ("Lagrange", degree))
        self.u = fem.Function(self.W, name="displacement_over_R")
        nu = material.poisson_ratio
        lam = nu / ((1 + nu) * (1 - 2 * nu))  # scaled by E
        G = 1 / (2 * (1 + nu))
        three_K = 1 / (1 - 2 * nu)
        self.stress_scale_MPa = material.youngs_modulus_GPa * 1e3
        self.x0 = fem.Constant(msh, float(x0))
        # linear chemical strain β = Ω c_max (x − x₀) / 3
        self.strain_per_x = fem.Constant(
            msh, material.partial_molar_volume_m3_mol * material.c_max_mol_m3 / 3
        )
        xi, R = diffusion.xi, diffusion.R
        beta = self.strain_per_x * (diffusion.x - self.x0)

        def d(f: Any) -> Any:
            return R * f.dx(0)

        def stresses(u: Any, with_chemical: bool = True, safe: bool = False) -> tuple[Any, Any]:
            e_r = d(u)
            # at ξ = 0 (evaluation points only) û/ξ → ∂_ξû
            e_t = ufl.conditional(ufl.gt(xi, 1e-12), u / xi, e_r) if safe else u / xi
            s_r = (lam + 2 * G) * e_r + 2 * lam * e_t
            s_t = lam * e_r + 2 * (lam + G) * e_t
            if with_chemical:
                s_r, s_t = s_r - three_K * beta, s_t - three_K * beta
            return s_r, s_t

        w, du = ufl.TestFunction(self.W), ufl.TrialFunction(self.W)
        qdeg = 2 * degree + 4
        dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": qdeg})
        sr, st = stresses(du, with_chemical=False)
        a = (sr * d(w) + 2 * st * w / xi) * xi**2 * dx
        L = three_K * beta * (d(w) + 2 * w / xi) * xi**2 * dx
        tdim = msh.topology.dim
        from dolfinx import mesh

        centre = mesh.locate_entities_boundary(msh, tdim - 1, lambda p: np.isclose(p[0], 0.0))
        dofs = fem.locate_dofs_topological(self.W, tdim - 1, centre)
        self.bc = fem.dirichletbc(0.0, dofs, self.W)
        self.a = fem.form(a)
        self.L = fem.form(L)
        self.A = assemble_matrix(self.a, bcs=[self.bc])
        self.A.assemble()
        self.b = create_vector(self.W)
        self.ksp = PETSc.KSP().create(msh.comm)
        self.ksp.setOperators(self.A)
        self.ksp.setType("preonly")
        pc = self.ksp.getPC()
        pc.setType("lu")
        pc.setFactorSolverType("mumps")

        # stress fields (units of E) in a discontinuous space one degree below û
        sdeg = max(degree - 1, diffusion.settings.element_degree, 1)
        self.S = fem.functionspace(msh, ("DG", sdeg))
        sr_e, st_e = stresses(self.u, safe=True)
        self.fields = {
            "radial": (fem.Function(self.S, name="radial_stress_over_E"), sr_e),
            "hoop": (fem.Function(self.S, name="hoop_stress_over_E"), st_e),
            "von_mises": (fem.Function(self.S, name="von_mises_stress_over_E"), abs(sr_e - st_e)),
        }
        self._expressions = {
            k: fem.Expression(e, self.S.element.interpolation_points)
            for k, (_, e) in self.fields.items()
        }
        self._stress_ufl = {k: e for k, (_, e) in self.fields.items()}
        n = self.S.dofmap.index_map.size_local
        self._coords = self.S.tabulate_dof_coordinates()[:n, 0]
        self._n = n

    def solve(self) -> None:
        from dolfinx.fem.petsc import apply_lifting, assemble_vector, set_bc
        from petsc4py import PETSc

        with self.b.localForm() as b_local:
            b_local.set(0.0)
        assemble_vector(self.b, self.L)
        apply_lifting(self.b, [self.a], bcs=[[self.bc]])
        self.b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        set_bc(self.b, [self.bc])
        self.ksp.solve(self.b, self.u.x.petsc_vec)
        if self.ksp.getConvergedReason() <= 0:
            raise RuntimeError(
                f"elasticity solve failed (KSP reason {self.ksp.getConvergedReason()})"
            )
        self.u.x.scatter_forward()
        for key, (func, _) in self.fields.items():
            func.interpolate(self._expressions[key])

    def extremes(self) -> dict[str, float]:
        """Max/min of each stress (MPa) over the particle and where (r in µm); all ranks."""
        out: dict[str, float] = {}
        comm = self.diffusion.comm
        for key, (func, _) in self.fields.items():
            vals = func.x.array[: self._n] * self.stress_scale_MPa
            for kind, pick in (("max", np.argmax), ("min", np.argmin)):
                if key == "von_mises" and kind == "min":
                    continue
                local = (
                    (float(vals[pick(vals)]), float(self._coords[pick(vals)])) if self._n else None
                )
                cands = [c for c in comm.allgather(local) if c is not None]
                best = (max if kind == "max" else min)(cands, key=lambda c: (c[0], -c[1]))
                out[f"{kind}_{key}_stress_MPa"] = best[0]
                out[f"r_at_{kind}_{key}_stress_um"] = best[1]
        return out

    def point_stress(self, r_um: float) -> dict[str, float]:
        """Radial and hoop stress (MPa) at a mesh vertex (centre or surface); all ranks."""
        from mpi4py import MPI

        comm = self.diffusion.comm
        sel = np.flatnonzero(np.isclose(self._coords, r_um, rtol=0, atol=1e-12))
        out = {}
        for key in ("radial", "hoop"):
            func = self.fields[key][0]
            local = float(func.x.array[sel[0]]) * self.stress_scale_MPa if len(sel) else -math.inf
            out[key] = comm.allreduce(local, op=MPI.MAX)
        return out


@dataclass
class ParticleResult:
    """Outcome of :func:`simulate` (history on every rank, profiles on rank 0 only)."""

    history: dict[str, np.ndarray]
    stop_reason: str
    profiles: dict[str, np.ndarray] | None
    scales: Scales
    fit: ChebyshevFit
    clipped_intervals: list[list[float]]
    n_dofs: int
    n_dofs_displacement: int
    n_steps: int
    n_rejected: int
    n_newton: int
    n_solves: int
    wall_time_s: float
    n_ranks: int
    extra: dict[str, Any] = field(default_factory=dict)


class _History:
    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def add(self, **row: float) -> None:
        self.rows.append(row)

    def arrays(self) -> dict[str, np.ndarray]:
        keys = self.rows[0].keys()
        return {k: np.array([r[k] for r in self.rows], dtype=float) for k in keys}


def simulate(
    material: ParticleMaterial,
    case: ParticleCase,
    settings: SolverSettings,
    comm: Any = None,
    vtx_path: str | Path | None = None,
    fit: ChebyshevFit | None = None,
) -> ParticleResult:
    """Lithiate (or delithiate) the particle at the case's C-rate until a stop event.

    The case and material must already be validated (:func:`ionscale.fem.run.check_inputs`);
    this function builds the mesh and does the heavy work.
    """
    from mpi4py import MPI

    comm = MPI.COMM_WORLD if comm is None else comm
    start = time.perf_counter()
    fit = fit or fit_chebyshev(
        material.thermodynamic_factor, material.x_range, settings.fit_tolerance
    )
    clipped = intervals_below(fit, material.x_range, settings.min_thermodynamic_factor)
    if clipped and comm.rank == 0:
        log.warning(
            "thermodynamic factor below Θ_min = %g on x in %s (f'' < 0: a miscibility gap); "
            "D uses Θ_min there",
            settings.min_thermodynamic_factor,
            clipped,
        )
    scales = Scales.of(case, material)
    diff = RadialDiffusion(comm, settings, case.radius_um, fit)
    diff.J.value = scales.dimensionless_flux
    x0 = case.initial_li_fraction
    diff.set_uniform(x0)
    mech = RadialElasticity(diff, material, x0)
    t_d = scales.diffusion_time_s
    lo, hi = material.x_range
    # aim 2 event tolerances inside the range, so the located state can still be evaluated
    margin = 2 * EVENT_TOLERANCES["surface_at_x_range_end"]
    x_limit = hi - margin if case.sign > 0 else lo + margin
    fill_time = abs(case.final_li_fraction - x0) / (3 * abs(scales.dimensionless_flux))

    def complete(obs: Observation) -> Observation:
        """Voltage of a state (NaN where the surface left the handoff's x range)."""
        if lo - 1e-12 <= obs.surface_x <= hi + 1e-12:
            obs.ocv_V = float(material.ocv_V(np.array(obs.surface_x)))
            obs.i0_A_m2 = exchange_current_density_A_m2(
                obs.surface_x, case.exchange_current_density_A_m2, case.charge_transfer_coefficient
            )
            obs.overpotential_V = overpotential_V(
                scales.current_density_A_m2,
                obs.i0_A_m2,
                case.temperature_K,
                case.charge_transfer_coefficient,
            )
            obs.voltage_V = obs.ocv_V + obs.overpotential_V
        return obs

    def events(obs: Observation) -> dict[str, float]:
        """Event functions, ≥ 0 while the run may go on, in units of their tolerance."""
        g = {
            "full_capacity": case.sign * (case.final_li_fraction - obs.mean_x),
            "surface_at_x_range_end": case.sign * (x_limit - obs.surface_x),
        }
        if case.cutoff_voltage_V is not None:
            v = obs.voltage_V
            g["cutoff_voltage"] = (
                math.inf if math.isnan(v) else case.sign * (v - case.cutoff_voltage_V)
            )
        return {k: val / EVENT_TOLERANCES[k] for k, val in g.items()}

    history = _History()
    n_newton = 0

    def record(t: float, obs: Observation, dt: float, its: int) -> None:
        mech.solve()
        ext = mech.extremes()
        centre = mech.point_stress(0.0)
        surface = mech.point_stress(case.radius_um)
        history.add(
            time_s=t * t_d,
            time_step_s=dt * t_d,
            newton_iterations=its,
            mean_li_fraction=obs.mean_x,
            surface_li_fraction=obs.surface_x,
            centre_li_fraction=obs.centre_x,
            capacity_mAh_cm3=float(capacity_mAh_cm3(obs.mean_x - x0, material.c_max_mol_m3)),
            voltage_V=obs.voltage_V,
            ocv_surface_V=obs.ocv_V,
            ocv_mean_V=float(material.ocv_V(np.array(min(max(obs.mean_x, lo), hi)))),
            overpotential_V=obs.overpotential_V,
            exchange_current_density_A_m2=obs.i0_A_m2,
            surface_hoop_stress_MPa=surface["hoop"],
            surface_radial_stress_MPa=surface["radial"],
            centre_radial_stress_MPa=centre["radial"],
            centre_hoop_stress_MPa=centre["hoop"],
            **ext,
        )

    writer = None
    if vtx_path is not None:
        writer, _, write_frame = _open_vtx(diff, mech, vtx_path)
    try:
        t = 0.0
        obs = complete(diff.observe())
        record(t, obs, 0.0, 0)
        if writer is not None:
            write_frame(t * t_d)
        next_frame = fill_time / max(settings.output_frames, 1)

        tol = settings.time_step_tolerance
        dt = 1e-4 * fill_time
        dt_min = 1e-13 * fill_time
        dt_max = fill_time / 50  # enough points for the curves
        prev_delta: np.ndarray | None = None  # x^n − x^{n−1}
        dt_prev = 0.0
        n_steps = n_rejected = n_solves = 0
        stop_reason = ""
        g_old = events(obs)
        if min(g_old.values()) <= 1.0:
            # e.g. the overpotential of the current alone crosses the cut-off voltage
            stop_reason = min(g_old, key=lambda k: g_old[k])
            log.warning("%s: stop event %r already at t = 0", case.key, stop_reason)
        while not stop_reason:
            if n_steps >= settings.max_steps:
                raise RuntimeError(
                    f"{case.key}: no stop event after fem.solver.max_steps = {settings.max_steps} "
                    f"steps (t = {t * t_d:.4g} s, mean x = {obs.mean_x:.4f})"
                )
            dt = min(dt, dt_max)
            if dt < dt_min:
                raise RuntimeError(
                    f"{case.key}: time step fell below {dt_min * t_d:.3e} s at t = {t * t_d:.4g} s "
                    "(Newton keeps failing; check the handoff's f(x) and fem.solver settings)"
                )
            ok, its = diff.solve_step(dt)
            n_newton += its
            n_solves += 1
            if not ok:
                n_rejected += 1
                dt *= 0.25
                continue
            delta = diff.x.x.array - diff.x_old.x.array
            if prev_delta is None:
                err = 0.5 * diff.max_abs(delta)
            else:
                err = dt / (dt + dt_prev) * diff.max_abs(delta - dt / dt_prev * prev_delta)
            if err > tol:
                n_rejected += 1
                dt *= max(0.2, 0.9 * math.sqrt(tol / err))
                continue
            new = complete(diff.observe())
            g_new = events(new)
            located = min(g_new.values()) < -1.0
            if located:
                # an event lies inside this step: regula falsi (Illinois) on the step size
                dt, new, g_new, its_extra, solves = _locate_event(
                    diff, dt, g_old, g_new, complete, events
                )
                n_newton += its_extra
                n_solves += solves
                delta = diff.x.x.array - diff.x_old.x.array
            n_steps += 1
            t += dt
            obs = new
            record(t, obs, dt, its)
            # a located step ends on an event by construction (possibly a few tolerances early)
            hit = list(g_new) if located else [k for k, g in g_new.items() if g <= 1.0]
            if hit:
                stop_reason = min(hit, key=lambda k: g_new[k])
            if writer is not None and (t >= next_frame or stop_reason):
                write_frame(t * t_d)
                while next_frame <= t:
                    next_frame += fill_time / max(settings.output_frames, 1)
            factor = min(2.0, max(0.2, 0.9 * math.sqrt(tol / max(err, 1e-300))))
            prev_delta, dt_prev = delta.copy(), dt
            diff.x_old.x.array[:] = diff.x.x.array
            g_old = g_new
            dt = dt * factor
    finally:
        if writer is not None:
            writer.close()

    profiles = None
    pc = diff.gather_profile(diff.x)
    stress_profiles = {k: diff.gather_profile(f) for k, (f, _) in mech.fields.items()}
    disp = diff.gather_profile(mech.u)
    if comm.rank == 0:
        assert pc is not None and disp is not None
        r_s = stress_profiles["radial"][0]
        r_unique, inverse = np.unique(r_s, return_inverse=True)

        def vertex_mean(values: np.ndarray) -> np.ndarray:  # DG values at shared vertices
            return np.bincount(inverse, weights=values) / np.bincount(inverse)

        profiles = {
            "r_um": pc[0],
            "li_fraction": pc[1],
            "displacement_r_um": disp[0],
            "displacement_um": disp[1] * case.radius_um,
            "stress_r_um": r_unique,
            **{
                f"{k}_stress_MPa": vertex_mean(v[1]) * mech.stress_scale_MPa
                for k, v in stress_profiles.items()
                if v is not None
            },
        }
    return ParticleResult(
        history=history.arrays(),
        stop_reason=stop_reason,
        profiles=profiles,
        scales=scales,
        fit=fit,
        clipped_intervals=clipped,
        n_dofs=diff.n_dofs,
        n_dofs_displacement=mech.W.dofmap.index_map.size_global,
        n_steps=n_steps,
        n_rejected=n_rejected,
        n_newton=n_newton,
        n_solves=n_solves,
        wall_time_s=time.perf_counter() - start,
        n_ranks=comm.size,
    )


def _locate_event(
    diff: RadialDiffusion,
    dt_hi: float,
    g_lo: dict[str, float],
    g_hi: dict[str, float],
    complete: Callable[[Observation], Observation],
    events: Callable[[Observation], dict[str, float]],
) -> tuple[float, Observation, dict[str, float], int, int]:
    """Step size at which the first event function reaches 0 (within its tolerance).

    G(Δτ) = min over events of g/tol is ≥ 0 at Δτ = 0 and < −1 at ``dt_hi``; Illinois regula
    falsi finds Δτ with −1 ≤ G ≤ 1 (each evaluation is one backward-Euler solve from xⁿ).
    """
    lo, hi = 0.0, dt_hi
    G_lo, G_hi = min(g_lo.values()), min(g_hi.values())
    G_lo_true = G_lo  # G at lo (the Illinois step halves the G_lo it uses for the secant)
    its_total = 0
    side = 0
    n = 0
    while n < 60 and hi - lo > 4 * np.spacing(hi):
        n += 1
        trial = (lo * G_hi - hi * G_lo) / (G_hi - G_lo)
        if not lo < trial < hi:
            trial = 0.5 * (lo + hi)
        ok, its = diff.solve_step(trial)
        its_total += its
        if not ok:  # a smaller step is always easier: bisect from below
            hi, G_hi = trial, -2.0
            continue
        obs = complete(diff.observe())
        g = events(obs)
        G = min(g.values())
        if -1.0 <= G <= 1.0:
            return trial, obs, g, its_total, n
        if G > 0:
            lo, G_lo, G_lo_true = trial, G, G
            if side == +1:
                G_hi *= 0.5
            side = +1
        else:
            hi, G_hi = trial, G
            if side == -1:
                G_lo *= 0.5
            side = -1
    # The bracket closed on a step size where Newton stops converging (e.g. the surface just
    # reaching the end of Θ's fit range, where the clamp has a kink) or 60 solves ran out. If
    # the state at the lower end is within a few tolerances of the event, it is the event.
    if lo > 0 and G_lo_true <= LOCATE_FALLBACK_TOLERANCES:
        ok, its = diff.solve_step(lo)
        its_total += its
        if ok:
            obs = complete(diff.observe())
            g = events(obs)
            log.info(
                "stop event taken at %.3g tolerances (Newton fails beyond this step size)",
                min(g.values()),
            )
            return lo, obs, g, its_total, n + 1
    raise RuntimeError(
        f"stop event not located within {n} solves (step in [{lo}, {hi}], event function "
        f"{G_lo_true:.3g} tolerances at the lower end)"
    )


def _open_vtx(diff: RadialDiffusion, mech: RadialElasticity, path: str | Path) -> tuple:
    """VTX (ADIOS2) writer of x, displacement and stresses in one Lagrange space (ParaView)."""
    from dolfinx import fem
    from dolfinx.io import VTXWriter

    degree = max(diff.settings.element_degree, diff.settings.displacement_degree)
    P = fem.functionspace(diff.msh, ("Lagrange", degree))
    names = {
        "x": "Li_fraction",
        "u": "displacement_um",
        "radial": "radial_stress_MPa",
        "hoop": "hoop_stress_MPa",
        "von_mises": "von_mises_stress_MPa",
    }
    funcs = {k: fem.Function(P, name=n) for k, n in names.items()}
    exprs = {
        "u": fem.Expression(mech.u * diff.R, P.element.interpolation_points),
        **{
            k: fem.Expression(e * mech.stress_scale_MPa, P.element.interpolation_points)
            for k, e in mech._stress_ufl.items()
        },
    }
    writer = VTXWriter(diff.comm, str(path), list(funcs.values()), engine="BP4")

    def write_frame(time_s: float) -> None:
        funcs["x"].interpolate(diff.x)
        for k, e in exprs.items():
            funcs[k].interpolate(e)
        writer.write(time_s)

    return writer, funcs, write_frame
