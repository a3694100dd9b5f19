"""Analysis for phase-field runs: miscibility gaps and spinodals of f(c), interface width and
energy, structure-factor domain size, phase fractions and the time of phase separation.

- Miscibility gaps (binodals) are the edges of the lower convex hull of f(c) that bridge a
  region where f lies above its hull (the common-tangent construction; e.g. Porter &
  Easterling, *Phase Transformations in Metals and Alloys*, §1.5). Graphite has several stages,
  so every gap is returned and the one containing the mean composition is used.
- Spinodal intervals are where f'' < 0.
- A flat 1-D interface between the binodal compositions a < b obeys κ/2 · c'² = Δf(c), with
  Δf(c) = f(c) − f(a) − μ_t (c − a) the height of f above the common tangent (Cahn & Hilliard,
  J. Chem. Phys. 28, 258, 1958). Hence the interface width w = (b − a) / max c'
  = (b − a) √(κ / (2 max Δf)) and its energy σ = n_s ∫ₐᵇ √(2κ Δf) dc, n_s the number density of
  sites. For f = W c²(1 − c)² the profile is c = ½[1 + tanh(x/δ)] with δ = √(2κ/W), w = 2δ.
- The characteristic domain length is L = 2π/⟨k⟩ with ⟨k⟩ = Σ|k| S(k) / Σ S(k), k ≠ 0, the
  first moment of the structure factor S(k) = |ĉ(k)|² (e.g. Zhu et al., Phys. Rev. E 60, 3564,
  1999).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ionscale.phasefield.core import SpectralGrid


@dataclass(frozen=True)
class MiscibilityGap:
    """One miscibility gap: binodal compositions a < b and its depth, the largest height of f
    above the common tangent on (a, b) (unit of f)."""

    low: float
    high: float
    depth: float

    def contains(self, c: float) -> bool:
        return self.low < c < self.high

    def lever_fraction_high(self, c: float) -> float:
        """Equilibrium fraction of the c-rich phase at mean composition c (lever rule)."""
        return (c - self.low) / (self.high - self.low)


def lower_convex_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the lower convex hull of points sorted by x (Andrew's monotone chain).

    Hand-written because the points are already sorted, the lower hull alone is needed and the
    monotone chain is exact and O(n); scipy.spatial.ConvexHull (Qhull) returns both hulls.
    """
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            cross = (x[a] - x[o]) * (y[i] - y[o]) - (y[a] - y[o]) * (x[i] - x[o])
            if cross > 0:  # strictly convex turn: keep a
                break
            hull.pop()
        hull.append(i)
    return np.asarray(hull)


def miscibility_gaps(
    f: Callable[[np.ndarray], np.ndarray],
    c_range: tuple[float, float],
    min_depth: float,
    dfdc: Callable[[np.ndarray], np.ndarray] | None = None,
    n: int = 4001,
) -> list[MiscibilityGap]:
    """Every miscibility gap of f on c_range (common tangents), sampled on n points.

    A hull edge counts as a gap when f rises above it by more than ``min_depth`` (unit of f);
    this ignores round-off and the noise of a learned f. With ``dfdc`` the binodals are refined
    from the sampled hull by solving the common-tangent equations
    μ(a) = μ(b) = (f(b) − f(a))/(b − a) (scipy.optimize.fsolve); the hull estimate is kept if
    that does not converge nearby.
    """
    c = np.linspace(c_range[0], c_range[1], n)
    y = np.asarray(f(c), dtype=float)
    hull = lower_convex_hull(c, y)
    h = c[1] - c[0]
    gaps = []
    for i, j in itertools.pairwise(hull):
        if j - i < 2:
            continue
        chord = y[i] + (y[j] - y[i]) * (c[i : j + 1] - c[i]) / (c[j] - c[i])
        depth = float(np.max(y[i : j + 1] - chord))
        if depth <= min_depth:
            continue
        a, b = float(c[i]), float(c[j])
        if dfdc is not None:
            a, b = _refine_common_tangent(f, dfdc, a, b, h, c_range)
        gaps.append(MiscibilityGap(a, b, depth))
    return gaps


def _refine_common_tangent(
    f: Callable[[np.ndarray], np.ndarray],
    dfdc: Callable[[np.ndarray], np.ndarray],
    a: float,
    b: float,
    h: float,
    c_range: tuple[float, float],
) -> tuple[float, float]:
    from scipy.optimize import fsolve

    def equations(p: np.ndarray) -> list[float]:
        pa, pb = np.clip(p, c_range[0], c_range[1])
        fa, fb = (float(v) for v in f(np.array([pa, pb])))
        ma, mb = (float(v) for v in dfdc(np.array([pa, pb])))
        return [ma - mb, (fb - fa) - ma * (pb - pa)]

    sol, _, ok, _ = fsolve(equations, [a, b], full_output=True, xtol=1e-12)
    if ok == 1 and abs(sol[0] - a) < 4 * h and abs(sol[1] - b) < 4 * h and sol[0] < sol[1]:
        return float(sol[0]), float(sol[1])
    return a, b


def spinodal_intervals(
    d2f: Callable[[np.ndarray], np.ndarray], c_range: tuple[float, float], n: int = 4001
) -> list[tuple[float, float]]:
    """Intervals of c where f'' < 0 (ends linearly interpolated between samples)."""
    c = np.linspace(c_range[0], c_range[1], n)
    g = np.asarray(d2f(c), dtype=float)
    neg = g < 0
    out = []
    i = 0
    while i < n:
        if not neg[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and neg[j + 1]:
            j += 1
        lo = c[i] if i == 0 else c[i - 1] + (c[i] - c[i - 1]) * g[i - 1] / (g[i - 1] - g[i])
        hi = c[j] if j == n - 1 else c[j] + (c[j + 1] - c[j]) * g[j] / (g[j] - g[j + 1])
        out.append((float(lo), float(hi)))
        i = j + 1
    return out


def interface_properties(
    f: Callable[[np.ndarray], np.ndarray], gap: MiscibilityGap, kappa: float, n: int = 2001
) -> dict[str, float]:
    """Width and energy of a flat equilibrium interface across ``gap`` (see module docstring).

    Units: with f in eV/site and κ in eV·nm² per site, ``width`` is in nm and
    ``energy_per_site_density`` in eV·nm (multiply by the site density to get eV/nm²).
    """
    c = np.linspace(gap.low, gap.high, n)
    y = np.asarray(f(c), dtype=float)
    tangent = y[0] + (y[-1] - y[0]) * (c - c[0]) / (c[-1] - c[0])
    excess = np.clip(y - tangent, 0.0, None)
    width = (gap.high - gap.low) * np.sqrt(kappa / (2 * excess.max()))
    energy = np.trapezoid(np.sqrt(2 * kappa * excess), c)
    return {"width": float(width), "energy_per_site_density": float(energy)}


def mean_wavenumber(grid: SpectralGrid, u_hat: np.ndarray) -> float:
    """⟨k⟩ = Σ|k| S(k) / Σ S(k) over k ≠ 0 (inverse model length unit); nan for a flat field."""
    s = grid.hermitian_weight * grid.power(u_hat)
    s.flat[0] = 0.0
    total = float(s.sum())
    if total == 0.0:
        return float("nan")
    return float(np.sum(grid.k_magnitude * s)) / total


def domain_length(grid: SpectralGrid, u_hat: np.ndarray) -> float:
    """Characteristic domain size 2π/⟨k⟩ (model length unit)."""
    return 2 * np.pi / mean_wavenumber(grid, u_hat)


def separation_time(times: np.ndarray, std: np.ndarray, threshold: float) -> float | None:
    """First time std(c) reaches ``threshold`` (linear interpolation); None if never."""
    above = np.nonzero(std >= threshold)[0]
    if above.size == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(times[0])
    t0, t1, s0, s1 = times[i - 1], times[i], std[i - 1], std[i]
    return float(t0 + (t1 - t0) * (threshold - s0) / (s1 - s0))
