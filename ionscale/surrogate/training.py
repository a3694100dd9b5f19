"""Training the surrogates of a sweep from its case records.

- :func:`fit_scalar_target`: the Gaussian-process surrogate of one scalar output, scored on
  held-out cases (R², MAE, interval coverage) with its measured speed-up
  (:mod:`~ionscale.surrogate.scalar`);
- :func:`fit_field_surrogate`: the field surrogate on the cases' snapshot trajectories
  (:mod:`~ionscale.surrogate.field`), read through the solver's trajectory reader;
- :func:`save_model`: a fitted surrogate pickled with joblib.

A target that no case reports is an error naming its config key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.surrogate.cases import CaseResult, parameter_matrix, target_vector
from ionscale.surrogate.design import ParameterSpace, SurrogateInputError
from ionscale.surrogate.solvers import TRAJECTORY_READERS


def fit_scalar_target(
    cases: Sequence[CaseResult],
    space: ParameterSpace,
    output: str,
    *,
    key: str,
    test_fraction: float,
    level: float,
    log_target: bool,
    seed: int,
    n_restarts: int,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Train and score the GP surrogate of one output of a sweep.

    Cases whose summary does not report the output (a quantity that is undefined for them,
    e.g. the time to phase separation of a case that never separates) are left out and listed
    in the metrics; a target no case reports is an error naming ``key``.
    """
    from ionscale.surrogate.scalar import (
        coverage_curve,
        prediction_time_per_case_s,
        speedup,
        train_scalar_surrogate,
    )

    reporting = [c for c in cases if output in c.outputs]
    if not reporting:
        target_vector(cases, output, key)  # raises, listing what the cases do report
    excluded = [c.name for c in cases if output not in c.outputs]
    x = parameter_matrix(reporting, space)
    y = target_vector(reporting, output, key)
    model, metrics, arrays = train_scalar_surrogate(
        space,
        x,
        y,
        name=output,
        test_fraction=test_fraction,
        seed=seed,
        level=level,
        log_target=log_target,
        n_restarts=n_restarts,
        where=f"{key} ({output}, {len(reporting)} of {len(cases)} cases report it)",
    )
    x_test = x[arrays["test_index"]]
    timing = prediction_time_per_case_s(model, x_test)
    levels = np.linspace(0.05, 0.99, 20)
    metrics.update(
        target=output,
        parameters=space.describe(),
        n_cases=len(cases),
        excluded_cases=excluded,
        train_cases=[reporting[i].name for i in arrays["train_index"]],
        test_cases=[reporting[i].name for i in arrays["test_index"]],
        speedup=speedup([c.solver_wall_time_s for c in cases], timing),
        coverage_curve={
            "levels": levels.tolist(),
            "coverage": coverage_curve(model, x_test, arrays["y_test"], levels),
        },
    )
    return model, metrics, arrays


def save_model(path: str | Path, model: Any) -> Path:
    """Pickle a fitted surrogate with joblib, atomically (load with ``joblib.load``; the
    ``ionscale`` package must be importable)."""
    import joblib

    from ionscale.io import atomic_path

    with atomic_path(path) as tmp:
        joblib.dump(model, tmp)
    return Path(path)


def fit_field_surrogate(
    cases: Sequence[CaseResult],
    space: ParameterSpace,
    solver: str,
    *,
    test_fraction: float,
    n_components: int,
    isotropic: bool,
    seed: int,
    n_restarts: int,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Train the field surrogate on the snapshot trajectories of a sweep's cases.

    Returns the model, its metrics (held-out trajectory errors, measured speed-up of a
    rollout against the solver's wall time per case) and the arrays of one held-out
    trajectory for the report figure.
    """
    import time

    from ionscale.surrogate.field import train_field_surrogate
    from ionscale.surrogate.scalar import speedup

    key = f"surrogate.{solver}.field_surrogate"
    if solver not in TRAJECTORY_READERS:
        raise SurrogateInputError(f"{key}: the {solver} stage writes no snapshot trajectories")
    x = parameter_matrix(cases, space)
    trajectories = []
    for case, params in zip(cases, x, strict=True):
        if case.solver_dir is None:
            raise SurrogateInputError(f"{case.path}: no solver directory recorded")
        trajectories.append(TRAJECTORY_READERS[solver](case.solver_dir, params, case.name))
    model, metrics = train_field_surrogate(
        space,
        trajectories,
        test_fraction=test_fraction,
        n_components=n_components,
        seed=seed,
        n_restarts=n_restarts,
        isotropic=isotropic,
        where=f"surrogate.{solver}.n_samples",
    )
    test_names = {e["case"] for e in metrics["test"]}
    held = [t for t in trajectories if t.name in test_names]
    example = held[0]
    # measured: one rollout (prediction of a whole trajectory) per held-out case, best of 3
    times = []
    for traj in held:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            model.rollout(traj.snapshots[0], traj.params, traj.times)
            best = min(best, time.perf_counter() - t0)
        times.append(best)
    per_case = float(np.median(times))
    metrics["speedup"] = speedup(
        [c.solver_wall_time_s for c in cases],
        {"single_case_s": per_case, "batched_case_s": per_case},
    )
    metrics["parameters"] = space.describe()
    truth = example.statistics(isotropic)
    pred = model.rollout(example.snapshots[0], example.params, example.times)
    plot = {
        "r_px": np.arange(truth.shape[1]) if isotropic else None,
        "truth": truth,
        "pred": pred,
        "times": example.times,
        "case": example.name,
    }
    return model, metrics, plot
