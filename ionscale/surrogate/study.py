"""Sweeps and optimisation studies as files: config checks, designs, case records.

The workflow runs a study in three kinds of steps, each a Snakemake job:

1. a *design* — ``design.json`` lists the cases of a sweep, of the grid a Bayesian optimisation
   is compared with, or of one optimisation round, each with the values of the swept
   parameters (one case config per job: the case job picks its row);
2. one *case* per row — the solver runs with the base case's settings, the swept keys replaced,
   and ``case.json`` records the parameters, the scalar outputs of the solver's summary and the
   solver's wall time measured around the call;
3. the *training* (or the next optimisation round) — reads every ``case.json`` of the study.

This module holds the file formats and the checks that name the config key of a bad input
before any solver runs (empty or reversed bounds, fewer cases than a surrogate needs, an
objective that is not a swept parameter) or before training (a target that no case reports).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.surrogate.bo import BOProblem, Constraint, Evaluation, Objective
from ionscale.surrogate.design import ParameterSpace, SurrogateInputError
from ionscale.surrogate.scalar import MIN_TEST_CASES, min_cases

#: Stages whose cases can be swept.
SWEEP_SOLVERS = ("phasefield", "fem")


def case_names(n: int) -> list[str]:
    """Names of the ``n`` cases of a design: c000, c001, …"""
    return [f"c{i:03d}" for i in range(n)]


def n_held_out(n: int, test_fraction: float) -> int:
    """Cases held out of training for a sweep of ``n`` cases."""
    return max(MIN_TEST_CASES, round(test_fraction * n))


def min_sweep_size(dim: int, test_fraction: float) -> int:
    """Smallest sweep that leaves a GP over ``dim`` parameters enough training cases."""
    n = min_cases(dim) + MIN_TEST_CASES
    while n - n_held_out(n, test_fraction) < min_cases(dim):
        n += 1
    return n


def target_name(solver: str, output: str) -> str:
    """Directory name of a scalar surrogate: ``<solver>-<output>``."""
    return f"{solver}-{output}"


def sweep_space(cfg: Mapping[str, Any], solver: str) -> ParameterSpace:
    """The parameter box of ``surrogate.<solver>`` (bounds checked, errors name the key)."""
    return ParameterSpace.from_config(
        cfg["surrogate"][solver]["parameters"], f"surrogate.{solver}.parameters"
    )


def bo_problem(cfg: Mapping[str, Any]) -> BOProblem:
    """The optimisation problem of ``surrogate.bo`` (checked, errors name the key)."""
    bo = cfg["surrogate"]["bo"]
    space = ParameterSpace.from_config(bo["parameters"], "surrogate.bo.parameters")
    obj = bo["objective"]
    if bool(obj["parameter"]) == bool(obj["output"]):
        raise SurrogateInputError(
            "surrogate.bo.objective: set exactly one of 'parameter' and 'output' "
            f"(got parameter={obj['parameter']!r}, output={obj['output']!r})"
        )
    objective = (
        Objective(obj["parameter"], "parameter", obj["maximize"])
        if obj["parameter"]
        else Objective(obj["output"], "output", obj["maximize"])
    )
    constraints = []
    for i, c in enumerate(bo["constraints"]):
        if not c["output"]:
            raise SurrogateInputError(f"surrogate.bo.constraints[{i}].output: empty output name")
        if c.get("upper") is None and c.get("lower") is None:
            raise SurrogateInputError(
                f"surrogate.bo.constraints[{i}]: set upper and/or lower for {c['output']!r}"
            )
        try:
            constraints.append(Constraint(c["output"], c.get("upper"), c.get("lower")))
        except SurrogateInputError as exc:
            raise SurrogateInputError(f"surrogate.bo.constraints[{i}]: {exc}") from None
    return BOProblem(space, objective, constraints, key="surrogate.bo")


def _check_stage(
    cfg: Mapping[str, Any], solver: str, base_case: str, space: ParameterSpace, key: str
) -> None:
    """The swept stage is in the config, has the base case, and the swept keys are its keys."""
    from ionscale.surrogate.solvers import RUNNERS, base_case_entry, check_swept_keys

    if solver not in RUNNERS or solver not in cfg:
        raise SurrogateInputError(
            f"{key}: the {solver} stage is not part of this workflow (no '{solver}' config "
            "section or no solver adapter); set n_samples to 0 / enabled to false"
        )
    base = base_case_entry(cfg[solver], solver, base_case, f"{key}.base_case")
    check_swept_keys(base, space.names, solver, f"{key}.parameters")


def summary_scalars(solver: str) -> tuple[str, ...]:
    """The scalar outputs a ``solver`` case's summary.json holds (the stage's own contract)."""
    if solver == "fem":
        from ionscale.fem.output import SUMMARY_SCALARS
    else:
        from ionscale.phasefield.cahn_hilliard import SUMMARY_SCALARS
    return SUMMARY_SCALARS


def check_config(cfg: Mapping[str, Any]) -> None:
    """Check every surrogate setting that can be checked before a solver runs.

    Raises :class:`SurrogateInputError` listing each problem with its dotted config key.
    """
    s = cfg["surrogate"]
    problems: list[str] = []
    for solver in SWEEP_SOLVERS:
        sweep = s[solver]
        key = f"surrogate.{solver}"
        if sweep["n_samples"] == 0:
            continue
        try:
            space = sweep_space(cfg, solver)
            _check_stage(cfg, solver, sweep["base_case"], space, key)
        except SurrogateInputError as exc:
            problems.append(str(exc))
            continue
        n = sweep["n_samples"]
        n_test = n_held_out(n, s["test_fraction"])
        if sweep["targets"] and n - n_test < min_cases(space.dim):
            problems.append(
                f"{key}.n_samples: {n} cases are fewer than the surrogates need: "
                f"{min_cases(space.dim)} to train a GP over {space.dim} parameter(s) + "
                f"{n_test} held out (test_fraction={s['test_fraction']}); set n_samples ≥ "
                f"{min_sweep_size(space.dim, s['test_fraction'])}"
            )
        if sweep.get("field_surrogate") and n - n_test < 2:
            problems.append(
                f"{key}.n_samples: the field surrogate needs ≥ 2 training trajectories and "
                f"{n_test} held out; {n} cases are too few"
            )
        unknown = [t for t in sweep["targets"] if t not in summary_scalars(solver)]
        if unknown:
            problems.append(
                f"{key}.targets: {', '.join(map(repr, unknown))} not an output of the {solver} "
                f"summary; outputs: {', '.join(summary_scalars(solver))}"
            )
        extra = sorted(set(sweep["log_targets"]) - set(sweep["targets"]))
        if extra:
            problems.append(f"{key}.log_targets: {', '.join(extra)} not in {key}.targets")
        dup = sorted({t for t in sweep["targets"] if sweep["targets"].count(t) > 1})
        if dup:
            problems.append(f"{key}.targets: repeated {', '.join(dup)}")
        if not (sweep["targets"] or sweep.get("field_surrogate")):
            problems.append(
                f"{key}: a sweep of {n} cases with no targets"
                + (" and no field surrogate" if solver == "phasefield" else "")
                + " trains nothing; list targets or set n_samples to 0"
            )
    if s["bo"]["enabled"]:
        try:
            problem = bo_problem(cfg)
            _check_stage(
                cfg, s["bo"]["solver"], s["bo"]["base_case"], problem.space, "surrogate.bo"
            )
            outputs = [(".objective.output", problem.objective.name)] * (
                problem.objective.kind == "output"
            ) + [(f".constraints[{i}].output", c.output) for i, c in enumerate(problem.constraints)]
            for where, name in outputs:
                if name not in summary_scalars(s["bo"]["solver"]):
                    problems.append(
                        f"surrogate.bo{where}: {name!r} is not an output of the "
                        f"{s['bo']['solver']} summary; outputs: "
                        f"{', '.join(summary_scalars(s['bo']['solver']))}"
                    )
            if problem.objective.kind == "parameter" and not problem.constraints:
                problems.append(
                    "surrogate.bo.constraints: optimising a parameter with no constraint has "
                    "the trivial answer at its bound; add a constraint on an output"
                )
        except SurrogateInputError as exc:
            problems.append(str(exc))
    if problems:
        raise SurrogateInputError("invalid surrogate config:\n  " + "\n  ".join(problems))


# -- designs ------------------------------------------------------------------------------------
def design_payload(
    *,
    study: str,
    solver: str,
    base_case: str,
    space: ParameterSpace,
    x: Any,
    method: str,
    seed: int | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of a ``design.json``: the box, the method and one record per case."""
    records = space.as_records(x)
    return {
        "study": study,
        "solver": solver,
        "base_case": base_case,
        "method": method,
        "seed": seed,
        "parameter_space": space.describe(),
        "cases": [
            {"case": name, "parameters": rec}
            for name, rec in zip(case_names(len(records)), records, strict=True)
        ],
        **(extra or {}),
    }


def read_design(path: str | Path) -> dict[str, Any]:
    """Read a ``design.json``."""
    return json.loads(Path(path).read_text())


def design_case(design: Mapping[str, Any], case: str, path: str | Path = "") -> dict[str, Any]:
    """The record of one case in a design (a clear error if it is not there)."""
    for rec in design["cases"]:
        if rec["case"] == case:
            return rec
    names = ", ".join(r["case"] for r in design["cases"])
    raise SurrogateInputError(f"{path or 'design'}: no case {case!r} (cases: {names})")


# -- case results -------------------------------------------------------------------------------
def scalar_outputs(summary: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every finite real number of a (nested) summary, keys joined with '.'; booleans,
    strings, lists and the provenance block are left out."""
    out: dict[str, float] = {}
    for key, value in summary.items():
        if key == "provenance":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(scalar_outputs(value, prefix=name + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(float(value)):
                out[name] = float(value)
    return out


@dataclass
class CaseResult:
    """One solved case: parameters, scalar outputs, solver wall time and files."""

    name: str
    parameters: dict[str, float]
    outputs: dict[str, float]
    solver_wall_time_s: float
    path: Path
    solver_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | Path) -> CaseResult:
        path = Path(path)
        data = json.loads(path.read_text())
        try:
            return cls(
                name=data["case"],
                parameters={k: float(v) for k, v in data["parameters"].items()},
                outputs={k: float(v) for k, v in data["outputs"].items()},
                solver_wall_time_s=float(data["solver_wall_time_s"]),
                path=path,
                solver_dir=path.parent / data["solver_dir"] if data.get("solver_dir") else None,
                extra={k: data[k] for k in ("study", "round", "solver") if k in data},
            )
        except KeyError as exc:
            raise SurrogateInputError(f"{path}: not a case record (missing {exc})") from None


def read_cases(paths: Iterable[str | Path]) -> list[CaseResult]:
    """Read case records in the given order."""
    return [CaseResult.read(p) for p in paths]


def parameter_matrix(cases: Sequence[CaseResult], space: ParameterSpace) -> np.ndarray:
    """Swept parameters of the cases, (n, d), in the space's order."""
    return space.from_records([c.parameters for c in cases], where="case")


def target_vector(cases: Sequence[CaseResult], output: str, key: str) -> np.ndarray:
    """One scalar output of every case.

    A target that no case reports, or that some cases lack, is an error naming ``key`` and the
    outputs the cases do report.
    """
    have = [output in c.outputs for c in cases]
    if not any(have):
        avail = sorted(set().union(*(c.outputs for c in cases))) if cases else []
        raise SurrogateInputError(
            f"{key}: no case reports output {output!r}; the case summaries report: "
            f"{', '.join(avail) or 'nothing'}"
        )
    if not all(have):
        missing = [c.name for c, h in zip(cases, have, strict=True) if not h]
        raise SurrogateInputError(
            f"{key}: output {output!r} is missing from case(s) {', '.join(missing)} "
            f"({sum(have)} of {len(cases)} report it)"
        )
    return np.asarray([c.outputs[output] for c in cases], dtype=float)


def evaluations(cases: Sequence[CaseResult], space: ParameterSpace) -> list[Evaluation]:
    """Case records as optimisation evaluations (round from the record, 0 if absent)."""
    x = parameter_matrix(cases, space)
    return [
        Evaluation(xi, dict(c.outputs), int(c.extra.get("round", 0)), c.name)
        for xi, c in zip(x, cases, strict=True)
    ]


def sweep_design(sweep: Mapping[str, Any], solver: str, master_seed: int) -> dict[str, Any]:
    """``design.json`` content of the sweep ``surrogate.<solver>``."""
    from ionscale.config import derive_seed

    space = ParameterSpace.from_config(sweep["parameters"], f"surrogate.{solver}.parameters")
    seed = derive_seed(master_seed, "surrogate", solver, "design")
    x = space.sample(sweep["n_samples"], sweep["design"], seed)
    return design_payload(
        study=f"sweeps/{solver}",
        solver=solver,
        base_case=sweep["base_case"],
        space=space,
        x=x,
        method=sweep["design"],
        seed=seed,
    )


def bo_grid_design(bo: Mapping[str, Any]) -> dict[str, Any]:
    """``design.json`` content of the grid sweep a Bayesian optimisation is compared with."""
    space = ParameterSpace.from_config(bo["parameters"], "surrogate.bo.parameters")
    return design_payload(
        study="bo/grid",
        solver=bo["solver"],
        base_case=bo["base_case"],
        space=space,
        x=space.grid(bo["grid_points"]),
        method=f"grid {bo['grid_points']}^{space.dim}",
        seed=None,
    )


def bo_round_design(
    bo: Mapping[str, Any],
    round_index: int,
    previous: Sequence[CaseResult],
    master_seed: int,
    gp_restarts: int,
) -> dict[str, Any]:
    """``design.json`` of optimisation round ``round_index``: a Latin hypercube for round 0,
    else the batch the optimiser proposes from every case of the earlier rounds."""
    from ionscale.config import derive_seed
    from ionscale.surrogate.bo import BayesianOptimizer, best_so_far

    space = ParameterSpace.from_config(bo["parameters"], "surrogate.bo.parameters")
    seed = derive_seed(master_seed, "surrogate", "bo")
    common = {
        "study": f"bo/round{round_index}",
        "solver": bo["solver"],
        "base_case": bo["base_case"],
        "space": space,
        "seed": seed,
    }
    if round_index == 0:
        x = space.sample(bo["n_initial"], "lhs", seed)
        return design_payload(x=x, method="lhs", extra={"round": 0}, **common)
    problem = bo_problem({"surrogate": {"bo": bo}})
    evals = evaluations(previous, problem.space)
    opt = BayesianOptimizer(
        problem, bo["acquisition"], bo["ucb_beta"], bo["n_candidates"], seed, gp_restarts
    ).fit(evals)
    x = opt.propose(bo["batch_size"], round_index=round_index)
    best = best_so_far(problem, evals)[-1] * problem.objective.sign
    extra = {
        "round": round_index,
        "n_previous_cases": len(evals),
        "best_feasible_before_round": float(best) if np.isfinite(best) else None,
        "kernels": {n: m.kernel_description for n, m in opt.models_.items()},
    }
    return design_payload(
        x=x, method=f"bayesian optimisation ({bo['acquisition']})", extra=extra, **common
    )


# -- training -----------------------------------------------------------------------------------
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
    from ionscale.surrogate.solvers import TRAJECTORY_READERS

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


def bo_summary(
    bo: Mapping[str, Any],
    round_cases: Sequence[CaseResult],
    grid_cases: Sequence[CaseResult],
    master_seed: int,
    gp_restarts: int,
) -> tuple[dict[str, Any], Any]:
    """The optimisation's answer and trace, and the grid sweep's answer to the same question.

    ``evaluations_to_match_grid`` is the number of optimisation solver runs after which its
    best feasible objective is at least as good as the grid's best (None: never matched).
    Also returns the optimiser refitted on every optimisation case (the shipped model).
    """
    from ionscale.config import derive_seed
    from ionscale.surrogate.bo import BayesianOptimizer, BOResult

    problem = bo_problem({"surrogate": {"bo": bo}})
    evals = evaluations(round_cases, problem.space)
    grid_evals = evaluations(grid_cases, problem.space)
    problem.check_outputs(evals)
    problem.check_outputs(grid_evals)
    result = BOResult(problem, evals)
    grid = BOResult(problem, grid_evals)

    def describe(res: BOResult) -> dict[str, Any] | None:
        best = res.best()
        if best is None:
            return None
        i, value = best
        e = res.evaluations[i]
        return {
            "case": e.name,
            "round": e.round,
            "params": problem.space.as_records(e.params)[0],
            "objective": value,
            "outputs": e.outputs,
        }

    grid_best = grid.best()
    reach = None if grid_best is None else result.evaluations_to_reach(grid_best[1])
    obj = problem.objective
    optimizer = BayesianOptimizer(
        problem,
        bo["acquisition"],
        bo["ucb_beta"],
        bo["n_candidates"],
        derive_seed(master_seed, "surrogate", "bo"),
        gp_restarts,
    ).fit(evals)
    metrics = {
        "question": (
            f"{'maximise' if obj.maximize else 'minimise'} {obj.kind} {obj.name}"
            + "".join(f"; {c.describe()}" for c in problem.constraints)
        ),
        "objective_label": f"{obj.name} ({obj.kind})",
        "parameters": problem.space.describe(),
        "acquisition": bo["acquisition"],
        "n_initial": bo["n_initial"],
        "batch_size": bo["batch_size"],
        "n_rounds": bo["n_rounds"],
        "n_evaluations": len(evals),
        "n_feasible": int(problem.feasible(evals).sum()),
        "best": describe(result),
        "grid": {
            "points_per_parameter": bo["grid_points"],
            "n_runs": len(grid_evals),
            "n_feasible": int(problem.feasible(grid_evals).sum()),
            "best": describe(grid),
        },
        "evaluations_to_match_grid": reach,
        "solver_runs_saved_vs_grid": None if reach is None else len(grid_evals) - reach,
        "solver_wall_time_s": {
            "optimisation_total": float(sum(c.solver_wall_time_s for c in round_cases)),
            "grid_total": float(sum(c.solver_wall_time_s for c in grid_cases)),
        },
        "kernels": {n: m.kernel_description for n, m in optimizer.models_.items()},
        "trace": result.trace_records(),
    }
    return metrics, optimizer


# -- workflow wiring (paths, names and config subsets; used by workflow/rules/surrogate.smk) -----
#: keys of surrogate.bo that define the optimisation problem
_BO_PROBLEM = ("solver", "base_case", "parameters", "objective", "constraints")
#: keys of surrogate.bo each optimisation step uses (so that, e.g., adding a round reruns
#: only the new round and the report, not the grid or the earlier rounds)
_BO_STEP_KEYS = {
    "grid": ("solver", "base_case", "parameters", "grid_points"),
    "initial": ("solver", "base_case", "parameters", "n_initial"),
    "round": (*_BO_PROBLEM, "acquisition", "ucb_beta", "n_initial", "batch_size", "n_candidates"),
    "report": (
        *_BO_PROBLEM,
        "acquisition",
        "ucb_beta",
        "n_initial",
        "batch_size",
        "n_rounds",
        "n_candidates",
        "grid_points",
    ),
}
#: keys of surrogate.<solver> the sweep design uses
_DESIGN_KEYS = ("n_samples", "design", "parameters", "base_case")


def design_config_keys(solver: str) -> list[str]:
    """Dotted config keys the design of sweep ``surrogate.<solver>`` depends on."""
    return [f"surrogate.{solver}.{k}" for k in _DESIGN_KEYS] + ["seed"]


def bo_config_keys(step: str, round_index: int | None = None) -> list[str]:
    """Dotted config keys of an optimisation step: ``grid``, ``round`` (0 = the initial
    design) or ``report``."""
    if step == "round":
        step = "initial" if round_index == 0 else "round"
    extra = ["seed"] if step in ("grid", "initial") else ["surrogate.gp_restarts", "seed"]
    return [f"surrogate.bo.{k}" for k in _BO_STEP_KEYS[step]] + extra


def case_config(cfg: Mapping[str, Any], group: str) -> dict[str, Any]:
    """Config subset of a case job of design group ``group``: the seed, the stage's solver
    settings and its base case entry as the stage's only case (other cases of the stage do
    not rerun the sweep); the case job runs with that stage section."""
    from ionscale.config import sorted_keys
    from ionscale.surrogate.solvers import base_case_entry

    s = cfg["surrogate"]
    solver = group_solver(group, s["bo"])
    key = "surrogate.bo" if group.startswith("bo/") else f"surrogate.{solver}"
    base_name = s["bo"]["base_case"] if group.startswith("bo/") else s[solver]["base_case"]
    base = base_case_entry(cfg[solver], solver, base_name, f"{key}.base_case")
    return sorted_keys(
        {"seed": cfg["seed"], solver: {"solver": cfg[solver]["solver"], "cases": [base]}}
    )


def scalar_targets(cfg: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Scalar surrogates of the config: ``"<solver>-<output>"`` → (solver, output)."""
    s = cfg["surrogate"]
    return {
        target_name(solver, output): (solver, output)
        for solver in SWEEP_SOLVERS
        if s[solver]["n_samples"] > 0
        for output in s[solver]["targets"]
    }


def case_paths(results: str, group: str, n: int) -> list[str]:
    """``case.json`` of the ``n`` cases of a design group (``sweeps/<solver>``, ``bo/grid``,
    ``bo/round<r>``)."""
    return [f"{results}/surrogate/{group}/{c}/case.json" for c in case_names(n)]


def bo_round_paths(results: str, bo: Mapping[str, Any], last: int) -> list[str]:
    """``case.json`` of optimisation rounds 0 … ``last`` (round 0: the initial design)."""
    return [
        path
        for r in range(last + 1)
        for path in case_paths(
            results, f"bo/round{r}", bo["n_initial"] if r == 0 else bo["batch_size"]
        )
    ]


def bo_grid_size(bo: Mapping[str, Any]) -> int:
    """Cases of the comparison grid: grid_points^d."""
    return int(bo["grid_points"]) ** len(bo["parameters"])


def group_solver(group: str, bo: Mapping[str, Any]) -> str:
    """The stage a design group runs."""
    return group.split("/")[1] if group.startswith("sweeps/") else bo["solver"]
