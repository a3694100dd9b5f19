r"""Diffusion-induced stress in a spherical particle: linear elasticity with a chemical strain.

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

import math
from typing import Any

import numpy as np

from ionscale.fem.model import ParticleMaterial
from ionscale.fem.transport import RadialDiffusion  # imports h5py before PETSc


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
