"""Material functions of the particle at one temperature, from the handoff file.

- open-circuit voltage OCV(x) = −μ(x)/e (V vs Li/Li⁺);
- chemical diffusivity D(x, T) = D(T)·Θ(x), with the thermodynamic factor of a lattice gas
  Θ(x) = x(1 − x)·f''(x)/(k_B T) (Θ = 1 for an ideal solution, so D(T) is the hop-limited
  diffusivity; Darken, Trans. AIME 175, 184 (1948); Bazant, Acc. Chem. Res. 46, 1144 (2013)).
  Where f'' < 0 (a miscibility gap) Θ is negative and Fick's law is ill-posed; the model then
  uses max(Θ, Θ_min), a documented regularisation (the phasefield stage resolves such gaps);
- host: c_max, the partial molar volume Ω of Li and the isotropic E, ν.

Θ(x) enters the weak form as a Chebyshev interpolant (:class:`ChebyshevFit`,
:func:`fit_chebyshev`); :func:`intervals_below` reports where the regularisation acts.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ionscale.fem.cases import FemInputError, ParticleCase
from ionscale.units import BOLTZMANN_eV_K

log = logging.getLogger("ionscale.fem")


@dataclass
class ParticleMaterial:
    """Material functions at one temperature, in SI units (plain callables and numbers).

    Parameters
    ----------
    ocv_V:
        Open-circuit voltage (V vs Li/Li⁺) as a function of the Li fraction x.
    thermodynamic_factor:
        Θ(x), dimensionless; D(x) = diffusivity_m2_s·Θ(x).
    diffusivity_m2_s:
        D(T), m²/s.
    c_max_mol_m3:
        Li concentration at x = 1, mol/m³.
    partial_molar_volume_m3_mol:
        Ω, m³/mol: volumetric chemical strain Ω·Δc.
    youngs_modulus_GPa, poisson_ratio:
        Isotropic elastic constants of the host.
    x_range:
        Li fractions where ocv_V and thermodynamic_factor are defined.
    """

    ocv_V: Callable[[np.ndarray], np.ndarray]
    thermodynamic_factor: Callable[[np.ndarray], np.ndarray]
    diffusivity_m2_s: float
    c_max_mol_m3: float
    partial_molar_volume_m3_mol: float
    youngs_modulus_GPa: float
    poisson_ratio: float
    x_range: tuple[float, float] = (0.0, 1.0)

    @classmethod
    def from_handoff(cls, p: Any, temperature_K: float, key: str = "fem") -> ParticleMaterial:
        """Material at ``temperature_K`` from a :class:`ionscale.handoff.ContinuumParameters`.

        A temperature outside the handoff's thermo table is an error naming ``key``.
        """
        T = float(temperature_K)
        lo, hi = p.x_range
        try:
            p.chemical_potential_eV_at(np.array([lo, hi]), T)
        except ValueError as exc:
            raise FemInputError(f"{key}.temperature_K = {T}: {exc}") from None

        # Θ at the table's own x nodes (exact table values, linear in T), then a cubic spline
        # of Θ itself: Θ is smooth where f'' ~ k_BT/(x(1 − x)) is steep near the ends, so
        # spline(Θ) is accurate where x(1 − x)·spline(f'') is not.
        from scipy.interpolate import CubicSpline

        x_nodes = np.asarray(p.x, dtype=float)
        theta_nodes = (
            x_nodes * (1 - x_nodes) * p.d2f_dx2_eV_per_site_at(x_nodes, T) / (BOLTZMANN_eV_K * T)
        )
        theta_spline = CubicSpline(x_nodes, theta_nodes)

        def theta(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=float)
            if np.any(x < lo - 1e-12) or np.any(x > hi + 1e-12):
                raise ValueError(f"Li fraction outside the handoff's x range [{lo}, {hi}]")
            return theta_spline(x)

        return cls(
            ocv_V=lambda x: p.ocv_V_at(x, T),
            thermodynamic_factor=theta,
            diffusivity_m2_s=float(p.diffusivity_cm2_s_at(T)) * 1e-4,  # cm²/s → m²/s
            c_max_mol_m3=float(p.c_max_mol_m3),
            partial_molar_volume_m3_mol=float(p.partial_molar_volume_Li_m3_mol),
            youngs_modulus_GPa=float(p.youngs_modulus_GPa),
            poisson_ratio=float(p.poisson_ratio),
            x_range=(float(lo), float(hi)),
        )

    def validate(self, source: str = "material") -> None:
        """Physical ranges of the scalars; errors name the handoff dataset they come from."""
        checks = (
            ("transport/D0_cm2_s, activation_energy_eV", self.diffusivity_m2_s, lambda v: v > 0),
            ("host/c_max_mol_m3", self.c_max_mol_m3, lambda v: v > 0),
            (
                "host/partial_molar_volume_Li_m3_mol",
                self.partial_molar_volume_m3_mol,
                math.isfinite,
            ),
            ("host/youngs_modulus_GPa", self.youngs_modulus_GPa, lambda v: v > 0),
            ("host/poisson_ratio", self.poisson_ratio, lambda v: -1 < v < 0.5),
        )
        for name, value, ok in checks:
            if not (math.isfinite(value) and ok(value)):
                raise FemInputError(f"{source}: {name} = {value} is unphysical for the fem model")
        lo, hi = self.x_range
        if not 0 <= lo < hi <= 1:
            raise FemInputError(f"{source}: x range [{lo}, {hi}] must lie within [0, 1]")

    def ocv_range_V(self, n: int = 2001) -> tuple[float, float]:
        """Smallest and largest OCV over the whole x range."""
        v = self.ocv_V(np.linspace(*self.x_range, n))
        return float(np.min(v)), float(np.max(v))


def check_case_against_material(case: ParticleCase, material: ParticleMaterial) -> None:
    """Li fractions inside the handoff's x range, cut-off voltage inside its OCV range."""
    k = case.key
    lo, hi = material.x_range
    for attr in ("initial_li_fraction", "final_li_fraction"):
        value = getattr(case, attr)
        if not lo <= value <= hi:
            raise FemInputError(
                f"{k}.{attr} = {value}: outside the handoff's x range [{lo:.4g}, {hi:.4g}]"
            )
    if case.cutoff_voltage_V is None:
        return
    vmin, vmax = material.ocv_range_V()
    v_cut = case.cutoff_voltage_V
    if not vmin < v_cut < vmax:
        raise FemInputError(
            f"{k}.cutoff_voltage_V = {v_cut} V: outside the handoff's OCV range "
            f"[{vmin:.4g}, {vmax:.4g}] V over x in [{lo:.4g}, {hi:.4g}]"
        )
    v0 = float(material.ocv_V(np.array(case.initial_li_fraction)))
    if case.sign * (v0 - v_cut) <= 0:
        raise FemInputError(
            f"{k}.cutoff_voltage_V = {v_cut} V: the OCV at initial_li_fraction is already "
            f"{v0:.4g} V, so {case.direction} would stop at once (the cut-off must be "
            f"{'below' if case.sign > 0 else 'above'} it)"
        )


# -- Chebyshev representation of Θ(x) -------------------------------------------------------------
@dataclass(frozen=True)
class ChebyshevFit:
    """Θ(x) ≈ Σ a_k T_k(s), s = (2x − lo − hi)/(hi − lo), on [lo, hi].

    The weak form needs Θ as a UFL expression (so that SNES gets an exact Jacobian); a
    Chebyshev interpolant represents any smooth tabulated Θ to a chosen accuracy with few
    coefficients, which become a DOLFINx Constant (no recompilation between cases).
    """

    coefficients: np.ndarray
    lo: float
    hi: float
    max_error: float
    theta_min: float
    theta_max: float
    #: Gaussian width (in Li fraction) applied to Θ before the fit; 0 unless Θ jumps at the
    #: edge of a two-phase region (see :func:`fit_thermodynamic_factor`).
    smoothing_width: float = 0.0

    @property
    def degree(self) -> int:
        return len(self.coefficients) - 1

    def __call__(self, x: Any) -> np.ndarray:
        from numpy.polynomial import chebyshev

        s = (2 * np.clip(np.asarray(x, float), self.lo, self.hi) - self.lo - self.hi) / (
            self.hi - self.lo
        )
        return chebyshev.chebval(s, self.coefficients)


#: Degrees tried in turn (each is a separately compiled form, cached by FFCx).
CHEBYSHEV_DEGREES = (4, 8, 16, 32, 64)


def fit_chebyshev(
    func: Callable[[np.ndarray], np.ndarray],
    x_range: tuple[float, float],
    rtol: float = 1e-3,
    what: str = "thermodynamic factor",
) -> ChebyshevFit:
    """Chebyshev interpolant of ``func`` on ``x_range`` with max error ≤ rtol·max|func|.

    The error is measured on 4001 points; a function that needs more than degree 64 (a kink
    or a singularity inside the range) is an error rather than a poor fit.
    """
    from numpy.polynomial import Chebyshev

    lo, hi = map(float, x_range)
    xs = np.linspace(lo, hi, 4001)
    ref = np.asarray(func(xs), dtype=float)
    if not np.all(np.isfinite(ref)):
        bad = xs[~np.isfinite(ref)]
        raise FemInputError(f"{what} is not finite at x = {bad[:5]} (handoff tables)")
    scale = max(float(np.max(np.abs(ref))), 1e-300)
    err = math.inf
    for deg in CHEBYSHEV_DEGREES:
        cheb = Chebyshev.interpolate(lambda x: np.asarray(func(x), float), deg, domain=[lo, hi])
        err = float(np.max(np.abs(cheb(xs) - ref))) / scale
        if err <= rtol:
            return ChebyshevFit(
                coefficients=np.asarray(cheb.coef, float),
                lo=lo,
                hi=hi,
                max_error=err,
                theta_min=float(ref.min()),
                theta_max=float(ref.max()),
            )
    raise FemInputError(
        f"{what}: a degree-{CHEBYSHEV_DEGREES[-1]} Chebyshev fit still has a relative error "
        f"{err:.2e} > fem.solver.fit_tolerance = {rtol:g}; the handoff's f''(x) is not smooth "
        "on its x range (a looser fem.solver.fit_tolerance accepts a rougher fit)"
    )


#: Gaussian widths (Li fraction) tried in turn when Θ jumps at a two-phase edge.
SMOOTHING_WIDTHS = (0.0025, 0.005, 0.01, 0.02, 0.04)


def fit_thermodynamic_factor(
    func: Callable[[np.ndarray], np.ndarray],
    x_range: tuple[float, float],
    rtol: float,
    floor: float,
) -> ChebyshevFit:
    """Chebyshev form of Θ(x), two-phase aware.

    A smooth Θ is fitted as it is (:func:`fit_chebyshev`). Where the learned f(x) has a
    two-phase region (the convex envelope is a straight line, an OCV plateau), Θ is 0 inside
    it and jumps to f''(x_edge)·x(1 − x)/k_BT > 0 at its edges: no polynomial takes a jump.
    Inside such a region the model already replaces Θ by ``floor`` (Θ_min, a documented
    regularisation), so only then Θ is smoothed by a Gaussian of the smallest width in
    :data:`SMOOTHING_WIDTHS` (Li fraction, odd reflection at the ends) whose fit meets
    ``rtol``; the width is recorded in the fit. Physically this spreads the edge of the
    two-phase region over ~2 widths in x, far inside what a single-particle model resolves.
    A kink or jump without such a region is still an error (it is not a regularised gap).
    Written by hand: scipy's filters are used, but no library fits a jump this way.
    """
    try:
        return fit_chebyshev(func, x_range, rtol)
    except FemInputError:
        lo, hi = map(float, x_range)
        gaps = intervals_below(func, (lo, hi), floor)
        if not gaps:
            raise
    from scipy.ndimage import gaussian_filter1d

    xs = np.linspace(lo, hi, 4001)
    raw = np.asarray(func(xs), dtype=float)
    dx = xs[1] - xs[0]
    err: FemInputError | None = None
    for width in SMOOTHING_WIDTHS:
        # odd reflection at the ends keeps a linear trend unbiased (a constant extension
        # would shift a sloped Θ near x_range's ends by ~ slope·width)
        n = min(int(np.ceil(5 * width / dx)), raw.size - 1)
        padded = np.concatenate(
            [2 * raw[0] - raw[n:0:-1], raw, 2 * raw[-1] - raw[-2 : -n - 2 : -1]]
        )
        smooth = gaussian_filter1d(padded, width / dx, mode="nearest")[n:-n]
        try:
            fit = fit_chebyshev(lambda x, s=smooth: np.interp(x, xs, s), (lo, hi), rtol)
        except FemInputError as exc:
            err = exc
            continue
        log.warning(
            "thermodynamic factor jumps at the edge of a two-phase region (Θ < Θ_min = %g on "
            "x in %s): Θ smoothed over a Gaussian width %g in x before the Chebyshev fit",
            floor,
            gaps,
            width,
        )
        return dataclasses.replace(
            fit,
            theta_min=float(raw.min()),
            theta_max=float(raw.max()),
            smoothing_width=width,
        )
    raise FemInputError(
        f"thermodynamic factor: even smoothed over a width {SMOOTHING_WIDTHS[-1]} in x at the "
        f"edges of its two-phase regions, no Chebyshev fit meets fem.solver.fit_tolerance = "
        f"{rtol:g} ({err})"
    )


def intervals_below(
    func: Callable[[np.ndarray], np.ndarray], x_range: tuple[float, float], floor: float
) -> list[list[float]]:
    """x intervals where func(x) < floor (where the regularisation Θ → Θ_min acts)."""
    xs = np.linspace(*x_range, 4001)
    below = np.asarray(func(xs)) < floor
    out: list[list[float]] = []
    start = None
    for x, b in zip(xs, below, strict=True):
        if b and start is None:
            start = x
        if not b and start is not None:
            out.append([float(start), float(x)])
            start = None
    if start is not None:
        out.append([float(start), float(xs[-1])])
    return out
