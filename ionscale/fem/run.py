"""Run one fem case from the handoff file: checks first, then mesh, solve and result files.

Every input error (a non-positive radius or C-rate, a Li fraction or cut-off voltage outside the
handoff's range, a temperature outside its table, a missing dataset) is raised by
:func:`check_inputs` before any mesh is built.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ionscale.fem.model import (
    FemInputError,
    ParticleCase,
    ParticleMaterial,
    SolverSettings,
    check_case_against_material,
)
from ionscale.provenance import Provenance

log = logging.getLogger("ionscale.fem")

#: files of a case directory fem/{case}/
CASE_FILES = {
    "solution": "solution.bp",
    "history": "history.h5",
    "summary": "summary.json",
    "voltage_plot": "voltage.png",
    "stress_plot": "stress.png",
}


def check_inputs(case: ParticleCase, settings: SolverSettings, parameters: Any) -> ParticleMaterial:
    """Validate case, settings and handoff parameters; return the material at the case's T.

    ``parameters`` is a :class:`ionscale.handoff.ContinuumParameters` or the path of a
    parameters.h5 (read here, so a missing dataset is reported before any meshing).
    """
    from ionscale.handoff import ContinuumParameters, read_parameters

    case.validate()
    settings.validate()
    if not isinstance(parameters, ContinuumParameters):
        parameters = read_parameters(parameters)
    material = ParticleMaterial.from_handoff(parameters, case.temperature_K, key=case.key)
    material.validate(source="handoff")
    check_case_against_material(case, material)
    return material


def run_case(
    case: ParticleCase,
    settings: SolverSettings,
    parameters: Any,
    outdir: str | Path,
    provenance: Provenance,
    comm: Any = None,
    files: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Solve one case and write ``outdir``/{solution.bp, history.h5, summary.json, plots}.

    Runs on every rank of ``comm`` (default COMM_WORLD); rank 0 writes the HDF5, JSON and PNG
    files, all ranks write solution.bp. Returns the summary (on every rank).
    """
    from mpi4py import MPI

    from ionscale.fem.output import (
        atomic_directory,
        plot_stress,
        plot_voltage,
        summarise,
        write_history,
        write_summary,
    )
    from ionscale.fem.solver import simulate

    comm = MPI.COMM_WORLD if comm is None else comm
    material = check_inputs(case, settings, parameters)
    outdir = Path(outdir)
    names = {**CASE_FILES, **(files or {})}
    paths = {k: outdir / v for k, v in names.items()}
    with atomic_directory(paths["solution"], comm) as tmp_bp:
        result = simulate(material, case, settings, comm=comm, vtx_path=tmp_bp)
    summary = summarise(result, case, settings, material)
    if comm.rank == 0:
        log.info(
            "%s: stop=%s capacity=%.4g mAh/cm3 steps=%d (rejected %d) dofs=%d ranks=%d %.2f s",
            case.name,
            result.stop_reason,
            summary["capacity_mAh_cm3"],
            result.n_steps,
            result.n_rejected,
            result.n_dofs,
            result.n_ranks,
            result.wall_time_s,
        )
        write_history(paths["history"], result, case, material, provenance)
        write_summary(paths["summary"], summary, provenance)
        import numpy as np

        x_ocv = np.linspace(*material.x_range, 401)
        title = (
            f"{case.name}: {case.c_rate:g}C {case.direction}, R = {case.radius_um:g} µm, "
            f"T = {case.temperature_K:g} K, i₀ = {case.exchange_current_density_A_m2:g} A/m²"
        )
        plot_voltage(
            paths["voltage_plot"],
            [(case.name, result.history)],
            (x_ocv, material.ocv_V(x_ocv)),
            title,
        )
        assert result.profiles is not None
        plot_stress(paths["stress_plot"], result.history, result.profiles, title)
    comm.barrier()
    return summary


def run_case_from_config(
    entry: Mapping[str, Any],
    solver_cfg: Mapping[str, Any],
    handoff: str | Path,
    outdir: str | Path,
    provenance: Provenance,
    comm: Any = None,
) -> dict[str, Any]:
    """:func:`run_case` from config dicts (``fem.cases[i]``, ``fem.solver``) and a file path."""
    case = ParticleCase.from_config(entry)
    settings = SolverSettings.from_config(solver_cfg)
    return run_case(case, settings, Path(handoff), outdir, provenance, comm=comm)


__all__ = ["CASE_FILES", "FemInputError", "check_inputs", "run_case", "run_case_from_config"]
