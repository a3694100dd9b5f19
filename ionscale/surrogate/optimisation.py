"""The Bayesian-optimisation study: each round's design and the optimisation's answer.

Round 0 is a Latin hypercube; every later round fits the optimiser
(:class:`~ionscale.surrogate.bo.BayesianOptimizer`: constrained expected improvement or UCB,
kriging-believer batches) to every case of the earlier rounds and proposes the next batch
(:func:`bo_round_design`). :func:`bo_summary` gives the best feasible case, the trace, and the
grid sweep's answer to the same question, with the number of solver runs the optimisation
needed to match the grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ionscale.surrogate.cases import CaseResult, evaluations
from ionscale.surrogate.checks import bo_problem
from ionscale.surrogate.design import ParameterSpace
from ionscale.surrogate.design_files import design_payload


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
