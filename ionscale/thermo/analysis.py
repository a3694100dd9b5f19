"""Phase behaviour of a free energy f(x): spinodal, two-phase regions, open-circuit voltage.

- Spinodal: where ∂²f/∂x² < 0 the homogeneous state is unstable to small fluctuations
  (Cahn & Hilliard, J. Chem. Phys. 28, 258 (1958)); its ends are the roots of ∂²f/∂x².
- Two-phase regions: the common-tangent construction, i.e. the lower convex envelope of f. Where
  the envelope bridges a stretch of x with a straight segment, phases x_α and x_β coexist at one
  chemical potential μ = (f(x_β) − f(x_α)) / (x_β − x_α) and the voltage is flat (a plateau).
  The envelope of the tabulated f locates each region to one grid step; the pair of equations
  μ(x_α) = μ(x_β) = (f(x_β) − f(x_α)) / (x_β − x_α) is then solved for it (scipy.optimize).
- Open-circuit voltage vs Li/Li⁺: OCV = −(μ_Li − μ_Li,metal)/e; μ here is already referenced to
  bcc Li metal, so OCV (V) = −μ (eV) numerically.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

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
