"""Checks of the ``surrogate`` config section that name the key of a bad input.

Run before any solver (from the Snakefile, through :mod:`ionscale.validation`): empty or reversed
bounds, a swept key that is not a scalar key of the stage's base case, fewer cases than a
surrogate needs, a target or constraint that is not an output of the solver's summary, an
objective that is not a swept parameter. The problem of ``surrogate.bo``
(:func:`bo_problem`) and the parameter box of a sweep (:func:`sweep_space`) are built here, as
every job builds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ionscale.surrogate.bo import BOProblem, Constraint, Objective
from ionscale.surrogate.cases import base_case_entry, check_swept_keys
from ionscale.surrogate.design import ParameterSpace, SurrogateInputError
from ionscale.surrogate.scalar import MIN_TEST_CASES, min_cases
from ionscale.surrogate.solvers import RUNNERS

#: Stages whose cases can be swept.
SWEEP_SOLVERS = ("phasefield", "fem")


def n_held_out(n: int, test_fraction: float) -> int:
    """Cases held out of training for a sweep of ``n`` cases."""
    return max(MIN_TEST_CASES, round(test_fraction * n))


def min_sweep_size(dim: int, test_fraction: float) -> int:
    """Smallest sweep that leaves a GP over ``dim`` parameters enough training cases."""
    n = min_cases(dim) + MIN_TEST_CASES
    while n - n_held_out(n, test_fraction) < min_cases(dim):
        n += 1
    return n


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
