"""Sweeps and optimisation studies as files: config checks, designs, case records.

The workflow runs a study in three kinds of steps, each a Snakemake job:

1. a *design* — ``design.json`` lists the cases of a sweep, of the grid a Bayesian optimisation
   is compared with, or of one optimisation round, each with the values of the swept
   parameters (one case config per job: the case job picks its row);
2. one *case* per row — the solver runs with the base case's settings, the swept keys replaced,
   and ``case.json`` records the parameters, the scalar outputs of the solver's summary and the
   solver's wall time measured around the call;
3. the *training* (or the next optimisation round) — reads every ``case.json`` of the study.

The file formats and the checks that name the config key of a bad input before any solver runs
(empty or reversed bounds, fewer cases than a surrogate needs, an objective that is not a swept
parameter) or before training (a target that no case reports) live by responsibility, and every
name stays importable from here:

- :mod:`~ionscale.surrogate.checks`: config checks (:func:`check_config`), the sweep's box and
  the optimisation problem, sweep sizes;
- :mod:`~ionscale.surrogate.design_files`: the ``design.json`` of a sweep and of the grid;
- :mod:`~ionscale.surrogate.cases`: one case — its design row, config entry and ``case.json``
  record (shared with :mod:`~ionscale.surrogate.solvers`);
- :mod:`~ionscale.surrogate.training`: scalar and field surrogates fitted to the case records;
- :mod:`~ionscale.surrogate.optimisation`: the optimisation rounds' designs and the answer;
- :mod:`~ionscale.surrogate.wiring`: paths, names and config subsets for the workflow's rules.
"""

from __future__ import annotations

from ionscale.surrogate.bo import BOProblem, Constraint, Evaluation, Objective
from ionscale.surrogate.cases import (
    CaseResult,
    case_names,
    design_case,
    evaluations,
    parameter_matrix,
    read_cases,
    read_design,
    scalar_outputs,
    target_vector,
)
from ionscale.surrogate.checks import (
    SWEEP_SOLVERS,
    bo_problem,
    check_config,
    min_sweep_size,
    n_held_out,
    summary_scalars,
    sweep_space,
)
from ionscale.surrogate.design import ParameterSpace, SurrogateInputError
from ionscale.surrogate.design_files import bo_grid_design, design_payload, sweep_design
from ionscale.surrogate.optimisation import bo_round_design, bo_summary
from ionscale.surrogate.scalar import MIN_TEST_CASES, min_cases
from ionscale.surrogate.training import fit_field_surrogate, fit_scalar_target, save_model
from ionscale.surrogate.wiring import (
    bo_config_keys,
    bo_grid_size,
    bo_round_paths,
    case_config,
    case_paths,
    design_config_keys,
    group_solver,
    scalar_targets,
    target_name,
)

__all__ = [
    "MIN_TEST_CASES",
    "SWEEP_SOLVERS",
    "BOProblem",
    "CaseResult",
    "Constraint",
    "Evaluation",
    "Objective",
    "ParameterSpace",
    "SurrogateInputError",
    "bo_config_keys",
    "bo_grid_design",
    "bo_grid_size",
    "bo_problem",
    "bo_round_design",
    "bo_round_paths",
    "bo_summary",
    "case_config",
    "case_names",
    "case_paths",
    "check_config",
    "design_case",
    "design_config_keys",
    "design_payload",
    "evaluations",
    "fit_field_surrogate",
    "fit_scalar_target",
    "group_solver",
    "min_cases",
    "min_sweep_size",
    "n_held_out",
    "parameter_matrix",
    "read_cases",
    "read_design",
    "save_model",
    "scalar_outputs",
    "scalar_targets",
    "summary_scalars",
    "sweep_design",
    "sweep_space",
    "target_name",
    "target_vector",
]
