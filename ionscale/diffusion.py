"""Tracer diffusion from MD: FFT mean-square displacement, D(T) with a calibrated uncertainty,
a weighted Arrhenius fit, and the Nernst–Einstein conductivity at a report temperature.

Methods
-------
Mean-square displacement (MSD)
    The time-origin averaged MSD of every lag at once, in O(N log N) per atom and direction, by
    the FFT algorithm of nMOLDYN (Kneller, Keiner, Kneller, Schiller, Comput. Phys. Commun. 91,
    191 (1995); Calandrini, Pellegrini, Calligari, Hinsen, Kneller, Collection SFN 12, 201
    (2011)): MSD(m) = S1(m) − 2·S2(m), with S2 the position autocorrelation computed by a
    zero-padded FFT and S1(m) = Σ_k [r²(k+m) + r²(k)] / (N − m) from cumulative sums. Positions
    are taken relative to the system's centre of mass when the trajectory stores it (drift
    correction). :func:`msd_direct` is the O(N²) windowed definition, kept for tests and bench.

Uncertainty of D (the MSD points are correlated)
    The covariance model of kinisi (McCluskey, Coles, Morgan, J. Chem. Theory Comput. (2024),
    doi:10.1021/acs.jctc.4c01249), implemented here with numpy/scipy rather than by calling
    kinisi 2.1.0: at a lag Δt_i the variance of the MSD is the observed variance of the squared
    displacements divided by the number of non-overlapping observations
    n_i = N_atoms · t_max / Δt_i, and the covariance of two lags is that of a random walk,
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

Hops
    An independent-event count: per atom, a hop is counted each time the atom is farther than
    ``hop_distance_A`` from its anchor, and the anchor then moves to the current position. With
    few hops a D and its uncertainty mean little; a warning says so.

Arrhenius fit
    ln D = ln D0 − Ea/(k_B T), weighted least squares with σ(ln D) = σ_D / D. The parameter
    covariance is (Xᵀ W X)⁻¹ from the D uncertainties, multiplied by the reduced χ² when that
    exceeds 1 (Birge ratio: the scatter says the uncertainties or the single-barrier model fall
    short). D at the report temperature, with a 95 % interval exp(ln D ± 1.96 σ_lnD) from the
    propagated covariance (normal approximation).

Ionic conductivity
    Nernst–Einstein: σ = n z² e² D / (k_B T), with the tracer D (Haven ratio taken as 1, ion–ion
    correlations neglected), n the number density of the mobile ion from the MD cell and z its
    charge number; both are stated in the result.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.io import Quantity, add_dataset, atomic_path, open_result_h5
from ionscale.provenance import Provenance
from ionscale.settings import default
from ionscale.units import A2_PER_PS_TO_CM2_PER_S, ELEMENTARY_CHARGE_C, BOLTZMANN_eV_K

#: Direction sets an MSD/D is reported for: name → Cartesian components (d = their number).
DIRECTIONS: dict[str, tuple[int, ...]] = {"xyz": (0, 1, 2), "xy": (0, 1), "z": (2,)}

#: two-sided 95 % quantile of the standard normal distribution
Z95 = 1.959963984540054

#: memory budget for one block of atoms in the FFT / squared-displacement passes (bytes)
_BLOCK_BYTES = 256 * 1024**2


class DiffusionInputError(ValueError):
    """Input the diffusion analysis cannot use (names the key or file and what was expected)."""


class DiffusionWarning(UserWarning):
    """A result that is computed but should be read with care (few hops, extrapolation...)."""


def _warn(message: str, sink: list[str] | None = None) -> None:
    warnings.warn(message, DiffusionWarning, stacklevel=3)
    if sink is not None:
        sink.append(message)


# ------------------------------------------------------------------------------------- MSD


def _as_frames_atoms_xyz(positions: np.ndarray) -> np.ndarray:
    x = np.asarray(positions, dtype=float)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3 or x.shape[2] != 3:
        raise DiffusionInputError(
            f"positions must have shape (n_frames, n_atoms, 3) in Å, got {x.shape}"
        )
    if x.shape[0] < 2:
        raise DiffusionInputError(f"an MSD needs at least 2 frames, got {x.shape[0]}")
    return x


def msd_fft(positions: np.ndarray) -> np.ndarray:
    """Time-origin averaged MSD per Cartesian component, for every lag, by FFT (nMOLDYN).

    Parameters
    ----------
    positions:
        Unwrapped positions, Å, shape (n_frames, n_atoms, 3) (or (n_frames, 3) for one atom),
        frames equally spaced in time.

    Returns
    -------
    numpy.ndarray
        Shape (n_frames, 3), Å²: ⟨(x_a(k+m) − x_a(k))²⟩ averaged over origins k and atoms, per
        component a, for lags m = 0 … n_frames − 1. Sum the columns for the MSD of a direction set.
    """
    from scipy import fft

    x = _as_frames_atoms_xyz(positions)
    n = x.shape[0]
    nfft = fft.next_fast_len(2 * n, real=True)
    counts = (n - np.arange(n)).astype(float)[:, None, None]
    lags = np.arange(n)
    out = np.zeros((n, 3))
    block = max(1, _BLOCK_BYTES // (16 * nfft * 3))
    for a0 in range(0, x.shape[1], block):
        xb = x[:, a0 : a0 + block]
        # A constant shift per atom leaves the MSD unchanged and shrinks round-off in S1 − 2·S2.
        xb = xb - xb.mean(axis=0)
        spec = fft.rfft(xb, n=nfft, axis=0)
        s2 = fft.irfft(spec * spec.conj(), n=nfft, axis=0)[:n] / counts
        csum = np.concatenate([np.zeros((1, *xb.shape[1:])), np.cumsum(xb**2, axis=0)])
        # Σ_{k=0}^{n-m-1} x²(k) + Σ_{k=m}^{n-1} x²(k)
        s1 = (csum[n - lags] + (csum[n] - csum[lags])) / counts
        out += (s1 - 2.0 * s2).sum(axis=1)
    return out / x.shape[1]


def msd_direct(positions: np.ndarray, lags: Sequence[int] | None = None) -> np.ndarray:
    """The windowed MSD by its definition, O(n_frames²): the reference for :func:`msd_fft`.

    Returns shape (len(lags), 3) in Å² (per component), lags in frames (default: all).
    """
    x = _as_frames_atoms_xyz(positions)
    n = x.shape[0]
    lags = np.arange(n) if lags is None else np.asarray(lags, dtype=int)
    out = np.zeros((len(lags), 3))
    for i, m in enumerate(lags):
        if m == 0:
            continue
        d = x[m:] - x[:-m]
        out[i] = (d**2).mean(axis=(0, 1))
    return out


def squared_displacement_stats(
    positions: np.ndarray, lags: Sequence[int], components: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample variance of the squared displacement over all origins and atoms.

    Parameters
    ----------
    positions:
        Unwrapped positions, Å, (n_frames, n_atoms, 3).
    lags:
        Lags in frames (≥ 1).
    components:
        Cartesian components summed into the squared displacement, e.g. (0, 1) for in-plane.

    Returns
    -------
    (mean Å², variance Å⁴), each of shape (len(lags),).
    """
    x = _as_frames_atoms_xyz(positions)[:, :, list(components)]
    mean = np.empty(len(lags))
    var = np.empty(len(lags))
    for i, m in enumerate(lags):
        if m < 1 or m >= x.shape[0]:
            raise DiffusionInputError(f"lag {m} outside 1 … {x.shape[0] - 1} frames")
        s = ((x[m:] - x[:-m]) ** 2).sum(axis=2)
        mean[i] = s.mean()
        var[i] = s.var(ddof=1) if s.size > 1 else np.nan
    return mean, var


def count_hops(positions: np.ndarray, hop_distance_A: float) -> np.ndarray:
    """Hops per atom: moves farther than ``hop_distance_A`` (Å) from the last anchor position.

    The anchor starts at the first frame and jumps to the current position at each hop, so a
    vibration (amplitude ≪ hop distance) never counts and a hop back counts again.

    Returns an integer array (n_atoms,).
    """
    x = _as_frames_atoms_xyz(positions)
    if hop_distance_A <= 0:
        raise DiffusionInputError(f"hop distance must be > 0 Å, got {hop_distance_A}")
    anchor = x[0].copy()
    hops = np.zeros(x.shape[1], dtype=int)
    limit = hop_distance_A**2
    for frame in x[1:]:
        moved = ((frame - anchor) ** 2).sum(axis=1) > limit
        hops += moved
        anchor[moved] = frame[moved]
    return hops


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
    """
    if directions not in DIRECTIONS:
        raise DiffusionInputError(
            f"unknown directions {directions!r}; expected one of {', '.join(DIRECTIONS)}"
        )
    comps = DIRECTIONS[directions]
    d = len(comps)
    msd = msd_components_A2[:, list(comps)].sum(axis=1)
    n_frames, n_atoms = positions.shape[0], positions.shape[1]

    @functools.cache  # the accepted window is evaluated again below
    def fit_inputs(start: int, end: int):
        n_pts = min(max_fit_points, end - start + 1)
        lags = np.unique(np.linspace(start, end, n_pts).round().astype(int))
        n_indep = n_atoms * (n_frames - 1) / lags
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


# ------------------------------------------------------------------ one trajectory → msd.h5


@dataclass
class MSDSettings:
    """Settings of the per-temperature MSD analysis (config key ``diffusion``).

    Parameters
    ----------
    directions:
        Direction set whose D enters the Arrhenius fit ("xyz", "xy", "z"); all three are
        computed and stored.
    ballistic_time_ps:
        Earliest start of the fit window, ps.
    max_fit_fraction:
        End of the fit window as a fraction of the run.
    slope_tolerance:
        Accepted |log-log slope − 1| for the diffusive regime.
    min_fit_points, max_fit_points:
        Fewest lags the window must hold; most lags used by the GLS fit.
    hop_distance_A:
        Displacement from the anchor that counts as a hop, Å.
    min_hops:
        Fewer observed hops than this give a warning.
    """

    directions: str = default("diffusion.directions")
    ballistic_time_ps: float = default("diffusion.ballistic_time_ps")
    max_fit_fraction: float = default("diffusion.max_fit_fraction")
    slope_tolerance: float = default("diffusion.slope_tolerance")
    min_fit_points: int = default("diffusion.min_fit_points")
    max_fit_points: int = default("diffusion.max_fit_points")
    hop_distance_A: float = default("diffusion.hop_distance_A")
    min_hops: int = default("diffusion.min_hops")

    def __post_init__(self) -> None:
        if self.min_fit_points > self.max_fit_points:
            raise DiffusionInputError(
                f"diffusion.min_fit_points = {self.min_fit_points} exceeds "
                f"diffusion.max_fit_points = {self.max_fit_points}"
            )

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> MSDSettings:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in cfg.items() if k in keys})


@dataclass
class MSDResult:
    """MSD, D per direction set and hop count of one trajectory (one temperature)."""

    temperature_K: float
    time_ps: np.ndarray
    msd_components_A2: np.ndarray
    fits: dict[str, DiffusivityFit]
    n_hops: int
    n_mobile: int
    mobile_species: str
    volume_A3: float
    settings: MSDSettings
    warnings: list[str] = field(default_factory=list)

    @property
    def number_density_per_cm3(self) -> float:
        return self.n_mobile / (self.volume_A3 * 1e-24)


def read_trajectory(path: str | Path) -> dict[str, Any]:
    """Read the md stage's trajectory.h5 (contract: md/T{T}K/trajectory.h5) for analysis.

    Positions are returned relative to the system's centre of mass when the file stores it
    (``center_of_mass_A``). Raises :class:`DiffusionInputError` naming the file and what is
    missing.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DiffusionInputError(f"{path}: trajectory file not found")
    with h5py.File(path, "r") as h5:
        for name in ("time_ps", "positions_A"):
            if name not in h5:
                raise DiffusionInputError(f"{path}: no dataset {name!r} (md trajectory contract)")
        for name in ("temperature_K", "mobile_species", "volume_A3"):
            if name not in h5.attrs:
                raise DiffusionInputError(f"{path}: no root attribute {name!r}")
        time_ps = h5["time_ps"][()]
        pos = h5["positions_A"]
        if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[0] != len(time_ps):
            raise DiffusionInputError(
                f"{path}: positions_A has shape {pos.shape}; expected "
                f"({len(time_ps)}, n_mobile, 3) matching time_ps"
            )
        if pos.shape[1] == 0:
            raise DiffusionInputError(f"{path}: no atoms of the mobile species in positions_A")
        positions = pos[()]
        if "center_of_mass_A" in h5:
            positions = positions - h5["center_of_mass_A"][()][:, None, :]
        species = h5.attrs["mobile_species"]
        out = {
            "time_ps": time_ps - time_ps[0],
            "positions_A": positions,
            "temperature_K": float(h5.attrs["temperature_K"]),
            "mobile_species": species.decode() if isinstance(species, bytes) else str(species),
            "volume_A3": float(h5.attrs["volume_A3"]),
        }
    dt = np.diff(out["time_ps"])
    if len(dt) == 0 or not np.allclose(dt, dt[0], rtol=1e-6, atol=1e-9) or dt[0] <= 0:
        raise DiffusionInputError(f"{path}: time_ps must be equally spaced and increasing")
    return out


def analyse_positions(
    positions: np.ndarray,
    time_ps: np.ndarray,
    settings: MSDSettings,
    *,
    temperature_K: float = float("nan"),
    mobile_species: str = "Li",
    volume_A3: float = float("nan"),
    source: str = "trajectory",
) -> MSDResult:
    """MSD (FFT), D ± σ for every direction set, and hops, from unwrapped positions."""
    if settings.directions not in DIRECTIONS:
        raise DiffusionInputError(
            f"diffusion.directions = {settings.directions!r}; expected one of "
            f"{', '.join(DIRECTIONS)}"
        )
    positions = _as_frames_atoms_xyz(positions)
    time_ps = np.asarray(time_ps, float)
    msd = msd_fft(positions)
    fits = {}
    for name in DIRECTIONS:
        fits[name] = fit_diffusivity(
            positions,
            time_ps,
            msd,
            name,
            ballistic_time_ps=settings.ballistic_time_ps,
            max_fit_fraction=settings.max_fit_fraction,
            slope_tolerance=settings.slope_tolerance,
            min_fit_points=settings.min_fit_points,
            max_fit_points=settings.max_fit_points,
            source=source,
        )
    hops = int(count_hops(positions, settings.hop_distance_A).sum())
    result = MSDResult(
        temperature_K=temperature_K,
        time_ps=time_ps,
        msd_components_A2=msd,
        fits=fits,
        n_hops=hops,
        n_mobile=positions.shape[1],
        mobile_species=mobile_species,
        volume_A3=volume_A3,
        settings=settings,
    )
    main = fits[settings.directions]
    where = f"T = {temperature_K:g} K ({source})"
    if not main.window.diffusive:
        _warn(
            f"{where}: no diffusive regime in the {settings.directions} MSD (log-log slope "
            f"{main.window.loglog_slope:.2f}, rule: {main.window.rule}); D is not reported",
            result.warnings,
        )
    if hops < settings.min_hops:
        _warn(
            f"{where}: only {hops} {mobile_species} hops observed (fewer than "
            f"diffusion.min_hops = {settings.min_hops}): D and its uncertainty rest on too few "
            "independent events to be trusted; run longer or hotter",
            result.warnings,
        )
    return result


def analyse_trajectory(path: str | Path, settings: MSDSettings) -> MSDResult:
    """:func:`analyse_positions` on an md trajectory.h5 file."""
    traj = read_trajectory(path)
    return analyse_positions(
        traj["positions_A"],
        traj["time_ps"],
        settings,
        temperature_K=traj["temperature_K"],
        mobile_species=traj["mobile_species"],
        volume_A3=traj["volume_A3"],
        source=str(path),
    )


def write_msd_h5(path: str | Path, result: MSDResult, provenance: Provenance) -> Path:
    """diffusion/T{T}K/msd.h5: MSD(t), the fit windows, covariance, D ± σ per direction set.

    Root datasets ``diffusivity_cm2_s`` (+ ``_uncertainty``) are those of ``settings.directions``
    (the Arrhenius input); every direction set has its group ``<dirs>/`` with the MSD, the fit
    lags, the modelled covariance of the fitted MSD points and the rule that chose the window.
    """
    s = result.settings
    with open_result_h5(path, provenance) as h5:
        add_dataset(h5, "temperature_K", result.temperature_K, "K")
        add_dataset(h5, "time_ps", result.time_ps, "ps", "lag time")
        add_dataset(
            h5, "msd_components_A2", result.msd_components_A2, "Å²",
            "time-origin and atom averaged MSD per Cartesian component (x, y, z), FFT method",
        )  # fmt: skip
        main = result.fits[s.directions]
        add_dataset(
            h5, "diffusivity_cm2_s", main.diffusivity_cm2_s, "cm²/s",
            f"tracer D from the {s.directions} MSD (d = {main.dimensionality}); NaN: no "
            "diffusive regime",
        )  # fmt: skip
        add_dataset(
            h5, "diffusivity_cm2_s_uncertainty", main.diffusivity_uncertainty_cm2_s, "cm²/s",
            "standard uncertainty of D (kinisi MSD covariance + GLS)",
        )  # fmt: skip
        add_dataset(h5, "n_hops", result.n_hops, "1", f"hops farther than {s.hop_distance_A} Å")
        add_dataset(h5, "number_density_per_cm3", result.number_density_per_cm3, "1/cm³")
        for name, fit in result.fits.items():
            g = h5.create_group(name)
            add_dataset(
                g, "msd_A2", result.msd_components_A2[:, list(DIRECTIONS[name])].sum(axis=1),
                "Å²", f"MSD over components {name}",
            )  # fmt: skip
            add_dataset(g, "diffusivity_cm2_s", fit.diffusivity_cm2_s, "cm²/s")
            add_dataset(
                g, "diffusivity_cm2_s_uncertainty", fit.diffusivity_uncertainty_cm2_s, "cm²/s"
            )
            add_dataset(g, "intercept_A2", fit.intercept_A2, "Å²", "fitted MSD offset c")
            add_dataset(g, "fit_time_ps", result.time_ps[fit.fit_lags], "ps")
            add_dataset(g, "fit_msd_A2", fit.fit_msd_A2, "Å²")
            add_dataset(
                g, "fit_covariance_A4", fit.fit_covariance_A4, "Å⁴",
                "modelled covariance of the fitted MSD points (kinisi random-walk form)",
            )  # fmt: skip
            add_dataset(g, "fit_start_ps", result.time_ps[fit.window.start], "ps")
            add_dataset(g, "fit_end_ps", result.time_ps[fit.window.end], "ps")
            add_dataset(g, "loglog_slope", fit.window.loglog_slope, "1")
            g.attrs["dimensionality"] = fit.dimensionality
            g.attrs["diffusive"] = bool(fit.window.diffusive)
            g.attrs["window_rule"] = fit.window.rule
        h5.attrs["temperature_K"] = result.temperature_K
        h5.attrs["mobile_species"] = result.mobile_species
        h5.attrs["directions"] = s.directions
        h5.attrs["dimensionality"] = main.dimensionality
        h5.attrs["n_mobile"] = result.n_mobile
        h5.attrs["volume_A3"] = result.volume_A3
        h5.attrs["window_rule"] = main.window.rule
        h5.attrs["uncertainty_method"] = (
            "kinisi MSD covariance model (McCluskey et al. 2024) + generalised least squares"
        )
        h5.attrs["warnings_json"] = json.dumps(result.warnings)
    return Path(path)


def read_msd_summary(path: str | Path) -> dict[str, Any]:
    """What the Arrhenius fit needs from one msd.h5 (D ± σ, T, hops, density, directions)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DiffusionInputError(f"{path}: msd file not found")
    with h5py.File(path, "r") as h5:
        try:
            return {
                "temperature_K": float(h5["temperature_K"][()]),
                "diffusivity_cm2_s": float(h5["diffusivity_cm2_s"][()]),
                "diffusivity_cm2_s_uncertainty": float(h5["diffusivity_cm2_s_uncertainty"][()]),
                "n_hops": int(h5["n_hops"][()]),
                "number_density_per_cm3": float(h5["number_density_per_cm3"][()]),
                "directions": str(h5.attrs["directions"]),
                "dimensionality": int(h5.attrs["dimensionality"]),
                "mobile_species": str(h5.attrs["mobile_species"]),
            }
        except KeyError as exc:
            raise DiffusionInputError(f"{path}: missing {exc} (not an ionscale msd.h5?)") from None


# ------------------------------------------------------------------------------ Arrhenius


@dataclass
class ArrheniusFit:
    """ln D = ln D0 − Ea/(k_B T), fitted with weights 1/σ(ln D)².

    Attributes
    ----------
    temperature_K, diffusivity_cm2_s, diffusivity_uncertainty_cm2_s:
        The data fitted.
    ln_D0, activation_energy_eV:
        Parameters (D0 in cm²/s).
    covariance:
        2×2 covariance of (ln D0 [1], Ea [eV]), Birge-scaled when χ²_red > 1.
    chi2_reduced:
        χ²/(n − 2); NaN for two temperatures.
    """

    temperature_K: np.ndarray
    diffusivity_cm2_s: np.ndarray
    diffusivity_uncertainty_cm2_s: np.ndarray
    ln_D0: float
    activation_energy_eV: float
    covariance: np.ndarray
    chi2_reduced: float
    birge_scaled: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def D0_cm2_s(self) -> float:
        return math.exp(self.ln_D0)

    @property
    def D0_uncertainty_cm2_s(self) -> float:
        return self.D0_cm2_s * math.sqrt(self.covariance[0, 0])

    @property
    def activation_energy_uncertainty_eV(self) -> float:
        return math.sqrt(self.covariance[1, 1])

    def ln_diffusivity(self, temperature_K: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """ln D(T) and its standard uncertainty, propagated through the fit covariance."""
        t = np.asarray(temperature_K, float)
        g = np.stack([np.ones_like(t), -1.0 / (BOLTZMANN_eV_K * t)], axis=-1)
        ln_d = self.ln_D0 - self.activation_energy_eV / (BOLTZMANN_eV_K * t)
        var = np.einsum("...i,ij,...j->...", g, self.covariance, g)
        return ln_d, np.sqrt(var)

    def diffusivity_cm2_s_at(self, temperature_K: np.ndarray | float) -> dict[str, np.ndarray]:
        """D(T) with standard uncertainty (D·σ_lnD) and the 95 % interval, cm²/s."""
        ln_d, s = self.ln_diffusivity(temperature_K)
        d = np.exp(ln_d)
        return {
            "value": d,
            "uncertainty": d * s,
            "ci95_low": np.exp(ln_d - Z95 * s),
            "ci95_high": np.exp(ln_d + Z95 * s),
        }


def fit_arrhenius(
    temperature_K: Sequence[float],
    diffusivity_cm2_s: Sequence[float],
    diffusivity_uncertainty_cm2_s: Sequence[float],
    *,
    min_temperatures: int = 3,
) -> ArrheniusFit:
    """Weighted Arrhenius fit (module docstring).

    Parameters
    ----------
    temperature_K, diffusivity_cm2_s, diffusivity_uncertainty_cm2_s:
        One entry per temperature; D > 0 and σ_D > 0.
    min_temperatures:
        Fewest temperatures accepted (config ``diffusion.min_temperatures``; ≥ 2). With exactly
        two, the covariance reflects the D uncertainties only (no degree of freedom to test the
        Arrhenius form) and a warning says so.

    Raises
    ------
    DiffusionInputError
        Fewer temperatures than ``min_temperatures`` (or than 2), non-positive D or σ_D, or
        repeated temperatures.
    """
    t = np.asarray(temperature_K, float)
    d = np.asarray(diffusivity_cm2_s, float)
    s = np.asarray(diffusivity_uncertainty_cm2_s, float)
    if not (t.shape == d.shape == s.shape) or t.ndim != 1:
        raise DiffusionInputError("temperatures, D and σ_D must be 1-D arrays of equal length")
    need = max(2, int(min_temperatures))
    if len(t) < need:
        extra = "" if len(t) < 2 else " (3 are needed for an uncertainty on Ea that the data test)"
        raise DiffusionInputError(
            f"the Arrhenius fit needs at least {need} temperatures (diffusion.min_temperatures)"
            f"{extra}; got {len(t)} with a diffusive regime: {t.tolist()} K. Add temperatures "
            "to md.temperatures_K or run longer"
        )
    if np.any(~np.isfinite(d)) or np.any(d <= 0) or np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise DiffusionInputError(
            f"the Arrhenius fit needs D > 0 and σ_D > 0 at every temperature; got D = {d.tolist()}"
            f" cm²/s, σ_D = {s.tolist()} cm²/s at T = {t.tolist()} K"
        )
    if len(np.unique(t)) != len(t) or np.any(t <= 0):
        raise DiffusionInputError(f"temperatures must be positive and distinct; got {t.tolist()}")
    y = np.log(d)
    w = (d / s) ** 2  # 1/σ(ln D)²
    X = np.column_stack([np.ones_like(t), -1.0 / (BOLTZMANN_eV_K * t)])
    a = X.T @ (w[:, None] * X)
    cov = np.linalg.inv(a)
    beta = cov @ (X.T @ (w * y))
    resid = y - X @ beta
    dof = len(t) - 2
    chi2_red = float((w * resid**2).sum() / dof) if dof > 0 else float("nan")
    fit_warnings: list[str] = []
    scaled = False
    if dof > 0 and chi2_red > 1:
        cov = cov * chi2_red
        scaled = True
    if dof == 0:
        _warn(
            "two temperatures: the Arrhenius form cannot be tested; the Ea and D0 uncertainties "
            "propagate the D uncertainties only",
            fit_warnings,
        )
    return ArrheniusFit(
        temperature_K=t,
        diffusivity_cm2_s=d,
        diffusivity_uncertainty_cm2_s=s,
        ln_D0=float(beta[0]),
        activation_energy_eV=float(beta[1]),
        covariance=cov,
        chi2_reduced=chi2_red,
        birge_scaled=scaled,
        warnings=fit_warnings,
    )


def nernst_einstein_conductivity_S_cm(
    diffusivity_cm2_s: np.ndarray | float,
    number_density_per_cm3: float,
    temperature_K: float,
    charge_number: float = 1.0,
) -> np.ndarray:
    """σ = n z² e² D / (k_B T), S/cm (n in 1/cm³, D in cm²/s; Haven ratio 1)."""
    n = number_density_per_cm3 * 1e6  # 1/m³
    d = np.asarray(diffusivity_cm2_s, float) * 1e-4  # m²/s
    k_j = BOLTZMANN_eV_K * ELEMENTARY_CHARGE_C  # J/K
    sigma_s_m = n * charge_number**2 * ELEMENTARY_CHARGE_C**2 * d / (k_j * temperature_K)
    return sigma_s_m / 100.0


@dataclass
class ArrheniusSettings:
    """Settings of the Arrhenius step (config key ``diffusion``).

    Parameters
    ----------
    report_temperature_K:
        Temperature at which D and σ are reported, K.
    charge_number:
        z of the mobile ion (Li⁺: 1).
    min_temperatures:
        Fewest temperatures with a diffusive regime the fit accepts.
    extrapolation_warning_ratio:
        Warn when the lowest MD temperature exceeds this multiple of the report temperature.
    """

    report_temperature_K: float = default("diffusion.report_temperature_K")
    charge_number: float = default("diffusion.charge_number")
    min_temperatures: int = default("diffusion.min_temperatures")
    extrapolation_warning_ratio: float = default("diffusion.extrapolation_warning_ratio")

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ArrheniusSettings:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in cfg.items() if k in keys})


@dataclass
class ArrheniusResult:
    """The Arrhenius fit with D and conductivity at the report temperature."""

    fit: ArrheniusFit
    settings: ArrheniusSettings
    all_temperature_K: np.ndarray
    all_diffusivity_cm2_s: np.ndarray
    all_diffusivity_uncertainty_cm2_s: np.ndarray
    included: np.ndarray
    n_hops: np.ndarray
    number_density_per_cm3: float
    directions: str
    dimensionality: int
    mobile_species: str
    report: dict[str, np.ndarray]
    conductivity: dict[str, np.ndarray]
    warnings: list[str] = field(default_factory=list)


def arrhenius_from_summaries(
    summaries: Sequence[dict[str, Any]], settings: ArrheniusSettings
) -> ArrheniusResult:
    """Fit D(T) from per-temperature msd summaries (:func:`read_msd_summary`).

    Temperatures without a diffusive regime (D = NaN) are left out with a warning; the fit then
    needs ``settings.min_temperatures`` of the rest. The number density of the conductivity is
    that of the lowest MD temperature (closest to the report temperature).
    """
    if not summaries:
        raise DiffusionInputError("no msd results given to the Arrhenius fit")
    dirs = {s["directions"] for s in summaries}
    if len(dirs) != 1:
        raise DiffusionInputError(f"msd results mix direction sets {sorted(dirs)}")
    order = np.argsort([s["temperature_K"] for s in summaries])
    summaries = [summaries[i] for i in order]
    t = np.array([s["temperature_K"] for s in summaries])
    d = np.array([s["diffusivity_cm2_s"] for s in summaries])
    sd = np.array([s["diffusivity_cm2_s_uncertainty"] for s in summaries])
    hops = np.array([s["n_hops"] for s in summaries])
    included = np.isfinite(d) & (d > 0) & np.isfinite(sd) & (sd > 0)
    notes: list[str] = []
    if np.any(~included):
        _warn(
            f"left out of the Arrhenius fit (no diffusive regime or D ≤ 0): "
            f"{t[~included].tolist()} K",
            notes,
        )
    fit = fit_arrhenius(
        t[included], d[included], sd[included], min_temperatures=settings.min_temperatures
    )
    notes += fit.warnings
    tr = settings.report_temperature_K
    if t[included].min() > settings.extrapolation_warning_ratio * tr:
        _warn(
            f"every MD temperature ({t[included].min():g} K and above) is far above the report "
            f"temperature {tr:g} K: D({tr:g} K) is an extrapolation, and a second Arrhenius "
            "regime (other mechanism, other Ea) at low T would not show in these data",
            notes,
        )
    report = fit.diffusivity_cm2_s_at(tr)
    n_density = float(summaries[int(np.argmax(included))]["number_density_per_cm3"])
    cond = {
        k: nernst_einstein_conductivity_S_cm(v, n_density, tr, settings.charge_number)
        for k, v in report.items()
    }
    return ArrheniusResult(
        fit=fit,
        settings=settings,
        all_temperature_K=t,
        all_diffusivity_cm2_s=d,
        all_diffusivity_uncertainty_cm2_s=sd,
        included=included,
        n_hops=hops,
        number_density_per_cm3=n_density,
        directions=summaries[0]["directions"],
        dimensionality=summaries[0]["dimensionality"],
        mobile_species=summaries[0]["mobile_species"],
        report={k: float(v) for k, v in report.items()},
        conductivity={k: float(v) for k, v in cond.items()},
        warnings=notes,
    )


def write_arrhenius_h5(path: str | Path, res: ArrheniusResult, provenance: Provenance) -> Path:
    """diffusion/arrhenius.h5 (contract): D(T), Ea, D0, D and σ at the report temperature."""
    f = res.fit
    tr = res.settings.report_temperature_K
    q = {
        "temperature_K": Quantity(res.all_temperature_K, "K", "MD temperatures"),
        "diffusivity_cm2_s": Quantity(
            res.all_diffusivity_cm2_s, "cm²/s",
            f"tracer D ({res.directions}, d = {res.dimensionality}) per temperature",
            res.all_diffusivity_uncertainty_cm2_s,
        ),
        "included_in_fit": Quantity(res.included.astype(np.int8), "1", "1: used by the fit"),
        "n_hops": Quantity(res.n_hops, "1", "observed hops per temperature"),
        "activation_energy_eV": Quantity(
            f.activation_energy_eV, "eV", "Arrhenius activation energy",
            f.activation_energy_uncertainty_eV,
        ),
        "D0_cm2_s": Quantity(f.D0_cm2_s, "cm²/s", "Arrhenius prefactor", f.D0_uncertainty_cm2_s),
        "fit/ln_D0_variance": Quantity(f.covariance[0, 0], "1", "Var(ln D0), D0 in cm²/s"),
        "fit/activation_energy_variance_eV2": Quantity(f.covariance[1, 1], "eV²", "Var(Ea)"),
        "fit/covariance_lnD0_Ea_eV": Quantity(f.covariance[0, 1], "eV", "Cov(ln D0, Ea)"),
        "fit/chi2_reduced": Quantity(f.chi2_reduced, "1", "NaN for two temperatures"),
        "report_temperature_K": Quantity(tr, "K"),
        "number_density_per_cm3": Quantity(
            res.number_density_per_cm3, "1/cm³",
            f"{res.mobile_species} number density (MD cell, lowest fitted temperature)",
        ),
        "charge_number": Quantity(res.settings.charge_number, "1", "z of the mobile ion"),
    }  # fmt: skip
    for name, vals, unit, what in (
        ("diffusivity_at_report_cm2_s", res.report, "cm²/s", "D"),
        ("conductivity_at_report_S_cm", res.conductivity, "S/cm", "Nernst–Einstein σ"),
    ):
        q[name] = Quantity(vals["value"], unit, f"{what} at {tr:g} K", vals["uncertainty"])
        q[f"{name}_ci95_low"] = Quantity(vals["ci95_low"], unit, "95 % interval, lower end")
        q[f"{name}_ci95_high"] = Quantity(vals["ci95_high"], unit, "95 % interval, upper end")
    with open_result_h5(path, provenance) as h5:
        for name, item in q.items():
            add_dataset(h5, name, np.asarray(item.value), item.units, item.description)
            if item.uncertainty is not None:
                add_dataset(
                    h5, f"{name}_uncertainty", np.asarray(item.uncertainty), item.units,
                    f"standard uncertainty of {name}",
                )  # fmt: skip
        h5.attrs["directions"] = res.directions
        h5.attrs["dimensionality"] = res.dimensionality
        h5.attrs["mobile_species"] = res.mobile_species
        h5.attrs["birge_scaled"] = bool(f.birge_scaled)
        h5.attrs["method"] = (
            "weighted least squares of ln D vs 1/(k_B T), weights 1/σ(ln D)²; covariance "
            "Birge-scaled when chi2_red > 1; 95 % interval exp(ln D ± 1.96 σ); Nernst–Einstein "
            "with Haven ratio 1"
        )
        h5.attrs["warnings_json"] = json.dumps(res.warnings)
    return Path(path)


# ---------------------------------------------------------------------------------- plots


def plot_msd(result: MSDResult, path: str | Path) -> Path:
    """MSD(t) per direction set with the fitted window and line (log-log and linear panels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    colors = {"xyz": "C0", "xy": "C1", "z": "C2"}
    t = result.time_ps
    for name, fit in result.fits.items():
        msd = result.msd_components_A2[:, list(DIRECTIONS[name])].sum(axis=1)
        for ax in axes:
            ax.plot(
                t[1:], msd[1:], color=colors[name], lw=1, label=f"{name} (d={fit.dimensionality})"
            )
            tw = t[fit.window.start : fit.window.end + 1]
            if fit.window.diffusive and np.isfinite(fit.diffusivity_A2_ps):
                line = 2 * fit.dimensionality * fit.diffusivity_A2_ps * tw + fit.intercept_A2
                d_cm = fit.diffusivity_cm2_s
                ax.plot(tw, line, "--", color="k", lw=1)
                ax.axvspan(tw[0], tw[-1], color=colors[name], alpha=0.08)
                if ax is axes[1]:
                    ax.text(
                        tw[-1], line[-1], f" D={d_cm:.2e}±{fit.diffusivity_uncertainty_cm2_s:.1e}",
                        fontsize=7, color=colors[name],
                    )  # fmt: skip
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("lag time (ps)")
        ax.set_ylabel(f"{result.mobile_species} MSD (Å²)")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"T = {result.temperature_K:g} K, {result.n_mobile} {result.mobile_species}, "
        f"{result.n_hops} hops; shaded: fit window",
        fontsize=9,
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_arrhenius(res: ArrheniusResult, path: str | Path) -> Path:
    """ln D vs 1000/T with error bars, the fit and its 95 % band down to the report temperature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = res.fit
    tr = res.settings.report_temperature_K
    t_grid = np.linspace(min(tr, res.all_temperature_K.min()), res.all_temperature_K.max(), 200)
    band = f.diffusivity_cm2_s_at(t_grid)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    x = 1000 / t_grid
    ax.fill_between(x, band["ci95_low"], band["ci95_high"], color="C0", alpha=0.2,
                    label="95 % band")  # fmt: skip
    ea, sea = f.activation_energy_eV, f.activation_energy_uncertainty_eV
    ax.plot(x, band["value"], color="C0", label=f"Ea = {ea:.3f} ± {sea:.3f} eV")
    inc = res.included
    ax.errorbar(1000 / res.all_temperature_K[inc], res.all_diffusivity_cm2_s[inc],
                yerr=Z95 * res.all_diffusivity_uncertainty_cm2_s[inc], fmt="o", color="k",
                capsize=3, label="MD (95 %)")  # fmt: skip
    r = res.report
    err = [[r["value"] - r["ci95_low"]], [r["ci95_high"] - r["value"]]]
    ax.errorbar([1000 / tr], [r["value"]], yerr=err, fmt="s", color="C3", capsize=3,
                label=f"D({tr:g} K) = {r['value']:.2e} cm²/s")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel(f"D_{res.directions} ({res.mobile_species}) (cm²/s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return Path(path)


def format_arrhenius_summary(path: str | Path) -> str:
    """The headline numbers of an arrhenius.h5, in words (for logs and closing notes)."""
    import h5py

    with h5py.File(path, "r") as h5:
        g = {name: h5[name][()] for name in h5 if isinstance(h5[name], h5py.Dataset)}
        dirs = str(h5.attrs["directions"])
        species = str(h5.attrs["mobile_species"])
        notes = json.loads(h5.attrs.get("warnings_json", "[]"))
    tr = float(g["report_temperature_K"])
    lines = [
        f"{species} tracer diffusion ({dirs}), Arrhenius fit over "
        + ", ".join(
            f"{t:g} K ({'fitted' if inc else 'left out'}, {int(h)} hops)"
            for t, inc, h in zip(g["temperature_K"], g["included_in_fit"], g["n_hops"], strict=True)
        ),
        f"  Ea = {g['activation_energy_eV']:.3f} ± {g['activation_energy_eV_uncertainty']:.3f} eV, "
        f"D0 = {g['D0_cm2_s']:.2e} ± {g['D0_cm2_s_uncertainty']:.1e} cm²/s",
        f"  D({tr:g} K) = {g['diffusivity_at_report_cm2_s']:.2e} cm²/s, 95 % interval "
        f"[{g['diffusivity_at_report_cm2_s_ci95_low']:.2e}, "
        f"{g['diffusivity_at_report_cm2_s_ci95_high']:.2e}]",
        f"  σ({tr:g} K) = {g['conductivity_at_report_S_cm']:.2e} S/cm, 95 % interval "
        f"[{g['conductivity_at_report_S_cm_ci95_low']:.2e}, "
        f"{g['conductivity_at_report_S_cm_ci95_high']:.2e}] (Nernst–Einstein, z = "
        f"{g['charge_number']:g}, n = {g['number_density_per_cm3']:.3e} cm⁻³, Haven ratio 1)",
    ]
    lines += [f"  warning: {n}" for n in notes]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m ionscale.diffusion results/<system>/diffusion/arrhenius.h5
    import sys

    for arg in sys.argv[1:] or ["-h"]:
        if arg in ("-h", "--help"):
            print("usage: python -m ionscale.diffusion ARRHENIUS_H5 [...]")
            continue
        print(format_arrhenius_summary(arg))
