"""Batch Bayesian optimisation of case parameters under output constraints.

The design question "the highest C-rate whose maximum stress stays below a limit" is

    maximise  s·h(x)   subject to   l_i ≤ g_i(x) ≤ u_i,   x in the parameter box,

with h either a case parameter (known, e.g. the C-rate) or a solver output, s = ±1, and g_i
solver outputs (maximum stress …). Each unknown output gets a Gaussian-process surrogate
(:class:`ionscale.surrogate.scalar.GPSurrogate`); the probability of feasibility is
PF(x) = Π_i [Φ((u_i − μ_i(x)) / σ_i(x)) − Φ((l_i − μ_i(x)) / σ_i(x))] (either bound may be
absent). A lower bound matters for "highest C-rate" questions: past some C-rate the cut-off
voltage ends a run almost at once, with little stress and little capacity, which only a bound
on the delivered capacity rules out.

Acquisitions:

- ``ei`` — constrained expected improvement (Schonlau, Welch & Jones 1998; Gardner et al.,
  ICML 2014): EI(x)·PF(x) with EI = (μ − h*)Φ(z) + σφ(z), z = (μ − h*)/σ (Jones, Schonlau &
  Welch, J. Global Optim. 13, 455 (1998)), h* the best feasible value observed. For a known
  objective (a parameter) EI reduces to the improvement max(0, s·h(x) − h*). Before any
  feasible case exists the acquisition is PF alone (find the feasible set first).
- ``ucb`` — upper confidence bound (Srinivas et al., ICML 2010): s·μ + β σ (s·h(x) for a known
  objective) over the optimistically feasible set (μ_i ∓ β σ_i within the bounds).

Batches of ``q`` cases (one Snakemake round runs them in parallel) come from the "kriging
believer" heuristic (Ginsbourger, Le Riche & Carraro, 2010): after choosing a point, every
surrogate is conditioned on its own predictive mean there (hyperparameters kept) and the next
point is chosen with the updated acquisition, which pushes later points of the batch away.

The acquisition is maximised over a scrambled Sobol' set of candidates in the unit cube,
refined by Gaussian perturbations around the best candidates (derivative-free: PF·EI is flat
far from the data and the UCB feasibility mask is discontinuous, where gradient steps stall).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ionscale.surrogate.design import ParameterSpace, SurrogateInputError
from ionscale.surrogate.scalar import GPSurrogate

ACQUISITIONS = ("ei", "ucb")


@dataclass(frozen=True)
class Objective:
    """What is optimised: a case parameter (``kind="parameter"``) or a solver output.

    Parameters
    ----------
    name:
        Parameter or output name (the solver's unit).
    kind:
        ``"parameter"`` or ``"output"``.
    maximize:
        Maximise (True) or minimise (False).
    """

    name: str
    kind: str = "parameter"
    maximize: bool = True

    @property
    def sign(self) -> float:
        return 1.0 if self.maximize else -1.0


@dataclass(frozen=True)
class Constraint:
    """A solver output that must stay within [``lower``, ``upper``] (either may be None).

    Parameters
    ----------
    output:
        Output name (the solver's unit).
    upper, lower:
        Largest / smallest allowed value; at least one is set.
    """

    output: str
    upper: float | None = None
    lower: float | None = None

    def __post_init__(self) -> None:
        if self.upper is None and self.lower is None:
            raise SurrogateInputError(f"constraint on {self.output!r}: set upper and/or lower")
        if self.upper is not None and self.lower is not None and not self.lower < self.upper:
            raise SurrogateInputError(
                f"constraint on {self.output!r}: lower {self.lower} must be < upper {self.upper}"
            )

    def satisfied(self, values: Any) -> np.ndarray:
        """Whether each value is finite and within the bounds."""
        v = np.asarray(values, dtype=float)
        ok = np.isfinite(v)
        if self.upper is not None:
            ok &= v <= self.upper
        if self.lower is not None:
            ok &= v >= self.lower
        return ok

    def probability(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """P(lower ≤ y ≤ upper) for y ~ N(mean, std²)."""
        from scipy.stats import norm

        s = np.maximum(std, 1e-12)
        hi = norm.cdf((self.upper - mean) / s) if self.upper is not None else 1.0
        lo = norm.cdf((self.lower - mean) / s) if self.lower is not None else 0.0
        return np.maximum(hi - lo, 0.0)

    def optimistic(self, mean: np.ndarray, std: np.ndarray, beta: float) -> np.ndarray:
        """Whether the β-confidence band of y reaches the allowed interval."""
        ok = np.ones(np.shape(mean), dtype=bool)
        if self.upper is not None:
            ok &= mean - beta * std <= self.upper
        if self.lower is not None:
            ok &= mean + beta * std >= self.lower
        return ok

    def describe(self) -> str:
        parts = []
        if self.lower is not None:
            parts.append(f"{self.output} >= {self.lower:g}")
        if self.upper is not None:
            parts.append(f"{self.output} <= {self.upper:g}")
        return " and ".join(parts)


@dataclass
class Evaluation:
    """One solver case of an optimisation: where, what came out, and its round."""

    params: np.ndarray
    outputs: dict[str, float]
    round: int = 0
    name: str = ""


@dataclass
class BOProblem:
    """The optimisation problem: box, objective, constraints (validated against each other)."""

    space: ParameterSpace
    objective: Objective
    constraints: Sequence[Constraint] = field(default_factory=tuple)
    key: str = "bo"

    def __post_init__(self) -> None:
        if self.objective.kind not in ("parameter", "output"):
            raise SurrogateInputError(
                f"{self.key}.objective: kind must be 'parameter' or 'output', "
                f"got {self.objective.kind!r}"
            )
        if self.objective.kind == "parameter" and self.objective.name not in self.space.names:
            raise SurrogateInputError(
                f"{self.key}.objective.parameter: {self.objective.name!r} is not a swept "
                f"parameter (swept: {', '.join(self.space.names)})"
            )
        if self.objective.kind == "output" and not self.objective.name:
            raise SurrogateInputError(f"{self.key}.objective.output: empty output name")

    @property
    def modelled_outputs(self) -> list[str]:
        """Outputs that need a surrogate: the objective (if an output) and each constraint."""
        names = [c.output for c in self.constraints]
        if self.objective.kind == "output":
            names.insert(0, self.objective.name)
        return list(dict.fromkeys(names))

    def objective_values(self, evals: Sequence[Evaluation]) -> np.ndarray:
        """s·h of each evaluation (larger is better)."""
        if self.objective.kind == "parameter":
            j = self.space.names.index(self.objective.name)
            vals = [e.params[j] for e in evals]
        else:
            vals = [e.outputs[self.objective.name] for e in evals]
        return self.objective.sign * np.asarray(vals, dtype=float)

    def feasible(self, evals: Sequence[Evaluation]) -> np.ndarray:
        """Whether each evaluation satisfies every constraint (and has finite outputs)."""
        ok = np.ones(len(evals), dtype=bool)
        for c in self.constraints:
            ok &= c.satisfied([e.outputs[c.output] for e in evals])
        return ok

    def check_outputs(self, evals: Sequence[Evaluation]) -> None:
        """Every evaluation reports every modelled output, else a clear error naming it."""
        for name in self.modelled_outputs:
            missing = [e.name or str(i) for i, e in enumerate(evals) if name not in e.outputs]
            if missing:
                avail = sorted(set().union(*(e.outputs for e in evals)))
                raise SurrogateInputError(
                    f"{self.key}: output {name!r} (objective/constraint) is not reported by "
                    f"case(s) {', '.join(missing[:5])}; outputs reported: {', '.join(avail)}"
                )


def best_so_far(problem: BOProblem, evals: Sequence[Evaluation]) -> np.ndarray:
    """Best feasible s·h after each evaluation (−inf until a feasible one exists)."""
    vals = np.where(problem.feasible(evals), problem.objective_values(evals), -np.inf)
    return np.maximum.accumulate(vals) if len(vals) else vals


class BayesianOptimizer:
    """Fit surrogates to the evaluations so far and propose the next batch.

    Parameters
    ----------
    problem:
        Box, objective and constraints.
    acquisition:
        ``"ei"`` (constrained expected improvement) or ``"ucb"``.
    ucb_beta:
        β of the upper confidence bound (in predictive standard deviations).
    n_candidates:
        Sobol' candidates per acquisition maximisation.
    seed:
        Seed of candidates, perturbations and GP restarts.
    n_restarts:
        Extra restarts of each GP's marginal-likelihood optimisation.
    """

    def __init__(
        self,
        problem: BOProblem,
        acquisition: str = "ei",
        ucb_beta: float = 2.0,
        n_candidates: int = 1024,
        seed: int = 0,
        n_restarts: int = 2,
    ) -> None:
        if acquisition not in ACQUISITIONS:
            raise SurrogateInputError(
                f"{problem.key}.acquisition: {acquisition!r} unknown; expected one of "
                f"{', '.join(ACQUISITIONS)}"
            )
        self.problem = problem
        self.acquisition = acquisition
        self.ucb_beta = ucb_beta
        self.n_candidates = n_candidates
        self.seed = seed
        self.n_restarts = n_restarts
        self.models_: dict[str, GPSurrogate] = {}
        self.best_: float = -np.inf
        self._x: np.ndarray | None = None

    def fit(self, evals: Sequence[Evaluation]) -> BayesianOptimizer:
        """Fit one GP per modelled output on every evaluation."""
        if len(evals) < 2:
            raise SurrogateInputError(
                f"{self.problem.key}: Bayesian optimisation needs ≥ 2 evaluated cases to fit "
                f"its surrogates, got {len(evals)}"
            )
        self.problem.check_outputs(evals)
        x = np.vstack([e.params for e in evals])
        self._x = x
        self.models_ = {}
        for name in self.problem.modelled_outputs:
            y = np.asarray([e.outputs[name] for e in evals], dtype=float)
            ok = np.isfinite(y)
            self.models_[name] = GPSurrogate(
                self.problem.space, seed=self.seed, n_restarts=self.n_restarts, name=name
            ).fit(x[ok], y[ok])
        best = best_so_far(self.problem, evals)
        self.best_ = float(best[-1])
        return self

    # -- acquisition ---------------------------------------------------------------------
    def _objective_mean_std(
        self, models: Mapping[str, GPSurrogate], x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        obj = self.problem.objective
        if obj.kind == "parameter":
            j = self.problem.space.names.index(obj.name)
            return obj.sign * x[:, j], np.zeros(len(x))
        mean, std = models[obj.name].predict_latent(x)
        return obj.sign * mean, std

    def acquisition_values(
        self, x: np.ndarray, models: Mapping[str, GPSurrogate] | None = None, best: float = np.nan
    ) -> np.ndarray:
        """The acquisition at physical points ``x`` (n, d); larger is better."""
        from scipy.stats import norm

        models = self.models_ if models is None else models
        best = self.best_ if np.isnan(best) else best
        mean, std = self._objective_mean_std(models, x)
        if self.acquisition == "ucb":
            ucb = mean + self.ucb_beta * std
            optimistic = np.ones(len(x), dtype=bool)
            pf = np.ones(len(x))
            for c in self.problem.constraints:
                m, s = models[c.output].predict_latent(x)
                optimistic &= c.optimistic(m, s, self.ucb_beta)
                pf *= c.probability(m, s)
            if not optimistic.any():
                return pf  # nothing looks feasible even optimistically: seek feasibility
            return np.where(optimistic, ucb, -np.inf)
        pf = np.ones(len(x))
        for c in self.problem.constraints:
            m, s = models[c.output].predict_latent(x)
            pf *= c.probability(m, s)
        if not np.isfinite(best):
            return pf
        gap = mean - best
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(std > 0, gap / std, 0.0)
        ei = np.where(std > 0, gap * norm.cdf(z) + std * norm.pdf(z), np.maximum(gap, 0.0))
        return np.maximum(ei, 0.0) * pf

    def _maximise(
        self, models: Mapping[str, GPSurrogate], best: float, rng: np.random.Generator
    ) -> np.ndarray:
        from scipy.stats import qmc

        space = self.problem.space
        m = max(1, int(np.ceil(np.log2(self.n_candidates))))
        u = qmc.Sobol(space.dim, scramble=True, rng=rng).random_base2(m)
        acq = self.acquisition_values(space.from_unit(u), models, best)
        # local refinement around the 5 best candidates at two scales (unit-cube widths)
        top = u[np.argsort(acq)[-5:]]
        local = [
            np.clip(t + scale * rng.standard_normal((128, space.dim)), 0.0, 1.0)
            for t in top
            for scale in (0.03, 0.005)
        ]
        u_all = np.vstack([u, *local])
        acq_all = np.concatenate(
            [acq, self.acquisition_values(space.from_unit(np.vstack(local)), models, best)]
        )
        return space.from_unit(u_all[int(np.argmax(acq_all))])[0]

    def propose(self, batch_size: int, round_index: int = 0) -> np.ndarray:
        """The next ``batch_size`` cases (physical parameters, shape (q, d))."""
        if not self.models_ and self.problem.modelled_outputs:
            raise RuntimeError("fit the optimiser before proposing")
        rng = np.random.default_rng([self.seed, round_index])
        models = dict(self.models_)
        best = self.best_
        batch = []
        for _ in range(batch_size):
            x = self._maximise(models, best, rng)
            batch.append(x)
            # kriging believer: pretend the surrogates' means were observed at x
            believed = {n: g.predict_latent(x[None, :])[0] for n, g in models.items()}
            models = {n: g.conditioned(x[None, :], believed[n]) for n, g in models.items()}
            feasible = all(c.satisfied(believed[c.output])[0] for c in self.problem.constraints)
            if feasible:
                mean, _ = self._objective_mean_std(models, x[None, :])
                best = max(best, float(mean[0]))
        return np.vstack(batch)


@dataclass
class BOResult:
    """The evaluations of a run and the answer it found."""

    problem: BOProblem
    evaluations: list[Evaluation]

    @property
    def best_trace(self) -> np.ndarray:
        return best_so_far(self.problem, self.evaluations)

    def best(self) -> tuple[int, float] | None:
        """Index and objective value (original sign) of the best feasible case, or None."""
        trace = self.best_trace
        if not len(trace) or not np.isfinite(trace[-1]):
            return None
        vals = np.where(
            self.problem.feasible(self.evaluations),
            self.problem.objective_values(self.evaluations),
            -np.inf,
        )
        i = int(np.argmax(vals))
        return i, float(self.problem.objective.sign * vals[i])

    def evaluations_to_reach(self, target: float, tolerance: float = 0.0) -> int | None:
        """Number of solver runs after which the best feasible objective (original sign) is at
        least as good as ``target`` (within ``tolerance``); None if never."""
        s = self.problem.objective.sign
        hit = np.nonzero(self.best_trace >= s * target - abs(tolerance))[0]
        return int(hit[0]) + 1 if len(hit) else None

    def trace_records(self) -> list[dict[str, Any]]:
        """JSON-ready trace: one record per evaluation, in evaluation order."""
        feas = self.problem.feasible(self.evaluations)
        obj = self.problem.objective_values(self.evaluations) * self.problem.objective.sign
        best = self.best_trace * self.problem.objective.sign
        return [
            {
                "evaluation": i + 1,
                "round": e.round,
                "case": e.name,
                "params": self.problem.space.as_records(e.params)[0],
                "outputs": e.outputs,
                "objective": float(obj[i]),
                "feasible": bool(feas[i]),
                "best_feasible_so_far": float(best[i]) if np.isfinite(best[i]) else None,
            }
            for i, e in enumerate(self.evaluations)
        ]


def grid_answer(problem: BOProblem, evals: Sequence[Evaluation]) -> tuple[int, float] | None:
    """Best feasible case of an exhaustive grid sweep (index, objective value), or None."""
    return BOResult(problem, list(evals)).best()


def run_bayesian_optimisation(
    problem: BOProblem,
    evaluate: Callable[[np.ndarray], Mapping[str, float]],
    *,
    n_initial: int,
    batch_size: int,
    n_rounds: int,
    seed: int,
    acquisition: str = "ei",
    ucb_beta: float = 2.0,
    n_candidates: int = 1024,
    initial_design: str = "lhs",
) -> BOResult:
    """The whole loop in one process (the workflow runs the same steps as Snakemake rounds).

    ``evaluate(x)`` runs the solver (or any callable) at physical parameters ``x`` (d,) and
    returns its scalar outputs.
    """
    x0 = problem.space.sample(n_initial, initial_design, seed)
    evals = [Evaluation(x, dict(evaluate(x)), 0, f"r0_{i}") for i, x in enumerate(x0)]
    for r in range(1, n_rounds + 1):
        opt = BayesianOptimizer(problem, acquisition, ucb_beta, n_candidates, seed=seed)
        batch = opt.fit(evals).propose(batch_size, round_index=r)
        evals += [Evaluation(x, dict(evaluate(x)), r, f"r{r}_{i}") for i, x in enumerate(batch)]
    return BOResult(problem, evals)
