"""Workflow wiring of the surrogate stage: paths, names and config subsets.

Used by workflow/rules/surrogate.smk: the ``case.json`` paths of each design group
(``sweeps/<solver>``, ``bo/grid``, ``bo/round<r>``), the scalar surrogates of the config, the
config keys each step depends on (so that, e.g., adding an optimisation round reruns only the
new round and the report) and the config subset of a case job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ionscale.surrogate.cases import base_case_entry, case_names
from ionscale.surrogate.checks import SWEEP_SOLVERS


def target_name(solver: str, output: str) -> str:
    """Directory name of a scalar surrogate: ``<solver>-<output>``."""
    return f"{solver}-{output}"


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
