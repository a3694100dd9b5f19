"""Phase behaviour of a free energy f(x): spinodal, two-phase regions, open-circuit voltage.

- Spinodal: where ∂²f/∂x² < 0 the homogeneous state is unstable to small fluctuations
  (Cahn & Hilliard, J. Chem. Phys. 28, 258 (1958)); its ends are the roots of ∂²f/∂x².
- Two-phase regions: the common-tangent construction, i.e. the lower convex envelope of f. Where
  the envelope bridges a stretch of x with a straight segment, phases x_α and x_β coexist at one
  chemical potential μ = (f(x_β) − f(x_α)) / (x_β − x_α) and the voltage is flat (a plateau).
  The envelope of the tabulated f locates each region to one grid step; the pair of equations
  μ(x_α) = μ(x_β) = (f(x_β) − f(x_α)) / (x_β − x_α) is then solved for it (scipy.optimize).
- A separate host phase at x = 0 (graphite, AB-stacked, beside the AA-stacked Li lattice):
  :func:`envelope_with_host_phase` bridges it and the lattice phase by their common tangent.
- Open-circuit voltage vs Li/Li⁺: OCV = −(μ_Li − μ_Li,metal)/e; μ here is already referenced to
  bcc Li metal, so OCV (V) = −μ (eV) numerically.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def ocv_V(chemical_potential_eV: np.ndarray) -> np.ndarray:
    """OCV vs Li/Li⁺ (V) from μ − μ_Li,metal (eV per Li): −μ/e."""
    return -np.asarray(chemical_potential_eV, dtype=float)


def spinodal_intervals(x: np.ndarray, d2f: np.ndarray) -> list[tuple[float, float]]:
    """Intervals [x_lo, x_hi] where ∂²f/∂x² < 0, ends located by linear interpolation."""
    x, d2f = np.asarray(x, dtype=float), np.asarray(d2f, dtype=float)
    neg = d2f < 0
    out = []
    k = 0
    while k < len(x):
        if not neg[k]:
            k += 1
            continue
        start = k
        while k < len(x) and neg[k]:
            k += 1
        end = k - 1
        lo = x[start] if start == 0 else _root(x[start - 1], x[start], d2f[start - 1], d2f[start])
        hi = x[end] if end == len(x) - 1 else _root(x[end], x[end + 1], d2f[end], d2f[end + 1])
        out.append((float(lo), float(hi)))
    return out


def _root(x0: float, x1: float, y0: float, y1: float) -> float:
    return x0 - y0 * (x1 - x0) / (y1 - y0)


def lower_envelope(x: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Indices of the lower convex envelope of points (x increasing): Andrew's monotone chain.

    Hand-written (a dozen lines) because scipy's ConvexHull returns both hulls and fails on
    nearly collinear 1-D data that tabulated free energies often are.
    """
    hull: list[int] = []
    for k in range(len(x)):
        while len(hull) >= 2:
            i, j = hull[-2], hull[-1]
            cross = (x[j] - x[i]) * (f[k] - f[i]) - (f[j] - f[i]) * (x[k] - x[i])
            if cross <= 0:
                hull.pop()
            else:
                break
        hull.append(k)
    return np.array(hull, dtype=int)


def two_phase_regions(
    x: np.ndarray,
    f: np.ndarray,
    f_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    mu_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    min_width: float = 0.0,
) -> list[tuple[float, float, float]]:
    """Two-phase regions (x_α, x_β, μ_coexistence eV) of a tabulated f(x) by common tangent.

    A region is an envelope segment that skips at least one grid point and is wider than
    ``min_width``. With ``f_fn`` and ``mu_fn`` (f and μ = f' as callables) the tangent points
    are refined by solving μ(x_α) = μ(x_β) = secant slope.
    """
    from scipy.optimize import fsolve

    x, f = np.asarray(x, dtype=float), np.asarray(f, dtype=float)
    env = lower_envelope(x, f)
    regions = []
    for i, j in itertools.pairwise(env):
        if j - i < 2 or x[j] - x[i] <= min_width:
            continue
        xa, xb = x[i], x[j]
        if f_fn is not None and mu_fn is not None:

            def equations(v: np.ndarray) -> list[float]:
                a, b = v
                fa, fb = f_fn(np.array([a]))[0], f_fn(np.array([b]))[0]
                ma, mb = mu_fn(np.array([a]))[0], mu_fn(np.array([b]))[0]
                slope = (fb - fa) / (b - a)
                return [ma - slope, mb - slope]

            sol, _info, ier, _ = fsolve(equations, [xa, xb], full_output=True, xtol=1e-12)
            # keep the refinement only when it converged to a pair inside the tabulated range
            # and within two grid steps of the envelope's estimate
            step = 2 * float(np.max(np.diff(x)))
            if (
                ier == 1
                and x[0] <= sol[0] < sol[1] <= x[-1]
                and abs(sol[0] - xa) < step
                and abs(sol[1] - xb) < step
            ):
                xa, xb = float(sol[0]), float(sol[1])
        fa = f_fn(np.array([xa]))[0] if f_fn is not None else np.interp(xa, x, f)
        fb = f_fn(np.array([xb]))[0] if f_fn is not None else np.interp(xb, x, f)
        regions.append((float(xa), float(xb), float((fb - fa) / (xb - xa))))
    return regions


@dataclass
class HostCoexistence:
    """The two-phase region between the empty host phase (x = 0) and the Li lattice phase.

    ``x_tangent`` is the lattice phase's composition where the common tangent from the host
    point (0, f_host) touches f_lattice; ``mu_eV`` the tangent's slope, the chemical potential
    of the plateau (OCV = −μ/e over 0 < x < x_tangent).
    """

    x_tangent: float
    mu_eV: float
    f_host_eV_per_site: float


def envelope_with_host_phase(
    x: np.ndarray,
    f_lattice: np.ndarray,
    mu_lattice: np.ndarray,
    d2f_lattice: np.ndarray,
    f_lattice_at_0: float,
    f_host_eV_per_site: float = 0.0,
    f_fn: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, HostCoexistence | None]:
    """The equilibrium f(x) of a lattice phase beside a separate empty host phase at x = 0.

    The host (graphite: AB-stacked, a structure the Li lattice's own x = 0 cell, AA-stacked, is
    not) is a line phase at (0, f_host). Where f_lattice(0) lies above f_host, the lower convex
    envelope of the host point and f_lattice(x) is the straight common tangent from (0, f_host)
    to the point x_t where it touches f_lattice, slope μ_t = (f_lattice(x_t) − f_host)/x_t =
    f_lattice'(x_t), then f_lattice itself: for x < x_t the host and the lattice phase at x_t
    coexist (lever rule: a fraction x/x_t of the sites is lattice phase), μ is the constant μ_t
    (an OCV plateau at −μ_t/e) and ∂²f/∂x² = 0. The lattice phase's own non-convex stretches
    beyond x_t are kept (its spinodal and miscibility gaps are for the continuum models and the
    two-phase analysis to resolve), so the envelope is taken against the host point only.

    Parameters
    ----------
    x:
        Increasing grid in (0, 1].
    f_lattice, mu_lattice, d2f_lattice:
        The lattice phase's f (eV/site, vs the host reference), μ = ∂f/∂x (eV) and ∂²f/∂x²
        (eV/site) on ``x``.
    f_lattice_at_0:
        f_lattice(0) (eV/site): the lattice's empty cell vs the host (graphite: the stacking
        energy and nothing else at x = 0, where the configurational entropy vanishes).
    f_host_eV_per_site:
        The host phase's f at x = 0 (the reference: 0).
    f_fn:
        f_lattice as a callable, to place x_t between grid points and below the first one.

    Returns
    -------
    (f, μ, ∂²f/∂x²) on ``x`` and the coexistence (None when the host phase is not below the
    lattice's x = 0 end: then the tables are f_lattice's).
    """
    from scipy.optimize import minimize_scalar

    x = np.asarray(x, dtype=float)
    f_l = np.asarray(f_lattice, dtype=float)
    mu_l = np.asarray(mu_lattice, dtype=float)
    d2_l = np.asarray(d2f_lattice, dtype=float)
    if np.any(x <= 0) or np.any(np.diff(x) <= 0):
        raise ValueError("the envelope needs an increasing x grid above 0")
    if not f_lattice_at_0 > f_host_eV_per_site:
        return f_l.copy(), mu_l.copy(), d2_l.copy(), None
    secant = (f_l - f_host_eV_per_site) / x
    k = int(np.argmin(secant))
    x_t, s = float(x[k]), float(secant[k])
    if f_fn is not None:
        lo = x[k - 1] if k > 0 else 1e-9 * x[0]
        hi = x[k + 1] if k < len(x) - 1 else x[k]

        def chord(v: float) -> float:
            return float((f_fn(np.array([v]))[0] - f_host_eV_per_site) / v)

        res = minimize_scalar(chord, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
        if res.success and res.fun <= s:
            x_t, s = float(res.x), float(res.fun)
    inside = x < x_t
    f = np.where(inside, f_host_eV_per_site + s * x, f_l)
    mu = np.where(inside, s, mu_l)
    d2f = np.where(inside, 0.0, d2_l)
    return f, mu, d2f, HostCoexistence(x_t, s, float(f_host_eV_per_site))


def _lower_hull(px: np.ndarray, pf: np.ndarray) -> list[int]:
    """Indices of the lower convex hull of points sorted by x (Andrew's monotone chain; points
    on a hull edge are dropped)."""
    hull: list[int] = []
    for i in range(len(px)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (px[b] - px[a]) * (pf[i] - pf[a]) - (pf[b] - pf[a]) * (px[i] - px[a])
            if cross <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def envelope_with_line_phases(
    x: np.ndarray,
    f: np.ndarray,
    mu: np.ndarray,
    d2f: np.ndarray,
    phase_x: np.ndarray,
    phase_f: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[float, float, float]]]:
    """The equilibrium f(x) of a lattice phase beside line phases (fixed-composition compounds:
    the empty host at x = 0, graphite's staged compounds LiC12, LiC18 ... at x = 1/n).

    The lower convex hull of the lattice samples and the line-phase points is taken; every hull
    edge with a line phase at either end is a two-phase region (two line phases, or a line phase
    and the lattice phase at the tangent point): there f is the straight edge, μ its slope (an
    OCV plateau at −μ/e) and ∂²f/∂x² = 0. Edges between two lattice samples leave f_lattice as
    it is, so the lattice phase's own spinodal and miscibility gaps stay for the continuum
    models (as in :func:`envelope_with_host_phase`). Tangent points fall on the grid (its
    spacing is the resolution). Hand-written: the selective envelope (line phases only) is not
    what a convex-hull library returns.

    Returns (f, μ, ∂²f/∂x²) on ``x`` and the line-phase regions (x_lo, x_hi, μ in eV).
    """
    x = np.asarray(x, dtype=float)
    px = np.r_[x, np.asarray(phase_x, dtype=float)]
    pf = np.r_[np.asarray(f, dtype=float), np.asarray(phase_f, dtype=float)]
    is_phase = np.r_[np.zeros(len(x), bool), np.ones(len(phase_x), bool)]
    order = np.lexsort((~is_phase, px))  # at equal x the line phase first
    px, pf, is_phase = px[order], pf[order], is_phase[order]
    hull = _lower_hull(px, pf)
    f_out, mu_out, d2_out = (np.array(a, dtype=float) for a in (f, mu, d2f))
    segments = []
    for a, b in itertools.pairwise(hull):
        if not (is_phase[a] or is_phase[b]) or px[b] <= px[a]:
            continue
        slope = (pf[b] - pf[a]) / (px[b] - px[a])
        inside = (x > px[a] - 1e-12) & (x < px[b] + 1e-12)
        f_out[inside] = pf[a] + slope * (x[inside] - px[a])
        mu_out[inside] = slope
        d2_out[inside] = 0.0
        segments.append((float(px[a]), float(px[b]), float(slope)))
    return f_out, mu_out, d2_out, segments


def regions_with_line_phases(
    regions: list[tuple[float, float, float]], segments: list[tuple[float, float, float]]
) -> list[tuple[float, float, float]]:
    """The lattice phase's two-phase regions that no line-phase region covers, and the
    line-phase regions, in order of x."""
    kept = [
        r for r in regions if not any(r[0] < s[1] - 1e-12 and r[1] > s[0] + 1e-12 for s in segments)
    ]
    return sorted([*kept, *segments])


def regions_beside_host(
    regions: list[tuple[float, float, float]], coexistence: HostCoexistence | None
) -> list[tuple[float, float, float]]:
    """The two-phase regions (x_α, x_β, μ) of f_lattice with the host–lattice region first:
    regions of the lattice phase that end at or below x_t lie under the host's tangent and go."""
    if coexistence is None:
        return list(regions)
    kept = [r for r in regions if r[1] > coexistence.x_tangent + 1e-12]
    return [(0.0, coexistence.x_tangent, coexistence.mu_eV), *kept]
