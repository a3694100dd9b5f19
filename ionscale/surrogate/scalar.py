"""Gaussian-process surrogates of scalar case outputs, with held-out error and speed-up.

Each scalar target y (capacity at cut-off, maximum stress, time to phase separation …) gets a
Gaussian-process regression (Rasmussen & Williams, *Gaussian Processes for Machine Learning*,
MIT Press 2006) on the case parameters mapped to the unit cube:

    y(u) ~ GP(m, k),  k(u, u') = σ_f² · Matérn_5/2(|u − u'|/ℓ, ARD) + σ_n² δ(u, u')

with one length scale ℓ_i per parameter (automatic relevance determination; bounded below by
the case spacing, :func:`min_length_scale`) and a white-noise term for solver noise
(adaptive time stepping, mesh-dependent stress maxima). Hyperparameters
maximise the log marginal likelihood (scikit-learn's L-BFGS-B with seeded restarts). Targets that
are positive and span decades may be modelled as log(y); the predictive interval is then
transformed back (a log-normal interval, median as the point prediction).

The surrogate is judged only on cases it was not trained on: R², mean absolute error, and the
coverage of its central predictive interval (the fraction of held-out cases whose solver value
falls inside; nominal 0.95 for a calibrated model). The interval is calibrated first by
cross-validation on the training cases (:func:`calibrate_intervals`): a handful
of held-out cases cannot measure a coverage (6 cases: ±0.09 at 0.95). The speed-up compares
the solver's wall time per case with the surrogate's prediction time per case, both measured
in the same run.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ionscale.surrogate.design import ParameterSpace, SurrogateInputError

#: Fewest training cases a GP surrogate is fitted on (one more than the ARD hyperparameters
#: need is d + 3; below 4 the marginal likelihood is meaningless even in one dimension).
MIN_TRAIN_CASES = 4
#: Fewest held-out cases the error is reported on.
MIN_TEST_CASES = 2


def min_cases(dim: int) -> int:
    """Fewest training cases for a GP over ``dim`` parameters: max(4, d + 3)."""
    return max(MIN_TRAIN_CASES, dim + 3)


def split_train_test(
    n: int, test_fraction: float, seed: int, min_train: int = MIN_TRAIN_CASES, where: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Random split of ``n`` cases into training and held-out indices (sorted).

    Raises :class:`SurrogateInputError` (naming ``where``) when either part would be smaller
    than the surrogate needs.
    """
    if not 0.0 < test_fraction < 1.0:
        raise SurrogateInputError(f"{where}: test_fraction must be in (0, 1), got {test_fraction}")
    n_test = max(MIN_TEST_CASES, round(test_fraction * n))
    if n - n_test < min_train:
        raise SurrogateInputError(
            f"{where}: {n} cases are too few: need {min_train} for training and "
            f"{MIN_TEST_CASES} held out (test_fraction={test_fraction}); "
            f"at least {min_train + n_test} cases"
        )
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def min_length_scale(n: int, dim: int) -> float:
    """Smallest length scale (unit-cube units) a GP on ``n`` cases in ``dim`` parameters may
    take: the typical spacing n^(−1/d) of the cases, and at least 0.02.

    With few noise-free cases the marginal likelihood prefers length scales below the case
    spacing: the GP then interpolates the data with narrow spikes and reverts to its mean
    in between (measured: ℓ → 0.01 from 3 cases of a step-like phase-field output), which makes
    its predictions and an acquisition built on them meaningless (an optimisation round then
    proposed cases between two infeasible ones). Features finer than the spacing cannot be
    resolved from the data anyway.
    """
    return max(0.02, n ** (-1.0 / dim))


def make_kernel(dim: int, length_scale_min: float = 0.02) -> Any:
    """σ_f²·Matérn-5/2 (ARD) + white noise, with bounded hyperparameters."""
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    return ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
        length_scale=np.full(dim, max(0.5, length_scale_min)),
        length_scale_bounds=(length_scale_min, 1e2),
        nu=2.5,
    ) + WhiteKernel(1e-4, (1e-10, 1e-2))


class GPSurrogate:
    """A Gaussian-process surrogate of one scalar output over a :class:`ParameterSpace`.

    Parameters
    ----------
    space:
        The case parameters (physical units in, unit cube inside).
    log_target:
        Model log(y) instead of y (y must then be > 0).
    seed:
        Seed of the optimiser restarts.
    n_restarts:
        Extra random restarts of the marginal-likelihood optimisation.
    name:
        The target's name (messages and metadata only).
    """

    def __init__(
        self,
        space: ParameterSpace,
        log_target: bool = False,
        seed: int = 0,
        n_restarts: int = 3,
        name: str = "y",
    ) -> None:
        self.space = space
        self.log_target = log_target
        self.seed = seed
        self.n_restarts = n_restarts
        self.name = name
        self.gp_: Any = None
        self.x_train_: np.ndarray | None = None
        self.latent_train_: np.ndarray | None = None
        #: factor on the predictive standard deviation (:func:`calibrate_intervals`)
        self.std_scale_: float = 1.0

    def _forward(self, y: np.ndarray) -> np.ndarray:
        if self.log_target:
            if np.any(y <= 0):
                raise SurrogateInputError(
                    f"target {self.name!r}: log transform needs positive values, min {y.min()}"
                )
            return np.log(y)
        return y

    def fit(self, x: Any, y: Any) -> GPSurrogate:
        """Fit on physical parameters ``x`` (n, d) and outputs ``y`` (n,)."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor

        x = np.atleast_2d(np.asarray(x, dtype=float))
        y = np.asarray(y, dtype=float).ravel()
        if len(y) != len(x):
            raise SurrogateInputError(f"target {self.name!r}: {len(x)} inputs but {len(y)} values")
        if not np.all(np.isfinite(y)):
            raise SurrogateInputError(f"target {self.name!r}: non-finite values in training data")
        self.gp_ = GaussianProcessRegressor(
            kernel=make_kernel(self.space.dim, min_length_scale(len(y), self.space.dim)),
            normalize_y=True,
            n_restarts_optimizer=self.n_restarts,
            random_state=self.seed,
        )
        self.x_train_, self.latent_train_ = x, self._forward(y)
        with warnings.catch_warnings():
            # a noise level at its lower bound is the expected optimum for a deterministic
            # solver; sklearn warns about it on every fit
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp_.fit(self.space.to_unit(x), self.latent_train_)
        return self

    def conditioned(self, x_new: Any, latent_new: Any) -> GPSurrogate:
        """A copy conditioned on extra (x, modelled value) pairs with the hyperparameters kept
        (no re-optimisation): the "kriging believer" update of batch Bayesian optimisation."""
        from sklearn.gaussian_process import GaussianProcessRegressor

        if self.gp_ is None or self.x_train_ is None or self.latent_train_ is None:
            raise RuntimeError(f"surrogate {self.name!r} is not fitted")
        out = GPSurrogate(self.space, self.log_target, self.seed, 0, self.name)
        out.std_scale_ = self.std_scale_
        out.x_train_ = np.vstack([self.x_train_, np.atleast_2d(x_new)])
        out.latent_train_ = np.concatenate([self.latent_train_, np.ravel(latent_new)])
        out.gp_ = GaussianProcessRegressor(
            kernel=self.gp_.kernel_, optimizer=None, normalize_y=True
        ).fit(self.space.to_unit(out.x_train_), out.latent_train_)
        return out

    def predict_latent(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and standard deviation of the modelled quantity (y or log y); the
        standard deviation carries the calibration factor ``std_scale_``."""
        if self.gp_ is None:
            raise RuntimeError(f"surrogate {self.name!r} is not fitted")
        mean, std = self.gp_.predict(self.space.to_unit(x), return_std=True)
        return mean, std * self.std_scale_

    def cv_standardized_residuals(self, n_folds: int = 5) -> np.ndarray:
        """Cross-validated standardised residuals z = (y − μ)/σ of the training cases (in the
        modelled quantity, before any calibration factor): each of ``n_folds`` seeded folds is
        predicted by a surrogate refitted, hyperparameters included, on the other folds. Refits,
        not the closed-form leave-one-out of the fitted GP (Rasmussen & Williams eq. 5.12):
        hyperparameters fitted to every case make that in-sample, and it measured 68 % of the
        held-out |z| scale where the kernel's noise bound was below the data's noise."""
        if self.x_train_ is None or self.latent_train_ is None:
            raise RuntimeError(f"surrogate {self.name!r} is not fitted")
        x, latent = self.x_train_, self.latent_train_
        n = len(latent)
        folds = np.random.default_rng(self.seed).permutation(n) % min(n_folds, n)
        z = np.empty(n)
        for k in np.unique(folds):
            held = folds == k
            fold = GPSurrogate(self.space, False, self.seed, self.n_restarts, self.name)
            fold.fit(x[~held], latent[~held])
            mean, std = fold.predict_latent(x[held])
            z[held] = (latent[held] - mean) / std
        return z

    def predict(self, x: Any) -> np.ndarray:
        """Point prediction in the target's unit (the median for a log target)."""
        mean, _ = self.predict_latent(x)
        return np.exp(mean) if self.log_target else mean

    def interval(self, x: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Central predictive interval of probability ``level`` in the target's unit."""
        from scipy.stats import norm

        mean, std = self.predict_latent(x)
        z = norm.ppf(0.5 + level / 2)
        lo, hi = mean - z * std, mean + z * std
        return (np.exp(lo), np.exp(hi)) if self.log_target else (lo, hi)

    @property
    def kernel_description(self) -> str:
        return str(self.gp_.kernel_) if self.gp_ is not None else "unfitted"


def calibrate_intervals(model: GPSurrogate, level: float = 0.95) -> dict[str, Any]:
    """Measure the coverage of the central ``level`` interval by cross-validation on the
    training cases (:meth:`GPSurrogate.cv_standardized_residuals`) and recalibrate when it
    is off by more than its binomial sampling error √(level(1 − level)/n): the predictive
    standard deviation is then scaled so that the interval holds the ⌈(n + 1)·level⌉-th
    smallest |z| (split-conformal quantile; Vovk et al., *Algorithmic Learning in a Random
    World*, 2005), which covers a new case with probability ≥ level when the cases are
    exchangeable. Sets ``model.std_scale_`` and returns what it measured."""
    from scipy.stats import norm

    z = np.abs(model.cv_standardized_residuals())
    n = len(z)
    z_level = float(norm.ppf(0.5 + level / 2))
    coverage = float(np.mean(z <= z_level))
    error = float(np.sqrt(level * (1 - level) / n))
    scale = 1.0
    if abs(coverage - level) > error:
        rank = min(n, int(np.ceil((n + 1) * level)))
        scale = float(np.sort(z)[rank - 1]) / z_level
    model.std_scale_ = scale
    return {
        "method": (
            "5-fold cross-validated coverage of the training cases (each fold refitted); when off "
            "the level by more than its sampling error, the predictive std is scaled to the "
            "split-conformal quantile of |z|"
        ),
        "cv_coverage": coverage,
        "cv_coverage_standard_error": error,
        "n_cv": n,
        "recalibrated": scale != 1.0,
        "std_scale": scale,
    }


def heldout_metrics(
    model: GPSurrogate, x_test: Any, y_test: Any, level: float = 0.95
) -> dict[str, Any]:
    """R², MAE, RMSE and predictive-interval coverage of ``model`` on held-out cases.

    R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² with ȳ the held-out mean (can be negative for a model worse
    than the mean). Coverage is the fraction of held-out values inside the central interval of
    probability ``level``; its binomial standard error is sqrt(level(1 − level)/n).
    """
    y_test = np.asarray(y_test, dtype=float).ravel()
    pred = model.predict(x_test)
    lo, hi = model.interval(x_test, level)
    resid = y_test - pred
    ss_tot = float(np.sum((y_test - y_test.mean()) ** 2))
    inside = (y_test >= lo) & (y_test <= hi)
    n = len(y_test)
    return {
        "n_test": n,
        "r2": 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan"),
        "mae": float(np.mean(np.abs(resid))),
        "rmse": float(np.sqrt(np.mean(resid**2))),
        "max_abs_error": float(np.max(np.abs(resid))),
        "relative_mae": float(np.mean(np.abs(resid)) / max(np.mean(np.abs(y_test)), 1e-300)),
        "interval_level": level,
        "coverage": float(np.mean(inside)),
        "coverage_standard_error": float(np.sqrt(level * (1 - level) / n)),
        "mean_interval_width": float(np.mean(hi - lo)),
    }


def prediction_time_per_case_s(
    model: GPSurrogate, x: Any, min_total_s: float = 0.2, max_repeats: int = 10000
) -> dict[str, float]:
    """Measured wall time of surrogate predictions (mean and interval) per case, in s.

    ``single_case_s`` times one case per call (the latency a designer sees); ``batched_case_s``
    times all of ``x`` in one call divided by its length. Each is repeated until ``min_total_s``
    has elapsed and the fastest repeat is kept (timing noise only ever adds time).
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))

    def best_time(fn: Any) -> float:
        best, total, k = np.inf, 0.0, 0
        while (total < min_total_s or k < 3) and k < max_repeats:
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            best, total, k = min(best, dt), total + dt, k + 1
        return best

    single = best_time(lambda: (model.predict(x[:1]), model.interval(x[:1])))
    batched = best_time(lambda: (model.predict(x), model.interval(x))) / len(x)
    return {"single_case_s": single, "batched_case_s": batched, "n_batch": len(x)}


def speedup(solver_wall_s: Sequence[float], prediction: dict[str, float]) -> dict[str, float]:
    """Solver wall time per case over surrogate prediction time per case (both measured)."""
    wall = np.asarray(solver_wall_s, dtype=float)
    if wall.size == 0 or not np.all(np.isfinite(wall)) or np.any(wall <= 0):
        raise SurrogateInputError("solver wall times must be positive and finite")
    median = float(np.median(wall))
    return {
        "solver_wall_time_per_case_s_median": median,
        "solver_wall_time_per_case_s_min": float(wall.min()),
        "solver_wall_time_per_case_s_max": float(wall.max()),
        "surrogate_time_single_case_s": prediction["single_case_s"],
        "surrogate_time_per_case_batched_s": prediction["batched_case_s"],
        "speedup_single_case": median / prediction["single_case_s"],
        "speedup_batched": median / prediction["batched_case_s"],
    }


def train_scalar_surrogate(
    space: ParameterSpace,
    x: Any,
    y: Any,
    *,
    name: str,
    test_fraction: float,
    seed: int,
    level: float = 0.95,
    log_target: bool = False,
    n_restarts: int = 3,
    where: str = "",
) -> tuple[GPSurrogate, dict[str, Any], dict[str, np.ndarray]]:
    """Split, fit on the training cases, and score on the held-out ones.

    Returns the fitted model (trained on the training split only, so the reported held-out
    error is that of the model shipped), its metrics, and the arrays a parity plot needs
    (``y_test``, ``pred``, ``lo``, ``hi``, ``train_index``, ``test_index``).
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    y = np.asarray(y, dtype=float).ravel()
    train, test = split_train_test(
        len(y), test_fraction, seed, min_train=min_cases(space.dim), where=where
    )
    model = GPSurrogate(space, log_target=log_target, seed=seed, n_restarts=n_restarts, name=name)
    t0 = time.perf_counter()
    model.fit(x[train], y[train])
    fit_s = time.perf_counter() - t0
    calibration = calibrate_intervals(model, level)
    metrics = heldout_metrics(model, x[test], y[test], level)
    lo, hi = model.interval(x[test], level)
    metrics.update(
        n_train=len(train),
        fit_time_s=fit_s,
        kernel=model.kernel_description,
        log_target=log_target,
        calibration=calibration,
    )
    arrays = {
        "y_test": y[test],
        "pred": model.predict(x[test]),
        "lo": lo,
        "hi": hi,
        "train_index": train,
        "test_index": test,
    }
    return model, metrics, arrays


def coverage_curve(
    model: GPSurrogate, x_test: Any, y_test: Any, levels: Sequence[float]
) -> list[float]:
    """Fraction of held-out values inside the central interval of each nominal level."""
    y_test = np.asarray(y_test, dtype=float).ravel()
    out = []
    for level in levels:
        lo, hi = model.interval(x_test, level)
        out.append(float(np.mean((y_test >= lo) & (y_test <= hi))))
    return out
