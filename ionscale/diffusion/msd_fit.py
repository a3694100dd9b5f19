"""D from one MSD curve: the diffusive window, the MSD covariance and the GLS fit.

Methods
-------
Uncertainty of D (the MSD points are correlated)
    The covariance model of kinisi (McCluskey, Coles, Morgan, J. Chem. Theory Comput. (2024),
    doi:10.1021/acs.jctc.4c01249), implemented here with numpy/scipy rather than by calling
    kinisi 2.1.0: at a lag Δt_i the variance of the MSD is the observed variance of the squared
    displacements divided by the number of non-overlapping observations
    n_i = N_carriers · t_max / Δt_i (kinisi: N_atoms; here the independent carriers, in a
    vacancy mechanism the few vacancies: :func:`~ionscale.diffusion.settings.resolve_carriers`),
    and the covariance of two lags is that of a random walk,
    Σ_ij = σ_i² · n_i / n_j for Δt_i ≤ Δt_j. D follows from a generalised least-squares (GLS;
    Aitken 1935) fit of MSD = 2·d·D·t + c over the diffusive window, with
    Cov(slope, c) = (Xᵀ Σ⁻¹ X)⁻¹. kinisi samples the same Gaussian likelihood by MCMC (emcee)
    under a flat prior; for a linear model that posterior is Gaussian with exactly the GLS mean
    and covariance, so sampling adds run time and randomness but no information. Writing it out
    also lets the MSD come from the FFT (kinisi loops over lags in O(N²)), keeps the result
    deterministic, and avoids kinisi's scipp data model in the pipeline. The squared-displacement
    variance is computed directly (not by FFT) at the at most ``max_fit_points`` lags of the fit.
    Calibration (the stated 95 % interval covering the true D of seeded random walks) is tested.

Diffusive regime (the stated rule, recorded in every msd.h5)
    The window ends at ``max_fit_fraction`` of the trajectory length (longer lags have too few
    independent time origins). It starts at the earliest lag t_s ≥ ``ballistic_time_ps`` for which
    the least-squares slope of log MSD against log t over [t_s, t_end] is within
    1 ± ``slope_tolerance`` (slope 2: ballistic; ≈ 0: vibration in a cage; 1: diffusion) and
    whose squared-displacement variance grows faster than linearly with the lag (power-law
    exponent > 1, see :func:`smooth_variance`): hops dominate it there, as the covariance model
    assumes; at shorter lags of a slow diffuser the vibrations in the cage still do. No such lag
    means no diffusive regime in that direction: D is not reported (NaN, flagged).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ionscale.diffusion.msd import squared_displacement_stats
from ionscale.diffusion.settings import DIRECTIONS, DiffusionInputError
from ionscale.units import A2_PER_PS_TO_CM2_PER_S

# ---------------------------------------------------------------------- diffusive window


@dataclass(frozen=True)
class FitWindow:
    """The lags (frame indices, inclusive) an MSD is fitted over, and why."""

    start: int
    end: int
    loglog_slope: float
    diffusive: bool
    rule: str


def window_rule_text(ballistic_time_ps: float, max_fit_fraction: float, tol: float) -> str:
    """The diffusive-regime rule in words (stored with every fit)."""
    return (
        f"fit window ends at {max_fit_fraction:g} x trajectory length; starts at the earliest "
        f"lag >= {ballistic_time_ps:g} ps (ballistic/vibrational time) whose least-squares "
        f"log-log slope of MSD vs t up to the window end is within 1 +/- {tol:g} and whose "
        "squared-displacement variance grows faster than the lag (the covariance model's "
        "condition); none: no diffusive regime (D not reported)"
    )


def _loglog_slope(t: np.ndarray, msd: np.ndarray, start: int, end: int, n: int = 32) -> float:
    idx = np.unique(np.geomspace(start, end, num=min(n, end - start + 1)).round().astype(int))
    y = msd[idx]
    if len(idx) < 2 or np.any(y <= 0) or np.any(t[idx] <= 0):
        return float("nan")
    return float(np.polyfit(np.log(t[idx]), np.log(y), 1)[0])


def find_diffusive_window(
    time_ps: np.ndarray,
    msd: np.ndarray,
    *,
    ballistic_time_ps: float,
    max_fit_fraction: float,
    slope_tolerance: float,
    min_fit_points: int,
    source: str = "trajectory",
    accept: Callable[[int, int], bool] | None = None,
) -> FitWindow:
    """Apply the stated diffusive-regime rule (module docstring) to one MSD curve.

    Parameters
    ----------
    time_ps:
        Lag times, ps, starting at 0, equally spaced.
    msd:
        MSD at those lags, Å².
    ballistic_time_ps:
        Earliest allowed window start, ps.
    max_fit_fraction:
        Window end as a fraction of the trajectory length.
    slope_tolerance:
        Accepted |log-log slope − 1|.
    min_fit_points:
        Fewest lags (frames) the window must hold.
    source:
        Named in errors (the trajectory file).
    accept:
        Further condition on a candidate window (start, end indices); the first start that
        passes the slope rule and this is taken.

    Raises
    ------
    DiffusionInputError
        When the trajectory is too short to hold ``min_fit_points`` lags in the window.
    """
    n = len(time_ps)
    total = float(time_ps[-1] - time_ps[0])
    end = int(np.searchsorted(time_ps, max_fit_fraction * total, side="right") - 1)
    first = max(1, int(np.searchsorted(time_ps, ballistic_time_ps, side="left")))
    rule = window_rule_text(ballistic_time_ps, max_fit_fraction, slope_tolerance)
    if end - first + 1 < min_fit_points:
        dt = time_ps[1] - time_ps[0] if n > 1 else float("nan")
        raise DiffusionInputError(
            f"{source}: {n} frames ({total:g} ps, every {dt:g} ps) leave {max(0, end - first + 1)}"
            f" lags between diffusion.ballistic_time_ps = {ballistic_time_ps:g} ps and "
            f"diffusion.max_fit_fraction = {max_fit_fraction:g} of the run; the fit needs "
            f"diffusion.min_fit_points = {min_fit_points}: run longer (md.production_steps) or "
            "sample more often (md.sample_stride_steps)"
        )
    last_start = end - min_fit_points + 1
    candidates = np.unique(np.geomspace(first, last_start, num=48).round().astype(int))
    slope = float("nan")
    for s in candidates:
        slope = _loglog_slope(time_ps, msd, int(s), end)
        if np.isfinite(slope) and abs(slope - 1.0) <= slope_tolerance:
            if accept is None or accept(int(s), end):
                return FitWindow(int(s), end, slope, True, rule)
    slope_first = _loglog_slope(time_ps, msd, first, end)
    return FitWindow(first, end, slope_first, False, rule)


# ---------------------------------------------------------------------- GLS fit of D


@dataclass
class DiffusivityFit:
    """D of one direction set from one trajectory, with its GLS uncertainty.

    Attributes
    ----------
    directions:
        "xyz", "xy" or "z"; ``dimensionality`` d is their number (MSD = 2·d·D·t).
    diffusivity_A2_ps, diffusivity_uncertainty_A2_ps:
        D and its standard uncertainty, Å²/ps (NaN when no diffusive regime).
    intercept_A2:
        The fitted MSD offset c (vibrations, ballistic start), Å².
    covariance:
        2×2 covariance of (slope Å²/ps, intercept Å²).
    window:
        The fit window and the rule that chose it.
    fit_lags:
        Lags (frames) used in the GLS fit; ``fit_msd_A2`` their MSD; ``fit_covariance_A4`` their
        modelled covariance (Å⁴).
    """

    directions: str
    dimensionality: int
    diffusivity_A2_ps: float
    diffusivity_uncertainty_A2_ps: float
    intercept_A2: float
    covariance: np.ndarray
    window: FitWindow
    fit_lags: np.ndarray
    fit_msd_A2: np.ndarray
    fit_covariance_A4: np.ndarray
    n_independent_at_start: float

    @property
    def diffusivity_cm2_s(self) -> float:
        return self.diffusivity_A2_ps * A2_PER_PS_TO_CM2_PER_S

    @property
    def diffusivity_uncertainty_cm2_s(self) -> float:
        return self.diffusivity_uncertainty_A2_ps * A2_PER_PS_TO_CM2_PER_S


def msd_covariance(variance_sd: np.ndarray, n_independent: np.ndarray) -> np.ndarray:
    """kinisi's covariance of MSD points (McCluskey et al. 2024), Å⁴.

    Parameters
    ----------
    variance_sd:
        Variance of the squared displacement at each lag, Å⁴ (lags in increasing order).
    n_independent:
        Non-overlapping observations at each lag, N_atoms · t_max / Δt.

    Returns Σ with Σ_ii = var_i / n_i and Σ_ij = Σ_ii · n_i / n_j for i ≤ j (the random-walk
    form: MSD errors at two lags correlate like a Wiener process at two times).
    """
    var_msd = np.asarray(variance_sd, float) / np.asarray(n_independent, float)
    n = np.asarray(n_independent, float)
    i, j = np.meshgrid(np.arange(len(n)), np.arange(len(n)), indexing="ij")
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    return var_msd[lo] * n[lo] / n[hi]


def smooth_variance(lags: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """A power law a·Δt^b through the squared-displacement variances of the fit lags.

    The covariance of :func:`msd_covariance` is a valid (positive-definite) matrix only when
    var_i / Δt_i increases with the lag; noisy per-lag variances break that between close lags.
    A random walk has var ∝ Δt² (and a power law with b > 1 keeps the matrix valid), so the
    observed variances are replaced by their least-squares power law in log–log space, which
    keeps their level and trend from the data. Non-positive or non-finite variances, or b ≤ 1
    (no growth: not a diffusive window), give NaN.
    """
    v = np.asarray(variance, float)
    k = np.asarray(lags, float)
    if len(v) < 2 or np.any(~np.isfinite(v)) or np.any(v <= 0):
        return np.full_like(v, np.nan)
    b, log_a = np.polyfit(np.log(k), np.log(v), 1)
    if b <= 1.0:
        return np.full_like(v, np.nan)
    return np.exp(log_a) * k**b


def gls_line(t: np.ndarray, y: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Generalised least squares y = slope·t + c with data covariance ``cov``.

    Returns (β = [slope, c], Cov(β) = (Xᵀ Σ⁻¹ X)⁻¹, χ² of the residuals).
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    X = np.column_stack([t, np.ones_like(t)])
    scale = float(np.mean(np.diag(cov)))
    c = cov / scale
    try:
        factor = cho_factor(c, lower=True)
    except LinAlgError:
        raise DiffusionInputError("the MSD covariance matrix is not positive definite") from None
    ci_x = cho_solve(factor, X)
    a = X.T @ ci_x
    beta = np.linalg.solve(a, ci_x.T @ y)
    cov_beta = np.linalg.inv(a) * scale
    r = y - X @ beta
    chi2 = float(r @ cho_solve(factor, r)) / scale
    return beta, cov_beta, chi2


def fit_diffusivity(
    positions: np.ndarray,
    time_ps: np.ndarray,
    msd_components_A2: np.ndarray,
    directions: str,
    *,
    ballistic_time_ps: float,
    max_fit_fraction: float,
    slope_tolerance: float,
    min_fit_points: int,
    max_fit_points: int,
    n_carriers: int | None = None,
    source: str = "trajectory",
) -> DiffusivityFit:
    """D for one direction set: window by the stated rule, kinisi covariance, GLS.

    Parameters
    ----------
    positions:
        Unwrapped positions, Å, (n_frames, n_atoms, 3), drift-corrected.
    time_ps:
        Lag times, ps (n_frames,), from 0.
    msd_components_A2:
        Output of :func:`msd_fft` for these positions, Å² (n_frames, 3).
    directions:
        Key of :data:`DIRECTIONS`.
    max_fit_points:
        At most this many lags (evenly spaced in the window) enter the GLS fit.
    n_carriers:
        Independent carriers of the covariance model (default: the atoms).
    """
    if directions not in DIRECTIONS:
        raise DiffusionInputError(
            f"unknown directions {directions!r}; expected one of {', '.join(DIRECTIONS)}"
        )
    comps = DIRECTIONS[directions]
    d = len(comps)
    msd = msd_components_A2[:, list(comps)].sum(axis=1)
    n_frames = positions.shape[0]
    n_walkers = positions.shape[1] if n_carriers is None else int(n_carriers)

    @functools.cache  # the accepted window is evaluated again below
    def fit_inputs(start: int, end: int):
        n_pts = min(max_fit_points, end - start + 1)
        lags = np.unique(np.linspace(start, end, n_pts).round().astype(int))
        n_indep = n_walkers * (n_frames - 1) / lags
        mean_sd, var_sd = squared_displacement_stats(positions, lags, comps)
        return lags, n_indep, mean_sd, msd_covariance(smooth_variance(lags, var_sd), n_indep)

    def covariance_valid(start: int, end: int) -> bool:
        cov = fit_inputs(start, end)[3]
        return bool(np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0))

    window = find_diffusive_window(
        time_ps,
        msd,
        ballistic_time_ps=ballistic_time_ps,
        max_fit_fraction=max_fit_fraction,
        slope_tolerance=slope_tolerance,
        min_fit_points=min_fit_points,
        source=source,
        accept=covariance_valid,
    )
    lags, n_indep, mean_sd, cov = fit_inputs(window.start, window.end)
    if not window.diffusive or not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
        nan = float("nan")
        return DiffusivityFit(
            directions, d, nan, nan, nan, np.full((2, 2), nan), window, lags, mean_sd, cov,
            float(n_indep[0]),
        )  # fmt: skip
    beta, cov_beta, _ = gls_line(time_ps[lags], mean_sd, cov)
    return DiffusivityFit(
        directions=directions,
        dimensionality=d,
        diffusivity_A2_ps=float(beta[0] / (2 * d)),
        diffusivity_uncertainty_A2_ps=float(np.sqrt(cov_beta[0, 0]) / (2 * d)),
        intercept_A2=float(beta[1]),
        covariance=cov_beta,
        window=window,
        fit_lags=lags,
        fit_msd_A2=mean_sd,
        fit_covariance_A4=cov,
        n_independent_at_start=float(n_indep[0]),
    )
