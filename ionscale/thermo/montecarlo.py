"""μ(x, T) from Monte Carlo on the cluster expansion (mchammer), with sampling errors.

Two ensembles, one scan each over a control parameter, every point warm-started from the last
configuration of the previous one:

- ``vcsgc`` (default): the variance-constrained semi-grand-canonical ensemble of Sadigh & Erhart
  (Phys. Rev. B 86, 134204 (2012)). The control φ pins ⟨x⟩ ≈ −φ/2, so the scan also crosses
  two-phase regions, and the free-energy derivative is an ensemble average,
  μ = (1/N) ∂F/∂x = κ k_B T (−2⟨x⟩ − φ). This is the sampling the integrable network needs:
  μ(x) data everywhere in x, including where f is concave.
- ``sgc``: the semi-grand-canonical ensemble at fixed Δμ = μ_Li − μ_vacancy gives x(Δμ); only
  stable states are sampled (x jumps across two-phase regions), and x(Δμ) must be increasing.
  The error in μ at the measured x follows from the fluctuation relation
  ∂⟨x⟩/∂Δμ = N Var(x) / k_B T.

The cluster-expansion energy is the formation energy against empty host and bcc Li metal, so
the chemical potential sampled is μ_Li − μ_Li,metal in eV per Li, the handoff's μ.

Sampling errors: one sample per sweep (N trial flips); the standard error of a mean is
σ/√(n/τ_int) with τ_int the integrated autocorrelation time (Sokal's window). When the window
does not close within the series, τ_int is set to the series length (one independent sample)
and the point is flagged.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ionscale.settings import default, default_factory
from ionscale.thermo.structures import VACANCY, HostLattice
from ionscale.units import BOLTZMANN_eV_K

log = logging.getLogger(__name__)

ENSEMBLES = ("vcsgc", "sgc")


class MonteCarloDataError(ValueError):
    """Monte Carlo data that cannot be right (non-monotone x(Δμ), no data at a temperature)."""


@dataclass
class MCSettings:
    """One Monte Carlo scan at one temperature.

    Parameters
    ----------
    ensemble:
        ``"vcsgc"`` or ``"sgc"`` (module docstring).
    supercell:
        Repetitions of the primitive cell along its three cell vectors.
    n_points:
        Points of the scan (control-parameter values).
    x_min, x_max:
        Range of Li fraction the scan targets (VCSGC: φ = −2x; SGC: the Δμ range is chosen so
        that an ideal solution would span it, widened by the hull's voltage range).
    kappa:
        VCSGC variance constraint κ (dimensionless). It must exceed −(∂²f/∂x²)/(2k_BT) in
        two-phase regions, else x cannot be pinned there; μ errors grow in proportion to it.
    equilibration_sweeps, production_sweeps:
        Sweeps (N_sites trial flips each) discarded, then sampled, per point.
    seed:
        Seed of the Monte Carlo random streams.
    """

    ensemble: str = default("thermo.monte_carlo.ensemble")
    supercell: list[int] = field(default_factory=default_factory("thermo.monte_carlo.supercell"))
    n_points: int = default("thermo.monte_carlo.n_points")
    x_min: float = default("thermo.monte_carlo.x_min")
    x_max: float = default("thermo.monte_carlo.x_max")
    kappa: float = default("thermo.monte_carlo.kappa")
    equilibration_sweeps: int = default("thermo.monte_carlo.equilibration_sweeps")
    production_sweeps: int = default("thermo.monte_carlo.production_sweeps")
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"unknown Monte Carlo ensemble {self.ensemble!r}; known: {ENSEMBLES}")
        if not 0 < self.x_min < self.x_max < 1:
            raise ValueError(f"need 0 < x_min < x_max < 1, got {self.x_min}, {self.x_max}")
        if self.n_points < 2:
            raise ValueError(f"n_points must be ≥ 2, got {self.n_points}")


@dataclass
class MCResult:
    """μ(x) data at one temperature (arrays over the scan's points)."""

    temperature_K: float
    ensemble: str
    control: np.ndarray  # φ (vcsgc, 1) or Δμ (sgc, eV)
    li_fraction: np.ndarray
    li_fraction_uncertainty: np.ndarray
    chemical_potential_eV: np.ndarray
    chemical_potential_eV_uncertainty: np.ndarray
    correlation_length_sweeps: np.ndarray
    converged_autocorrelation: np.ndarray
    acceptance_ratio: np.ndarray
    energy_eV_per_site: np.ndarray
    n_sites: int
    n_samples: int
    kappa: float = float("nan")


def integrated_autocorrelation_time(series: np.ndarray, c: float = 5.0) -> tuple[float, bool]:
    """τ_int = 1 + 2 Σ_{t=1}^{M} ρ(t) with Sokal's automatic window (smallest M ≥ c·τ_int(M)).

    Hand-written (a few lines, FFT autocorrelation) because mchammer's estimate, the first lag
    where ρ < e⁻², underestimates the error of weakly but persistently correlated series; Sokal,
    "Monte Carlo methods in statistical mechanics", in Functional Integration (1997). Returns
    (τ_int in samples, whether a window was found before the series ran out).
    """
    x = np.asarray(series, dtype=float) - np.mean(series)
    n = len(x)
    f = np.fft.rfft(x, n=2 * n)
    acf = np.fft.irfft(f * np.conjugate(f))[:n]
    acf /= acf[0]
    taus = 2.0 * np.cumsum(acf) - 1.0
    window = np.arange(n) >= c * taus
    if not window.any():
        return float(n), False
    return float(max(taus[int(np.argmax(window))], 1.0)), True


def standard_error(series: np.ndarray) -> tuple[float, float, bool]:
    """Standard error of the mean of a correlated series: (σ/√(n/τ_int), τ_int, window found?)."""
    series = np.asarray(series, dtype=float)
    n, sd = len(series), float(np.std(series))
    if sd == 0.0:
        return 0.0, 1.0, True
    if n < 8:
        return sd, float(n), False
    tau, ok = integrated_autocorrelation_time(series)
    return sd / float(np.sqrt(n / tau)), tau, ok


def _supercell(host: HostLattice, settings: MCSettings, x: float, rng: np.random.Generator):
    atoms = host.primitive.repeat(tuple(settings.supercell))
    sites = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == host.mobile_species)
    symbols = np.array(atoms.get_chemical_symbols(), dtype=object)
    occupied = rng.permutation(len(sites))[: round(x * len(sites))]
    symbols[sites] = VACANCY
    symbols[sites[occupied]] = host.mobile_species
    atoms.set_chemical_symbols(list(symbols))
    return atoms, sites


def run_monte_carlo(
    ce: Any,
    host: HostLattice,
    temperature_K: float,
    settings: MCSettings,
    control_values: np.ndarray | None = None,
) -> MCResult:
    """Scan the control parameter at one temperature and return μ(x) with sampling errors.

    ``control_values`` overrides the scan (φ for vcsgc, Δμ in eV for sgc).
    """
    from mchammer.calculators import ClusterExpansionCalculator
    from mchammer.ensembles import SemiGrandCanonicalEnsemble, VCSGCEnsemble

    if temperature_K <= 0:
        raise ValueError(f"temperature must be > 0 K, got {temperature_K}")
    kT = BOLTZMANN_eV_K * temperature_K
    rng = np.random.default_rng(settings.seed)
    targets = np.linspace(settings.x_min, settings.x_max, settings.n_points)
    if control_values is None:
        if settings.ensemble == "vcsgc":
            control_values = -2.0 * targets
        else:
            control_values = _sgc_scan(ce, host, kT, settings)
    control_values = np.asarray(control_values, dtype=float)
    x0 = targets[0] if settings.ensemble == "vcsgc" else 0.5
    structure, sites = _supercell(host, settings, x0, rng)
    n_sites = len(sites)
    calc = ClusterExpansionCalculator(structure, ce)
    eq_trials = settings.equilibration_sweeps * n_sites
    prod_trials = settings.production_sweeps * n_sites
    rows = []
    for k, c in enumerate(control_values):
        common = dict(
            structure=structure,
            calculator=calc,
            temperature=temperature_K,
            random_seed=int(rng.integers(2**31 - 1)),
            ensemble_data_write_interval=n_sites,
            trajectory_write_interval=10**12,
            data_container_write_period=float("inf"),
        )
        if settings.ensemble == "vcsgc":
            mc = VCSGCEnsemble(phis={host.mobile_species: float(c)}, kappa=settings.kappa, **common)
        else:
            mc = SemiGrandCanonicalEnsemble(
                chemical_potentials={host.mobile_species: float(c), VACANCY: 0.0}, **common
            )
        mc.run(eq_trials + prod_trials)
        dc = mc.data_container
        n_li = dc.get(f"{host.mobile_species}_count", start=eq_trials).astype(float)
        x_series = n_li / n_sites
        potential = dc.get("potential", start=eq_trials)
        accept = dc.get("acceptance_ratio", start=eq_trials)
        x_err, tau, ok = standard_error(x_series)
        if settings.ensemble == "vcsgc":
            mu_series = dc.get(f"free_energy_derivative_{host.mobile_species}", start=eq_trials)
            mu, mu_err = float(np.mean(mu_series)), 2.0 * settings.kappa * kT * x_err
        else:
            # fluctuation relation: d⟨x⟩/dΔμ = N Var(x) / kT; σ_μ = σ_x / (d⟨x⟩/dΔμ)
            var = float(np.var(x_series))
            slope = n_sites * var / kT
            mu = float(c)
            mu_err = x_err / slope if slope > 0 else float("inf")
        rows.append(
            (
                float(np.mean(x_series)),
                x_err,
                mu,
                mu_err,
                tau,
                ok,
                float(np.mean(accept)),
                float(np.mean(potential)) / n_sites,
            )
        )
        structure = mc.structure  # warm start of the next point
        log.info(
            "T = %g K point %d/%d: control %.4g -> x = %.4f ± %.4f, mu = %.4f ± %.4f eV",
            temperature_K,
            k + 1,
            len(control_values),
            c,
            rows[-1][0],
            x_err,
            mu,
            mu_err,
        )
    arr = np.array(rows, dtype=float)
    result = MCResult(
        temperature_K=float(temperature_K),
        ensemble=settings.ensemble,
        control=control_values,
        li_fraction=arr[:, 0],
        li_fraction_uncertainty=arr[:, 1],
        chemical_potential_eV=arr[:, 2],
        chemical_potential_eV_uncertainty=arr[:, 3],
        correlation_length_sweeps=arr[:, 4],
        converged_autocorrelation=arr[:, 5].astype(bool),
        acceptance_ratio=arr[:, 6],
        energy_eV_per_site=arr[:, 7],
        n_sites=n_sites,
        n_samples=settings.production_sweeps,
        kappa=settings.kappa if settings.ensemble == "vcsgc" else float("nan"),
    )
    if not result.converged_autocorrelation.all():
        bad = result.li_fraction[~result.converged_autocorrelation]
        warnings.warn(
            f"T = {temperature_K} K: the autocorrelation of x did not decay within the "
            f"production run at x = {np.round(bad, 3).tolist()}; their errors assume one "
            "independent sample (raise thermo.monte_carlo.production_sweeps)",
            stacklevel=2,
        )
    return result


def _sgc_scan(ce: Any, host: HostLattice, kT: float, settings: MCSettings) -> np.ndarray:
    """Δμ values (eV) for an SGC scan: the ideal-solution Δμ of [x_min, x_max], widened by the
    range of slopes of the cluster expansion's end-member line (its T = 0 voltage range)."""
    lo = kT * np.log(settings.x_min / (1 - settings.x_min))
    hi = kT * np.log(settings.x_max / (1 - settings.x_max))
    e0 = ce.predict(host.end_member(0)) * len(host.primitive) / host.n_sites
    e1 = ce.predict(host.end_member(1)) * len(host.primitive) / host.n_sites
    slope = e1 - e0
    return np.linspace(min(lo + slope, lo), max(hi + slope, hi), settings.n_points)


def check_sgc_monotone(result: MCResult, n_sigma: float = 3.0) -> None:
    """x(Δμ) from SGC must increase with Δμ (stability: ∂x/∂Δμ = N Var(x)/kT ≥ 0).

    A decrease beyond ``n_sigma`` combined standard errors is an error naming the points; a
    smaller one (noise) is a warning. VCSGC data may legitimately have μ(x) decreasing (the
    concave part of f), so they are not checked here.
    """
    if result.ensemble != "sgc":
        return
    order = np.argsort(result.control)
    x = result.li_fraction[order]
    s = result.li_fraction_uncertainty[order]
    mu = result.control[order]
    for k in range(len(x) - 1):
        drop = x[k] - x[k + 1]
        tol = n_sigma * np.hypot(s[k], s[k + 1])
        if drop > tol and drop > 1.0 / result.n_sites:
            raise MonteCarloDataError(
                f"T = {result.temperature_K} K: SGC Li fraction decreases from x = {x[k]:.4f} "
                f"at Δμ = {mu[k]:.4f} eV to x = {x[k + 1]:.4f} at Δμ = {mu[k + 1]:.4f} eV; "
                "a stable free energy is convex, so x(Δμ) must increase: the sampling is not "
                "equilibrated (raise equilibration/production sweeps or use ensemble vcsgc)"
            )
        if drop > 0 and drop > 1.0 / result.n_sites:
            warnings.warn(
                f"T = {result.temperature_K} K: SGC x(Δμ) not monotone within noise between "
                f"Δμ = {mu[k]:.4f} and {mu[k + 1]:.4f} eV (x = {x[k]:.4f} → {x[k + 1]:.4f})",
                stacklevel=2,
            )


def lattice_gas_mu(x: np.ndarray, temperature_K: float) -> np.ndarray:
    """Ideal lattice gas: μ = k_B T ln(x / (1 − x)) (eV), the zero-interaction known answer."""
    x = np.asarray(x, dtype=float)
    return BOLTZMANN_eV_K * temperature_K * np.log(x / (1 - x))
