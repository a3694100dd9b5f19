"""The one place where the surrogate stage calls the continuum solvers.

A sweep case is the stage's *base case* (an entry of ``phasefield.cases`` / ``fem.cases``) with
the swept keys replaced by the design's values; it is run with the stage's own ``run_case`` and
written in the stage's own file layout (fields.h5 / history.h5 + summary.json) into the case's
``solver/`` directory, so every tool that reads a stage's case reads a sweep case too. All cases
of a sweep keep the base case's seed: the initial noise is the same realisation in every case,
so the outputs are a deterministic function of the swept parameters (what a GP models).

The wall time of a case is measured in the same job around the reading of the handoff file and
the stage's ``run_case`` call (set-up, time stepping, solves, result files and plots; not the
Python start-up and imports), and recorded in ``case.json``.

A case's config entry and its record come from :mod:`~ionscale.surrogate.cases` (shared with the
study code, which imports this module and never the other way round).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.provenance import Provenance
from ionscale.surrogate.cases import (
    FIXED_CASE_KEYS,
    base_case_entry,
    case_entry,
    check_swept_keys,
    design_case,
    scalar_outputs,
)
from ionscale.surrogate.design import SurrogateInputError
from ionscale.surrogate.field import Trajectory

__all__ = [
    "FIXED_CASE_KEYS",
    "RUNNERS",
    "TRAJECTORY_READERS",
    "CaseRun",
    "base_case_entry",
    "case_entry",
    "check_swept_keys",
    "read_phasefield_trajectory",
    "run_case",
    "run_study_case",
]


@dataclass(frozen=True)
class CaseRun:
    """What a solver adapter returns: the stage's summary and the measured wall time."""

    summary: dict[str, Any]
    wall_time_s: float
    files: dict[str, str]


# -- phasefield ---------------------------------------------------------------------------------
def _run_phasefield(
    stage_cfg: Mapping[str, Any],
    entry: Mapping[str, Any],
    handoff: Path,
    outdir: Path,
    provenance: Provenance,
    master_seed: int,
    threads: int,
) -> CaseRun:
    from ionscale.handoff import read_parameters
    from ionscale.phasefield.cahn_hilliard import CahnHilliardCase, SolverSettings, run_case

    files = {"fields": "fields.h5", "summary": "summary.json"}
    t0 = time.perf_counter()
    summary = run_case(
        CahnHilliardCase.from_config(entry),
        SolverSettings.from_config(stage_cfg["solver"]),
        read_parameters(handoff),
        outdir / files["fields"],
        outdir / files["summary"],
        provenance,
        master_seed=master_seed,
        threads=threads,
    )
    return CaseRun(dict(summary), time.perf_counter() - t0, files)


# -- fem ----------------------------------------------------------------------------------------
def _run_fem(
    stage_cfg: Mapping[str, Any],
    entry: Mapping[str, Any],
    handoff: Path,
    outdir: Path,
    provenance: Provenance,
    master_seed: int,
    threads: int,
) -> CaseRun:
    """One fem case in this process (one MPI rank; the sweep parallelises over cases)."""
    import mpi4py.MPI  # noqa: F401  (before DOLFINx)

    from ionscale.fem.run import CASE_FILES, run_case_from_config
    from ionscale.fem.solver import simulate  # noqa: F401  (import DOLFINx before the timer)

    t0 = time.perf_counter()
    summary = run_case_from_config(entry, stage_cfg["solver"], handoff, outdir, provenance)
    return CaseRun(dict(summary), time.perf_counter() - t0, dict(CASE_FILES))


def read_phasefield_trajectory(solver_dir: Path, params: Any, name: str = "") -> Trajectory:
    """Snapshots of c and their times in units of t₀ = (1 nm)²/D(T) from a case's fields.h5.

    Time in t₀ is the phase-field model's own clock (D(T) only sets t₀), so trajectories at
    different temperatures are comparable.
    """
    import h5py

    path = Path(solver_dir) / "fields.h5"
    if not path.exists():
        raise SurrogateInputError(f"{path}: missing (phasefield case output)")
    with h5py.File(path, "r") as h5:
        if "snapshots/c" not in h5 or "snapshots/time_s" not in h5:
            raise SurrogateInputError(f"{path}: no snapshots/c and snapshots/time_s datasets")
        snaps = h5["snapshots/c"][()]
        t_s = h5["snapshots/time_s"][()]
        t0_s = float(h5.attrs["time_unit_t0_s"])
    return Trajectory(times=t_s / t0_s, snapshots=snaps, params=np.asarray(params), name=name)


#: solver name → function running one case.
RUNNERS: dict[str, Callable[..., CaseRun]] = {"phasefield": _run_phasefield, "fem": _run_fem}
#: solver name → reader of a case's snapshot trajectory (field surrogate).
TRAJECTORY_READERS: dict[str, Callable[..., Trajectory]] = {
    "phasefield": read_phasefield_trajectory
}


def run_case(
    solver: str,
    stage_cfg: Mapping[str, Any],
    entry: Mapping[str, Any],
    handoff: str | Path,
    outdir: str | Path,
    provenance: Provenance,
    master_seed: int,
    threads: int = 1,
) -> CaseRun:
    """Run one case of ``solver`` (a stage name) and write its files into ``outdir``."""
    if solver not in RUNNERS:
        raise SurrogateInputError(
            f"solver {solver!r}: no adapter; available: {', '.join(sorted(RUNNERS))}"
        )
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return RUNNERS[solver](
        stage_cfg, entry, Path(handoff), outdir, provenance, master_seed, threads
    )


def run_study_case(
    design: Mapping[str, Any],
    case: str,
    stage_cfg: Mapping[str, Any],
    handoff: str | Path,
    solver_dir: str | Path,
    provenance: Provenance,
    master_seed: int,
    threads: int = 1,
) -> dict[str, Any]:
    """Run one row of a ``design.json`` and return the content of its ``case.json``."""
    solver = design["solver"]
    record = design_case(design, case)
    key = (
        "surrogate.bo.base_case"
        if design["study"].startswith("bo/")
        else (f"surrogate.{solver}.base_case")
    )
    base = base_case_entry(stage_cfg, solver, design["base_case"], key)
    name = f"surrogate-{design['study'].replace('/', '-')}-{case}"
    entry = case_entry(base, record["parameters"], name)
    run = run_case(solver, stage_cfg, entry, handoff, solver_dir, provenance, master_seed, threads)
    return {
        "case": case,
        "study": design["study"],
        "solver": solver,
        "round": design.get("round", 0),
        "parameters": record["parameters"],
        "case_config": entry,
        "outputs": scalar_outputs(run.summary),
        "solver_wall_time_s": run.wall_time_s,
        "solver_dir": Path(solver_dir).name,
        "solver_files": run.files,
    }
