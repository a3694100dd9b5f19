"""Surrogate stage: sweeps of the continuum models, ML surrogates, Bayesian optimisation.

- :mod:`~ionscale.surrogate.design` — parameter boxes and designs of experiments (Latin
  hypercube, Sobol', grids; scipy.stats.qmc).
- :mod:`~ionscale.surrogate.scalar` — Gaussian-process surrogates of scalar case outputs with
  held-out R², MAE, interval coverage and measured speed-up (scikit-learn).
- :mod:`~ionscale.surrogate.field` — two-point statistics + PCA + a GP one-step map for
  phase-field evolution (after Montes de Oca Zapiain et al., npj Comput. Mater. 7, 3 (2021)).
- :mod:`~ionscale.surrogate.bo` — batch Bayesian optimisation under output constraints
  (constrained expected improvement or UCB, kriging-believer batches).
- :mod:`~ionscale.surrogate.study` — design/case/training files and config checks, in parts:
  :mod:`~ionscale.surrogate.checks`, :mod:`~ionscale.surrogate.design_files`,
  :mod:`~ionscale.surrogate.cases`, :mod:`~ionscale.surrogate.training`,
  :mod:`~ionscale.surrogate.optimisation`, :mod:`~ionscale.surrogate.wiring`.
- :mod:`~ionscale.surrogate.solvers` — the one place that calls the phasefield and fem stages.

Every piece works on plain arrays and callables, without Snakemake: a solver is any function
``params -> dict of scalar outputs``.
"""

from ionscale.surrogate.bo import (
    BayesianOptimizer,
    BOProblem,
    BOResult,
    Constraint,
    Evaluation,
    Objective,
    grid_answer,
    run_bayesian_optimisation,
)
from ionscale.surrogate.design import Parameter, ParameterSpace, SurrogateInputError
from ionscale.surrogate.field import (
    FieldEvolutionSurrogate,
    Trajectory,
    train_field_surrogate,
    two_point_autocorrelation,
)
from ionscale.surrogate.scalar import GPSurrogate, heldout_metrics, train_scalar_surrogate

__all__ = [
    "BOProblem",
    "BOResult",
    "BayesianOptimizer",
    "Constraint",
    "Evaluation",
    "FieldEvolutionSurrogate",
    "GPSurrogate",
    "Objective",
    "Parameter",
    "ParameterSpace",
    "SurrogateInputError",
    "Trajectory",
    "grid_answer",
    "heldout_metrics",
    "run_bayesian_optimisation",
    "train_field_surrogate",
    "train_scalar_surrogate",
    "two_point_autocorrelation",
]
