"""What a particle run returns: the per-step history, the final profiles, the VTX frames.

:class:`StepHistory` records the scalars of each accepted state (it solves the elasticity of
that state first); :func:`gather_profiles` collects the final radial profiles on rank 0;
:func:`open_vtx` writes the fields for ParaView. The result files themselves are written by
:mod:`ionscale.fem.output`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.fem.mechanics import RadialElasticity
from ionscale.fem.model import (
    ChebyshevFit,
    ParticleCase,
    ParticleMaterial,
    Scales,
    capacity_mAh_cm3,
)
from ionscale.fem.transport import Observation, RadialDiffusion


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


class StepHistory:
    """Scalars of every recorded state (dimensional), one row per call of :meth:`record`."""

    def __init__(
        self, mech: RadialElasticity, case: ParticleCase, material: ParticleMaterial, t_d: float
    ) -> None:
        self.rows: list[dict[str, float]] = []
        self.mech = mech
        self.case = case
        self.material = material
        self.t_d = t_d
        self.x0 = case.initial_li_fraction

    def record(self, t: float, obs: Observation, dt: float, its: int) -> None:
        """Solve the elasticity of the state ``obs`` at τ = ``t`` and append its row."""
        lo, hi = self.material.x_range
        self.mech.solve()
        ext = self.mech.extremes()
        centre = self.mech.point_stress(0.0)
        surface = self.mech.point_stress(self.case.radius_um)
        self.rows.append(
            dict(
                time_s=t * self.t_d,
                time_step_s=dt * self.t_d,
                newton_iterations=its,
                mean_li_fraction=obs.mean_x,
                surface_li_fraction=obs.surface_x,
                centre_li_fraction=obs.centre_x,
                capacity_mAh_cm3=float(
                    capacity_mAh_cm3(obs.mean_x - self.x0, self.material.c_max_mol_m3)
                ),
                voltage_V=obs.voltage_V,
                ocv_surface_V=obs.ocv_V,
                ocv_mean_V=float(self.material.ocv_V(np.array(min(max(obs.mean_x, lo), hi)))),
                overpotential_V=obs.overpotential_V,
                exchange_current_density_A_m2=obs.i0_A_m2,
                surface_hoop_stress_MPa=surface["hoop"],
                surface_radial_stress_MPa=surface["radial"],
                centre_radial_stress_MPa=centre["radial"],
                centre_hoop_stress_MPa=centre["hoop"],
                **ext,
            )
        )

    def arrays(self) -> dict[str, np.ndarray]:
        keys = self.rows[0].keys()
        return {k: np.array([r[k] for r in self.rows], dtype=float) for k in keys}


def gather_profiles(
    diff: RadialDiffusion, mech: RadialElasticity, case: ParticleCase
) -> dict[str, np.ndarray] | None:
    """Radial profiles of x, displacement and stresses (rank 0; None on the other ranks)."""
    profiles = None
    pc = diff.gather_profile(diff.x)
    stress_profiles = {k: diff.gather_profile(f) for k, (f, _) in mech.fields.items()}
    disp = diff.gather_profile(mech.u)
    if diff.comm.rank == 0:
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
    return profiles


def open_vtx(diff: RadialDiffusion, mech: RadialElasticity, path: str | Path) -> tuple:
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
