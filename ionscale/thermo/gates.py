"""The thermo stage's gates: checks whose failure stops the chain before the continuum.

Each is a gate in the sense of :mod:`ionscale.gates` (``action: error | warn``, a recorded
verdict); this module holds their checks.

- **DFT check** (rule thermo_dft_check, :func:`judge_dft_check`): the DP formation energies of
  the recomputed orderings against DFT. The mean absolute error (eV/site) must not exceed
  ``thermo.dft_check.max_mae_eV_per_site`` and every selected structure must have a DFT
  energy. The handoff depends on ``dft_check.json``, so a failed check blocks phasefield, fem
  and the surrogates.
- **OCV identity** (rule thermo_free_energy, :func:`ocv_identity`): with OCV = −μ/e and
  μ = ∂f/∂x,

      ∫₀¹ OCV(x) dx = −[f(1) − f(0)]/e = −[ΔE_f(1) − ΔE_f(0)]/e,

  because the configurational entropy vanishes at the ordered end members, so f there is the
  formation energy of the end members' T = 0 hull vertices (ΔE_f(0) = 0 when the x = 0 end
  member is the reference). The learned f(x, T) is tabulated on x_min..x_max only; the two
  tails are integrated in closed form (:func:`ocv_integral_V`). The difference must not exceed
  ``thermo.ocv_identity.tolerance_V`` at any tabulated temperature: the learned f honours its
  end-point energies.
- **OCV against measurement** (rule thermo_ocv_check, :func:`judge_ocv`): the learned OCV at
  ``thermo.ocv_check.temperature_K`` on ``x_range`` must be finite, not below ``min_V``, not
  rise with x by more than ``monotonic_tolerance_V`` and match each measured window's mean
  (graphite: 0.12 ± 0.05 V on 0.05–0.95, 0.085 ± 0.04 V on 0.6–0.95). The handoff depends on
  ``ocv_check.json``, so a voltage curve that contradicts the measurement is not handed on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ionscale import gates
from ionscale.gates import (
    GateError,
    GateVerdict,
    check_action,
    verdict_of,
)
from ionscale.settings import default, from_section
from ionscale.units import BOLTZMANN_eV_K

log = logging.getLogger("ionscale.thermo.stage")


class ThermoGateError(GateError):
    """A thermo check failed and the config does not allow it; ``record`` holds its numbers."""


# -- DFT check ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DFTCheckSettings:
    """``thermo.dft_check``: which orderings DFT recomputes and when their disagreement stops
    the chain.

    Parameters
    ----------
    enabled:
        Run the check (and make the handoff wait for it).
    n_structures:
        Orderings between the end members recomputed (the x = 1 end member always is).
    max_mae_eV_per_site:
        Largest allowed mean |DP − DFT| formation energy, eV/site.
    action:
        ``error``: a failed check stops the chain; ``warn``: it is logged, recorded as
        ``allowed by config`` and the chain goes on.
    """

    enabled: bool = default("thermo.dft_check.enabled")
    n_structures: int = default("thermo.dft_check.n_structures")
    max_mae_eV_per_site: float = default("thermo.dft_check.max_mae_eV_per_site")
    action: str = default("thermo.dft_check.action")

    def __post_init__(self) -> None:
        check_action("thermo.dft_check.action", self.action)
        if not self.max_mae_eV_per_site > 0:
            raise ValueError(
                "thermo.dft_check.max_mae_eV_per_site: must be > 0 eV/site, got "
                f"{self.max_mae_eV_per_site}"
            )

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> DFTCheckSettings:
        return from_section(cls, section, "thermo.dft_check", error=ValueError)


def judge_dft_check(
    dp_eV_per_site: Sequence[float],
    dft_eV_per_site: Sequence[float],
    li_fraction: Sequence[float],
    index: Sequence[int],
    n_expected: int,
    settings: DFTCheckSettings,
    model: str = "DP",
) -> GateVerdict:
    """The DFT check's verdict on the formation energies DFT could compute.

    Parameters
    ----------
    dp_eV_per_site, dft_eV_per_site:
        DP (model 0) and DFT formation energies per site of the computed structures.
    li_fraction, index:
        Their Li fractions and ordering indices (to name the worst one).
    n_expected:
        Structures the check selected (the x = 1 end member and the orderings); fewer computed
        is a failure (a DFT that did not finish is no evidence the potential is right).
    settings:
        Tolerance and action.
    model:
        What is checked against DFT (``DP``, or ``CE``: the cluster expansion fitted to DFT
        energies, on held-out orderings); it names the messages and the ``worst`` keys.

    Returns the verdict with its numbers: ``mae_eV_per_site``, ``n_computed``, ``n_expected``
    and the ``worst`` structure (index, x, DP, DFT, error).
    """
    dp = np.asarray(dp_eV_per_site, dtype=float)
    dft = np.asarray(dft_eV_per_site, dtype=float)
    err = dp - dft
    key = "thermo.dft_check.max_mae_eV_per_site"
    tol = settings.max_mae_eV_per_site
    numbers: dict[str, Any] = {
        "max_mae_eV_per_site": tol,
        "action": settings.action,
        "n_expected": int(n_expected),
        "n_computed": len(err),
        "mae_eV_per_site": float(np.mean(np.abs(err))) if len(err) else None,
        "worst": None,
    }
    problems = []
    if len(err) < n_expected or not len(err):
        problems.append(
            f"DFT formation energies for only {len(err)} of the {n_expected} selected "
            f"structures (see the DFT failures): too few to check the {model}"
        )
    if len(err):
        w = int(np.argmax(np.abs(err)))
        numbers["worst"] = {
            "index": int(index[w]),
            "li_fraction": float(li_fraction[w]),
            f"{model.lower()}_formation_energy_eV_per_site": float(dp[w]),
            "dft_formation_energy_eV_per_site": float(dft[w]),
            "error_eV_per_site": float(err[w]),
        }
        mae = numbers["mae_eV_per_site"]
        if not mae <= tol:
            problems.append(
                f"{model} vs DFT formation energies: MAE {mae:.4f} eV/site over {len(err)} "
                f"structures exceeds {key} = {tol:g} eV/site; worst: ordering {index[w]} "
                f"(x = {li_fraction[w]:.3f}) {model} {dp[w]:+.4f} vs DFT {dft[w]:+.4f} eV/site"
            )
    return GateVerdict(verdict_of(problems, settings.action), problems, numbers)


# -- OCV identity -------------------------------------------------------------------------------
@dataclass(frozen=True)
class OCVIdentitySettings:
    """``thermo.ocv_identity``: how far ∫₀¹ OCV dx may be from −ΔE_f(x = 1)/e.

    Parameters
    ----------
    tolerance_V:
        Largest allowed |∫₀¹ OCV dx + [ΔE_f(1) − ΔE_f(0)]/e|, V, at every temperature.
    action:
        ``error`` stops the chain on a violation; ``warn`` logs, records and goes on.
    """

    tolerance_V: float = default("thermo.ocv_identity.tolerance_V")
    action: str = default("thermo.ocv_identity.action")

    def __post_init__(self) -> None:
        check_action("thermo.ocv_identity.action", self.action)
        if not self.tolerance_V > 0:
            raise ValueError(
                f"thermo.ocv_identity.tolerance_V: must be > 0 V, got {self.tolerance_V}"
            )

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> OCVIdentitySettings:
        return from_section(cls, section, "thermo.ocv_identity", error=ValueError)


def _mixing(x: Any) -> Any:
    """S(x) = x ln x + (1 − x) ln(1 − x), with S(0) = S(1) = 0."""
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0) + np.where(
        x < 1, (1 - x) * np.log(np.where(x < 1, 1 - x, 1.0)), 0.0
    )


def ocv_integral_V(x: np.ndarray, ocv_V: np.ndarray, temperature_K: float) -> tuple[float, float]:
    """∫₀¹ OCV(x) dx (V) from a table on x_min..x_max, with closed-form tails.

    Inside the table: the trapezoid rule. Below x_min and above x_max the lattice gas is dilute
    (in Li, in vacancies): μ = kT ln(x/(1 − x)) + g(x), the ideal term carrying the
    logarithmic divergence, and the non-ideal remainder g continued linearly from the table's
    first (last) two points. To leading order that is μ(x) ≈ μ(x_min) + kT ln(x/x_min), and
    it is exact for a regular solution. With S(x) = x ln x + (1 − x) ln(1 − x):

        ∫₀^a μ dx = kT S(a) + a g(a) − g′(a) a²/2,
        ∫_b^1 μ dx = −kT S(b) + (1 − b) g(b) + g′(b) (1 − b)²/2.

    Returns (the integral, the tails' part of it), both in V (OCV = −μ/e).
    """
    x = np.asarray(x, dtype=float)
    mu = -np.asarray(ocv_V, dtype=float)
    if x.ndim != 1 or mu.shape != x.shape or len(x) < 3:
        raise ValueError(
            f"need one x grid and one OCV row of >= 3 points, got {x.shape}, {mu.shape}"
        )
    if not (0 < x[0] and x[-1] < 1 and np.all(np.diff(x) > 0)):
        raise ValueError("the x grid must increase strictly inside (0, 1)")
    kT = BOLTZMANN_eV_K * float(temperature_K)
    g = mu - kT * np.log(x / (1 - x))
    a, b = x[0], x[-1]
    slope_lo = (g[1] - g[0]) / (x[1] - x[0])
    slope_hi = (g[-1] - g[-2]) / (x[-1] - x[-2])
    lower = kT * _mixing(a) + a * g[0] - slope_lo * a**2 / 2
    upper = -kT * _mixing(b) + (1 - b) * g[-1] + slope_hi * (1 - b) ** 2 / 2
    inner = float(np.sum(0.5 * (mu[1:] + mu[:-1]) * np.diff(x)))
    return -(inner + lower + upper), -float(lower + upper)


@dataclass
class OCVIdentity:
    """∫₀¹ OCV dx against −[ΔE_f(1) − ΔE_f(0)]/e per temperature, and the verdict."""

    temperature_K: np.ndarray
    integral_V: np.ndarray  # ∫₀¹ OCV dx with the tails
    tails_V: np.ndarray  # the tails' part of it
    expected_V: float  # −[ΔE_f(1) − ΔE_f(0)]/e
    end_formation_eV_per_site: tuple[float, float]  # ΔE_f at x = 0 and x = 1
    tolerance_V: float
    action: str
    verdict: GateVerdict

    @property
    def difference_V(self) -> np.ndarray:
        return self.integral_V - self.expected_V


def end_member_formation_energies(
    hull_x: np.ndarray, hull_formation_eV_per_site: np.ndarray
) -> tuple[float, float]:
    """ΔE_f (eV/site) of the x = 0 and x = 1 vertices of the T = 0 hull (the ordered end
    members f(x, T) must reach)."""
    hx = np.asarray(hull_x, dtype=float)
    he = np.asarray(hull_formation_eV_per_site, dtype=float)
    ends = []
    for v in (0.0, 1.0):
        k = np.flatnonzero(np.isclose(hx, v, atol=1e-9))
        if not len(k):
            raise ValueError(f"the hull has no vertex at x = {v:g} (vertices at {hx.tolist()})")
        ends.append(float(he[k[0]]))
    return ends[0], ends[1]


def ocv_identity(
    x: np.ndarray,
    ocv_V: np.ndarray,
    temperature_K: Sequence[float],
    end_formation_eV_per_site: tuple[float, float],
    settings: OCVIdentitySettings,
) -> OCVIdentity:
    """Check ∫₀¹ OCV dx = −[ΔE_f(1) − ΔE_f(0)]/e at every tabulated temperature.

    Parameters
    ----------
    x:
        The grid (n_x,), inside (0, 1).
    ocv_V:
        OCV vs Li/Li⁺ (n_T, n_x), V: −μ/e with μ = ∂f/∂x.
    temperature_K:
        The temperatures of the rows (K).
    end_formation_eV_per_site:
        Formation energies per site of the x = 0 and x = 1 end members (eV/site).
    settings:
        Tolerance and action.
    """
    temps = np.atleast_1d(np.asarray(temperature_K, dtype=float))
    ocv = np.atleast_2d(np.asarray(ocv_V, dtype=float))
    if ocv.shape[0] != len(temps):
        raise ValueError(f"{ocv.shape[0]} OCV rows for {len(temps)} temperatures")
    rows = [ocv_integral_V(x, row, t) for row, t in zip(ocv, temps, strict=True)]
    integral = np.array([r[0] for r in rows])
    tails = np.array([r[1] for r in rows])
    e0, e1 = (float(e) for e in end_formation_eV_per_site)
    expected = -(e1 - e0)
    diff = integral - expected
    tol = settings.tolerance_V
    problems = [
        f"T = {t:g} K: ∫₀¹ OCV dx = {i:+.4f} V (tails {tl:+.4f} V) but −[ΔE_f(1) − ΔE_f(0)]/e "
        f"= {expected:+.4f} V (ΔE_f(1) = {e1:+.4f}, ΔE_f(0) = {e0:+.4f} eV/site): difference "
        f"{d:+.4f} V exceeds thermo.ocv_identity.tolerance_V = {tol:g} V"
        for t, i, tl, d in zip(temps, integral, tails, diff, strict=True)
        if not abs(d) <= tol
    ]
    numbers = {
        "max_abs_difference_V": float(np.max(np.abs(diff))),
        "tolerance_V": tol,
        "action": settings.action,
    }
    return OCVIdentity(
        temperature_K=temps,
        integral_V=integral,
        tails_V=tails,
        expected_V=expected,
        end_formation_eV_per_site=(e0, e1),
        tolerance_V=tol,
        action=settings.action,
        verdict=GateVerdict(verdict_of(problems, settings.action), problems, numbers),
    )


def enforce(verdict: GateVerdict, what: str, allow_hint: str) -> None:
    """:func:`ionscale.gates.enforce` raising :class:`ThermoGateError`."""
    gates.enforce(verdict, what, allow_hint, error=ThermoGateError, logger=log)


# -- OCV against measurement ----------------------------------------------------------------------
@dataclass(frozen=True)
class OCVWindow:
    """A measured mean OCV over a composition range: ``mean_V`` ± ``tolerance_V`` on
    ``x_min`` ≤ x ≤ ``x_max``."""

    x_min: float
    x_max: float
    mean_V: float
    tolerance_V: float

    def __post_init__(self) -> None:
        if not (0 <= self.x_min < self.x_max <= 1):
            raise ValueError(
                f"thermo.ocv_check.windows: need 0 <= x_min < x_max <= 1, got "
                f"[{self.x_min}, {self.x_max}]"
            )
        if not self.tolerance_V > 0:
            raise ValueError(
                f"thermo.ocv_check.windows: tolerance_V must be > 0 V, got {self.tolerance_V}"
            )


@dataclass(frozen=True)
class OCVCheckSettings:
    """``thermo.ocv_check``: the learned OCV at one temperature against what is measured.

    Parameters
    ----------
    enabled:
        Run the check (and make the handoff wait for it).
    temperature_K:
        The tabulated temperature checked (one of ``thermo.temperatures_K``).
    x_range:
        The composition range of the shape checks (the ends, where μ diverges, are left out).
    min_V:
        Lowest allowed OCV on ``x_range`` (0: Li plating below).
    monotonic_tolerance_V:
        Largest allowed rise of the OCV with x on ``x_range`` (an equilibrium OCV does not
        rise with Li content: ∂μ/∂x ≥ 0 is thermodynamic stability).
    windows:
        Measured mean OCVs (mappings with x_min, x_max, mean_V, tolerance_V).
    action:
        ``error`` stops the chain on a failed check; ``warn`` logs, records and goes on.
    """

    enabled: bool = default("thermo.ocv_check.enabled")
    temperature_K: float = default("thermo.ocv_check.temperature_K")
    x_range: tuple[float, float] = default("thermo.ocv_check.x_range")
    min_V: float = default("thermo.ocv_check.min_V")
    monotonic_tolerance_V: float = default("thermo.ocv_check.monotonic_tolerance_V")
    windows: tuple[Any, ...] = default("thermo.ocv_check.windows")
    action: str = default("thermo.ocv_check.action")

    def __post_init__(self) -> None:
        check_action("thermo.ocv_check.action", self.action)
        lo, hi = (float(v) for v in self.x_range)
        if not (0 < lo < hi < 1):
            raise ValueError(f"thermo.ocv_check.x_range: need 0 < lo < hi < 1, got {[lo, hi]}")
        if not self.monotonic_tolerance_V >= 0:
            raise ValueError(
                "thermo.ocv_check.monotonic_tolerance_V: must be >= 0 V, got "
                f"{self.monotonic_tolerance_V}"
            )
        object.__setattr__(
            self,
            "windows",
            tuple(w if isinstance(w, OCVWindow) else OCVWindow(**dict(w)) for w in self.windows),
        )

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> OCVCheckSettings:
        return from_section(cls, section, "thermo.ocv_check", error=ValueError)


def mean_ocv_V(x: np.ndarray, ocv_V: np.ndarray, x_min: float, x_max: float) -> float:
    """(1/(x_max − x_min)) ∫ OCV dx over [x_min, x_max] ∩ the grid (trapezoid rule on the grid
    points inside, the table linearly interpolated at the window's ends)."""
    x = np.asarray(x, dtype=float)
    v = np.asarray(ocv_V, dtype=float)
    lo, hi = max(x_min, x[0]), min(x_max, x[-1])
    if not hi > lo:
        raise ValueError(f"the window [{x_min}, {x_max}] misses the grid [{x[0]}, {x[-1]}]")
    inside = (x > lo) & (x < hi)
    xs = np.r_[lo, x[inside], hi]
    vs = np.r_[np.interp(lo, x, v), v[inside], np.interp(hi, x, v)]
    return float(np.sum(0.5 * (vs[1:] + vs[:-1]) * np.diff(xs)) / (hi - lo))


def judge_ocv(
    x: np.ndarray,
    ocv_V: np.ndarray,
    temperature_K: float,
    settings: OCVCheckSettings,
) -> GateVerdict:
    """The learned OCV(x) at one temperature against measurement and thermodynamics.

    On ``x_range``: every value finite and ≥ ``min_V``; no rise with x above
    ``monotonic_tolerance_V`` (the largest OCV(x_j) − min_{i ≤ j} OCV(x_i)); and each
    window's mean OCV within its tolerance of the measured mean. The verdict's numbers hold
    every one of them (``min_V`` with its x, ``max_rise_V`` with its x, per window ours and
    measured), failed or not.
    """
    x = np.asarray(x, dtype=float)
    v = np.asarray(ocv_V, dtype=float)
    lo, hi = (float(b) for b in settings.x_range)
    m = (x >= lo) & (x <= hi)
    if m.sum() < 2:
        raise ValueError(f"thermo.ocv_check.x_range [{lo}, {hi}] holds < 2 grid points")
    xs, vs = x[m], v[m]
    key = "thermo.ocv_check"
    where = f"T = {temperature_K:g} K, {lo:g} <= x <= {hi:g}"
    problems: list[str] = []
    numbers: dict[str, Any] = {"temperature_K": float(temperature_K), "x_range": [lo, hi]}
    bad = ~np.isfinite(vs)
    if bad.any():
        problems.append(f"{where}: OCV not finite at {int(bad.sum())} grid points")
        numbers["windows"] = []
        return GateVerdict(verdict_of(problems, settings.action), problems, numbers)
    k = int(np.argmin(vs))
    rise = vs - np.minimum.accumulate(vs)
    j = int(np.argmax(rise))
    numbers.update(
        min_ocv_V=float(vs[k]),
        min_ocv_at_x=float(xs[k]),
        min_allowed_V=float(settings.min_V),
        max_rise_V=float(rise[j]),
        max_rise_at_x=float(xs[j]),
        monotonic_tolerance_V=float(settings.monotonic_tolerance_V),
        action=settings.action,
    )
    if vs[k] < settings.min_V:
        problems.append(
            f"{where}: OCV falls to {vs[k]:+.4f} V at x = {xs[k]:.3f}, below "
            f"{key}.min_V = {settings.min_V:g} V"
        )
    if rise[j] > settings.monotonic_tolerance_V:
        problems.append(
            f"{where}: OCV rises by {rise[j]:.4f} V with Li content up to x = {xs[j]:.3f} "
            f"(an equilibrium OCV does not rise), more than {key}.monotonic_tolerance_V = "
            f"{settings.monotonic_tolerance_V:g} V"
        )
    numbers["windows"] = []
    for w in settings.windows:
        ours = mean_ocv_V(x, v, w.x_min, w.x_max)
        numbers["windows"].append(
            {
                "x_min": w.x_min,
                "x_max": w.x_max,
                "measured_mean_V": w.mean_V,
                "tolerance_V": w.tolerance_V,
                "mean_V": ours,
                "difference_V": ours - w.mean_V,
            }
        )
        if not abs(ours - w.mean_V) <= w.tolerance_V:
            problems.append(
                f"T = {temperature_K:g} K: mean OCV over {w.x_min:g} <= x <= {w.x_max:g} is "
                f"{ours:+.4f} V, measured {w.mean_V:g} ± {w.tolerance_V:g} V "
                f"({key}.windows)"
            )
    return GateVerdict(verdict_of(problems, settings.action), problems, numbers)
