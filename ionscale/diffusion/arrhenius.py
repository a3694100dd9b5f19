"""D(T) across temperatures: the weighted Arrhenius fit and the conductivity at a report T.

Methods
-------
Arrhenius fit
    ln D = ln D0 − Ea/(k_B T), weighted least squares with σ(ln D) = σ_D / D. The parameter
    covariance is (Xᵀ W X)⁻¹ from the D uncertainties, multiplied by the reduced χ² when that
    exceeds 1 (Birge ratio: the scatter says the uncertainties or the single-barrier model fall
    short). D at the report temperature, with a 95 % interval exp(ln D ± 1.96 σ_lnD) from the
    propagated covariance (normal approximation).

    Curvature: with four or more temperatures a quadratic in 1/(k_B T) is fitted with the same
    weights; a curvature term beyond 2 standard errors (after the same Birge scaling) is a
    warning: D(T) bends in the Arrhenius plot (two mechanisms, or a potential whose behaviour
    changes across the sweep), so one Ea does not describe it.

Hop diffusivity (what the continuum models use)
    The MD measures the tracer D* of a cell with c_v = n_vac/(n_mobile + n_vac) vacancies on the
    mobile sublattice. In a vacancy mechanism D* = f·c_v·D_hop (lattice gas, c_v ≪ 1), with f
    the tracer correlation factor of the lattice and D_hop = Γ z a²/(2d) the diffusivity of one
    ion hopping into empty neighbours: the D of the lattice-gas Darken form
    D_chem(x) = D_hop·Θ(x), Θ = x(1 − x) f''(x)/k_BT, that fem and phasefield solve. So
    D_hop = D*/(f·c_v) (D*/f without vacancies): a constant factor, Ea unchanged. In the demo
    cell (2 vacancies in 18 sites, f = 0.56) it is 16×.

Ionic conductivity
    Nernst–Einstein: σ = n z² e² D / (k_B T), with the tracer D (Haven ratio taken as 1, ion–ion
    correlations neglected), n the number density of the mobile ion from the MD cell and z its
    charge number; both are stated in the result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ionscale.diffusion.settings import ArrheniusSettings, DiffusionInputError, _warn
from ionscale.units import ELEMENTARY_CHARGE_C, BOLTZMANN_eV_K

#: two-sided 95 % quantile of the standard normal distribution
Z95 = 1.959963984540054


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
    min_span_K: float = 0.0,
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
    min_span_K:
        Smallest accepted max(T) − min(T), K (config ``diffusion.min_temperature_span_K``).

    Raises
    ------
    DiffusionInputError
        Fewer temperatures than ``min_temperatures`` (or than 2), a span below ``min_span_K``,
        non-positive D or σ_D, or repeated temperatures.
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
    if np.ptp(t) < min_span_K:
        raise DiffusionInputError(
            f"the temperatures with a diffusive regime, {t.tolist()} K, span {np.ptp(t):g} K, "
            f"less than diffusion.min_temperature_span_K = {min_span_K:g} K: Ea would rest on "
            "the noise of a few D values. Widen md.temperatures_K or run longer"
        )
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
    curvature = arrhenius_curvature(t, y, w)
    if curvature is not None and abs(curvature[0]) > 2 * curvature[1]:
        _warn(
            f"D(T) bends in the Arrhenius plot: a quadratic term in 1/kT of {curvature[0]:.3g} ± "
            f"{curvature[1]:.2g} eV² ({abs(curvature[0]) / curvature[1]:.1f} standard errors) "
            f"over {t.tolist()} K; one activation energy does not describe these D values (two "
            "mechanisms, or a potential that changes across the sweep)",
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


def arrhenius_curvature(
    temperature_K: np.ndarray, ln_d: np.ndarray, weights: np.ndarray
) -> tuple[float, float] | None:
    """The quadratic term of ln D = a − Ea·β + q·β² (β = 1/k_B T, centred), eV², and its
    standard error (Birge-scaled when χ²_red > 1); None below four temperatures."""
    if len(temperature_K) < 4:
        return None
    beta = 1.0 / (BOLTZMANN_eV_K * np.asarray(temperature_K, float))
    b = beta - np.average(beta, weights=weights)
    X = np.column_stack([np.ones_like(b), -b, b**2])
    cov = np.linalg.inv(X.T @ (weights[:, None] * X))
    coef = cov @ (X.T @ (weights * ln_d))
    dof = len(b) - 3
    chi2_red = float((weights * (ln_d - X @ coef) ** 2).sum() / dof)
    scale = max(chi2_red, 1.0)
    return float(coef[2]), float(np.sqrt(cov[2, 2] * scale))


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
class ArrheniusResult:
    """The Arrhenius fit and the D(T) data it was fitted on (diffusion/arrhenius.h5)."""

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
    warnings: list[str] = field(default_factory=list)
    vacancy_site_fraction: float = 0.0  # c_v of the MD cell's mobile sublattice

    @property
    def tracer_to_hop_factor(self) -> float:
        """D_hop / D* = 1/(f·c_v), or 1/f without vacancies (module docstring)."""
        f = self.settings.correlation_factor
        c_v = self.vacancy_site_fraction
        return 1.0 / (f * c_v) if c_v > 0 else 1.0 / f


@dataclass
class DiffusionReport:
    """D and the Nernst–Einstein conductivity at the report temperature (diffusion/report.h5).

    ``diffusivity`` and ``conductivity`` hold ``value``, ``uncertainty``, ``ci95_low``,
    ``ci95_high`` (cm²/s and S/cm).
    """

    temperature_K: float
    diffusivity: dict[str, float]
    conductivity: dict[str, float]
    charge_number: float
    number_density_per_cm3: float
    warnings: list[str] = field(default_factory=list)


def report_at(
    res: ArrheniusResult, report_temperature_K: float, extrapolation_warning_ratio: float
) -> DiffusionReport:
    """D(T_r) from the fit (interval through the fit covariance) and σ(T_r) = n z² e² D/(k_B T_r).

    A report temperature far below every fitted MD temperature is an extrapolation, and says
    so. Only plots and reports use this: the handoff reads the fit itself, so changing the
    report temperature reruns nothing downstream.
    """
    notes: list[str] = []
    tr = report_temperature_K
    t_fitted = res.all_temperature_K[res.included]
    if t_fitted.min() > extrapolation_warning_ratio * tr:
        _warn(
            f"every MD temperature ({t_fitted.min():g} K and above) is far above the report "
            f"temperature {tr:g} K: D({tr:g} K) is an extrapolation, and a second Arrhenius "
            "regime (other mechanism, other Ea) at low T would not show in these data",
            notes,
        )
    report = res.fit.diffusivity_cm2_s_at(tr)
    z = res.settings.charge_number
    cond = {
        k: nernst_einstein_conductivity_S_cm(v, res.number_density_per_cm3, tr, z)
        for k, v in report.items()
    }
    return DiffusionReport(
        temperature_K=float(tr),
        diffusivity={k: float(v) for k, v in report.items()},
        conductivity={k: float(v) for k, v in cond.items()},
        charge_number=float(z),
        number_density_per_cm3=res.number_density_per_cm3,
        warnings=notes,
    )


def arrhenius_from_summaries(
    summaries: Sequence[dict[str, Any]], settings: ArrheniusSettings
) -> ArrheniusResult:
    """Fit D(T) from per-temperature msd summaries (:func:`~ionscale.diffusion.read_msd_summary`).

    Temperatures without a diffusive regime (D = NaN) are left out with a warning; the fit then
    needs ``settings.min_temperatures`` of the rest. The number density (for the
    conductivity, :func:`report_at`) is that of the lowest fitted MD temperature.
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
        t[included],
        d[included],
        sd[included],
        min_temperatures=settings.min_temperatures,
        min_span_K=settings.min_temperature_span_K,
    )
    notes += fit.warnings
    first = summaries[int(np.argmax(included))]
    n_density = float(first["number_density_per_cm3"])
    n_vac = int(first.get("mobile_vacancies", 0))
    c_v = n_vac / (int(first.get("n_mobile", 0)) + n_vac) if n_vac > 0 else 0.0
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
        warnings=notes,
        vacancy_site_fraction=c_v,
    )
