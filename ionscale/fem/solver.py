r"""DOLFINx solver of a spherical electrode particle: Li diffusion, Butler–Volmer, stress.

:func:`simulate` runs one case in phases, each in its own module with the equations it
implements written above the code:

1. :mod:`ionscale.fem.transport`: geometry and mesh, the strong and weak form of Li transport,
   its backward-Euler discretisation, the Newton solve of one step and the extrapolated step
   (:class:`RadialDiffusion`);
2. :mod:`ionscale.fem.mechanics`: the chemo-mechanical stress, strong and weak form
   (:class:`RadialElasticity`);
3. :mod:`ionscale.fem.stepping`: the time loop with its adaptive step;
4. :mod:`ionscale.fem.events`: the terminal voltage, the stop events and their location by
   regula falsi on the step size;
5. :mod:`ionscale.fem.results`: the per-step history, the final profiles, the VTX frames
   (:class:`ParticleResult`).

Every name that was importable from this module still is.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

# h5py must load its HDF5 before petsc4py loads PETSc's (dolfinx.fem.petsc): in the other order
# h5py fails with "Not a datatype" (measured with h5py 3.16 and dolfinx-solver-real 0.11).
import h5py  # noqa: F401

from ionscale.fem.events import (
    EVENT_TOLERANCES,
    LOCATE_FALLBACK_TOLERANCES,
    StopEvents,
    locate_event,
)
from ionscale.fem.mechanics import RadialElasticity
from ionscale.fem.model import (
    ChebyshevFit,
    ParticleCase,
    ParticleMaterial,
    Scales,
    SolverSettings,
    fit_thermodynamic_factor,
    intervals_below,
)
from ionscale.fem.results import ParticleResult, StepHistory, gather_profiles, open_vtx
from ionscale.fem.stepping import run_time_loop
from ionscale.fem.transport import (
    Observation,
    RadialDiffusion,
    chebyshev_ufl,
    create_radial_mesh,
    newton_options,
)

__all__ = [
    "EVENT_TOLERANCES",
    "LOCATE_FALLBACK_TOLERANCES",
    "Observation",
    "ParticleResult",
    "RadialDiffusion",
    "RadialElasticity",
    "StopEvents",
    "chebyshev_ufl",
    "create_radial_mesh",
    "locate_event",
    "newton_options",
    "simulate",
]

log = logging.getLogger("ionscale.fem")


def thermodynamic_factor_fit(
    material: ParticleMaterial, settings: SolverSettings, comm: Any, fit: ChebyshevFit | None
) -> tuple[ChebyshevFit, list[list[float]]]:
    """The Chebyshev form of Θ(x) (``fit`` if given) and the x intervals where Θ < Θ_min."""
    fit = fit or fit_thermodynamic_factor(
        material.thermodynamic_factor,
        material.x_range,
        settings.fit_tolerance,
        settings.min_thermodynamic_factor,
    )
    clipped = intervals_below(fit, material.x_range, settings.min_thermodynamic_factor)
    if clipped and comm.rank == 0:
        log.warning(
            "thermodynamic factor below Θ_min = %g on x in %s (f'' < 0: a miscibility gap); "
            "D uses Θ_min there",
            settings.min_thermodynamic_factor,
            clipped,
        )
    return fit, clipped


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
    fit, clipped = thermodynamic_factor_fit(material, settings, comm, fit)
    scales = Scales.of(case, material)

    # the discrete problems, at the uniform initial state
    diff = RadialDiffusion(comm, settings, case.radius_um, fit)
    diff.J.value = scales.dimensionless_flux
    x0 = case.initial_li_fraction
    diff.set_uniform(x0)
    mech = RadialElasticity(diff, material, x0)

    # the time loop, to the first stop event
    t_d = scales.diffusion_time_s
    fill_time = abs(case.final_li_fraction - x0) / (3 * abs(scales.dimensionless_flux))
    stops = StopEvents(case, material, scales)
    history = StepHistory(mech, case, material, t_d)
    writer = write_frame = None
    if vtx_path is not None:
        writer, _, write_frame = open_vtx(diff, mech, vtx_path)
    try:
        loop = run_time_loop(
            diff, stops, history.record, settings, case.key, fill_time, t_d, write_frame
        )
    finally:
        if writer is not None:
            writer.close()

    # the result
    profiles = gather_profiles(diff, mech, case)
    return ParticleResult(
        history=history.arrays(),
        stop_reason=loop.stop_reason,
        profiles=profiles,
        scales=scales,
        fit=fit,
        clipped_intervals=clipped,
        n_dofs=diff.n_dofs,
        n_dofs_displacement=mech.W.dofmap.index_map.size_global,
        n_steps=loop.n_steps,
        n_rejected=loop.n_rejected,
        n_newton=loop.n_newton,
        n_solves=loop.n_solves,
        wall_time_s=time.perf_counter() - start,
        n_ranks=comm.size,
    )
