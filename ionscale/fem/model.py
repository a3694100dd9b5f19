"""Inputs of the particle model: operating case, solver settings, material functions, kinetics.

Everything here is plain numpy/scipy (no DOLFINx), so the config checks run in the Snakefile and
the kinetics are testable alone.

Material (at one temperature T, from the handoff file):

- open-circuit voltage OCV(x) = −μ(x)/e (V vs Li/Li⁺);
- chemical diffusivity D(x, T) = D(T)·Θ(x), with the thermodynamic factor of a lattice gas
  Θ(x) = x(1 − x)·f''(x)/(k_B T) (Θ = 1 for an ideal solution, so D(T) is the hop-limited
  diffusivity; Darken, Trans. AIME 175, 184 (1948); Bazant, Acc. Chem. Res. 46, 1144 (2013)).
  Where f'' < 0 (a miscibility gap) Θ is negative and Fick's law is ill-posed; the model then
  uses max(Θ, Θ_min), a documented regularisation (the phasefield stage resolves such gaps);
- host: c_max, the partial molar volume Ω of Li and the isotropic E, ν.

Kinetics (Butler–Volmer, Newman & Thomas-Alyea, Electrochemical Systems, 3rd ed., §8):
i = i₀(x_s)·[exp(α_a F η / RT) − exp(−α_c F η / RT)], α_c = α, α_a = 1 − α, anodic current
positive, η = V − OCV(x_s). The exchange current density depends on the surface Li fraction as
i₀(x_s) = i₀,ref·(2 x_s)^α_c·(2 (1 − x_s))^α_a (the c_s^α_c (c_max − c_s)^α_a law with the
electrolyte concentration fixed), so i₀ = i₀,ref at x_s = 1/2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ionscale.settings import default
from ionscale.units import BOLTZMANN_eV_K, FARADAY_C_mol, GAS_CONSTANT_J_mol_K

#: Seconds per hour (the C-rate is in 1/h).
SECONDS_PER_HOUR = 3600.0
DIRECTIONS = ("lithiation", "delithiation")


class FemInputError(ValueError):
    """A fem case, its settings or its handoff file cannot be used; the message names the key."""


# -- operating case -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParticleCase:
    """One operating point of a spherical particle under galvanostatic (dis)charge.

    Parameters
    ----------
    name:
        Case name (results in ``fem/{name}/``).
    c_rate:
        Current in 1/h: 1 C fills the particle from x = 0 to x = 1 in one hour.
    radius_um:
        Particle radius, µm.
    temperature_K:
        Temperature, K (must lie in the handoff's thermo temperature range).
    exchange_current_density_A_m2:
        i₀,ref, the exchange current density at x_s = 1/2, A/m².
    direction:
        ``"lithiation"`` (Li in, x rises, voltage falls) or ``"delithiation"``.
    initial_li_fraction:
        Uniform x at t = 0 (stress-free reference state).
    final_li_fraction:
        Mean x at which the particle counts as full (empty for delithiation); a stop criterion.
    cutoff_voltage_V:
        Terminal voltage (V vs Li/Li⁺) that ends the run; ``None`` = no voltage cut-off.
    charge_transfer_coefficient:
        α = α_c (cathodic); α_a = 1 − α.
    """

    name: str
    c_rate: float = 1.0
    radius_um: float = 5.0
    temperature_K: float = 300.0
    exchange_current_density_A_m2: float = 1.0
    direction: str = "lithiation"
    initial_li_fraction: float = 0.03
    final_li_fraction: float = 0.97
    cutoff_voltage_V: float | None = None
    charge_transfer_coefficient: float = 0.5

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> ParticleCase:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(entry) - known)
        if unknown:
            raise FemInputError(
                f"fem.cases[{entry.get('name', '?')}]: unknown key(s) {unknown}; "
                f"allowed: {sorted(known)}"
            )
        if "name" not in entry:
            raise FemInputError("fem.cases[]: every case needs a 'name'")
        return cls(**dict(entry))

    @property
    def key(self) -> str:
        """Config path of this case, for error messages."""
        return f"fem.cases[{self.name}]"

    @property
    def sign(self) -> int:
        """+1 for lithiation (x rises), −1 for delithiation."""
        return 1 if self.direction == "lithiation" else -1

    def validate(self) -> None:
        """Checks that need no handoff file; each error names the key."""
        k = self.key
        for attr in ("c_rate", "radius_um", "temperature_K", "exchange_current_density_A_m2"):
            value = getattr(self, attr)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise FemInputError(f"{k}.{attr} = {value!r}: must be a positive number")
        if self.direction not in DIRECTIONS:
            raise FemInputError(f"{k}.direction = {self.direction!r}: expected one of {DIRECTIONS}")
        if not 0 < self.charge_transfer_coefficient < 1:
            raise FemInputError(
                f"{k}.charge_transfer_coefficient = {self.charge_transfer_coefficient}: "
                "must lie in (0, 1)"
            )
        for attr in ("initial_li_fraction", "final_li_fraction"):
            value = getattr(self, attr)
            if not 0 < value < 1:
                raise FemInputError(f"{k}.{attr} = {value}: must lie in (0, 1)")
        if self.sign * (self.final_li_fraction - self.initial_li_fraction) <= 0:
            raise FemInputError(
                f"{k}: final_li_fraction {self.final_li_fraction} must be "
                f"{'above' if self.sign > 0 else 'below'} initial_li_fraction "
                f"{self.initial_li_fraction} for {self.direction}"
            )
        if self.cutoff_voltage_V is not None and not math.isfinite(self.cutoff_voltage_V):
            raise FemInputError(f"{k}.cutoff_voltage_V = {self.cutoff_voltage_V}: not finite")


def cases_by_name(entries: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Config case entries keyed by name; clear errors for duplicates and bad values."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        case = ParticleCase.from_config(entry)
        if case.name in out:
            raise FemInputError(f"fem.cases: case name '{case.name}' appears more than once")
        case.validate()
        out[case.name] = dict(entry)
    return out


# -- solver settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SolverSettings:
    """Discretisation and solver settings shared by all cases.

    Parameters
    ----------
    mesh_cells:
        Cells of the radial mesh on [0, R].
    mesh_grading:
        p ≥ 1 in r/R = 1 − (1 − s)^p (s uniform): p > 1 refines towards the surface, where the
        concentration gradient is steepest.
    element_degree:
        Lagrange degree of the concentration (1 or 2).
    displacement_degree:
        Lagrange degree of the radial displacement (stress is one degree lower).
    time_step_tolerance:
        Local error per step of backward Euler (max norm, in Li fraction), estimated against a
        linear extrapolation of the two previous states.
    max_steps:
        Accepted steps after which the run stops with an error.
    output_frames:
        Snapshots of the fields written to solution.bp (besides t = 0 and the end).
    min_thermodynamic_factor:
        Θ_min in D = D(T)·max(Θ, Θ_min).
    fit_tolerance:
        Largest error of the Chebyshev representation of Θ(x), relative to max|Θ|.
    snes_rtol, snes_atol:
        Newton (PETSc SNES) relative and absolute residual tolerances.
    """

    mesh_cells: int = default("fem.solver.mesh_cells")
    mesh_grading: float = default("fem.solver.mesh_grading")
    element_degree: int = default("fem.solver.element_degree")
    displacement_degree: int = default("fem.solver.displacement_degree")
    time_step_tolerance: float = default("fem.solver.time_step_tolerance")
    max_steps: int = default("fem.solver.max_steps")
    output_frames: int = default("fem.solver.output_frames")
    min_thermodynamic_factor: float = default("fem.solver.min_thermodynamic_factor")
    fit_tolerance: float = default("fem.solver.fit_tolerance")
    snes_rtol: float = default("fem.solver.snes_rtol")
    snes_atol: float = default("fem.solver.snes_atol")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> SolverSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise FemInputError(f"fem.solver: unknown key(s) {unknown}; allowed: {sorted(known)}")
        return cls(**dict(cfg))

    def validate(self) -> None:
        k = "fem.solver"
        if self.mesh_cells < 2:
            raise FemInputError(f"{k}.mesh_cells = {self.mesh_cells}: need at least 2")
        if self.mesh_grading < 1:
            raise FemInputError(f"{k}.mesh_grading = {self.mesh_grading}: must be >= 1")
        if self.element_degree not in (1, 2) or self.displacement_degree not in (1, 2, 3):
            raise FemInputError(f"{k}: element_degree must be 1 or 2, displacement_degree 1-3")
        for attr in ("time_step_tolerance", "min_thermodynamic_factor", "fit_tolerance"):
            if not getattr(self, attr) > 0:
                raise FemInputError(f"{k}.{attr} = {getattr(self, attr)}: must be positive")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- material -------------------------------------------------------------------------------------
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


# -- scales ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scales:
    """Scales that make the model dimensionless (ξ = r/R, τ = t/t_D, x = c/c_max).

    t_D = R²/D(T) is the diffusion time; the inward surface flux N (mol m⁻² s⁻¹) of a C-rate
    C is N = c_max·R·C/(3·3600 s) (volume/area = R/3), and the dimensionless flux is
    J = N·R/(c_max·D) = C·t_D/(3·3600 s), signed (+ for lithiation).
    """

    radius_m: float
    diffusion_time_s: float
    flux_mol_m2_s: float
    dimensionless_flux: float
    current_density_A_m2: float

    @classmethod
    def of(cls, case: ParticleCase, material: ParticleMaterial) -> Scales:
        radius = case.radius_um * 1e-6
        t_d = radius**2 / material.diffusivity_m2_s
        flux = material.c_max_mol_m3 * radius * case.c_rate / (3 * SECONDS_PER_HOUR)
        return cls(
            radius_m=radius,
            diffusion_time_s=t_d,
            flux_mol_m2_s=case.sign * flux,
            dimensionless_flux=case.sign * case.c_rate * t_d / (3 * SECONDS_PER_HOUR),
            # anodic current positive: lithiation (Li⁺ + e⁻ → Li) is cathodic
            current_density_A_m2=-case.sign * FARADAY_C_mol * flux,
        )


def capacity_mAh_cm3(delta_x: Any, c_max_mol_m3: float) -> Any:
    """Charge per particle volume for a change Δx of the mean Li fraction, mAh/cm³."""
    return np.abs(delta_x) * c_max_mol_m3 * FARADAY_C_mol / 3.6 / 1e6  # C/m³ → mAh/cm³


# -- Butler–Volmer --------------------------------------------------------------------------------
def exchange_current_density_A_m2(
    surface_x: float, i0_ref_A_m2: float, alpha: float = 0.5
) -> float:
    """i₀(x_s) = i₀,ref (2 x_s)^α (2(1 − x_s))^(1−α); i₀,ref at x_s = 1/2."""
    x = min(max(float(surface_x), 0.0), 1.0)
    return i0_ref_A_m2 * (2 * x) ** alpha * (2 * (1 - x)) ** (1 - alpha)


def overpotential_V(
    current_density_A_m2: float, i0_A_m2: float, temperature_K: float, alpha: float = 0.5
) -> float:
    """η solving the Butler–Volmer equation for a given current density (anodic positive).

    The residual is monotone in η, so a bracketing root finder is safe; α = 1/2 has the
    closed form η = (2RT/F) asinh(i/2i₀), used as the check in the tests.
    """
    from scipy.optimize import brentq

    if i0_A_m2 <= 0:
        return math.copysign(math.inf, current_density_A_m2) if current_density_A_m2 else 0.0
    f = FARADAY_C_mol / (GAS_CONSTANT_J_mol_K * temperature_K)
    aa, ac = 1 - alpha, alpha
    ratio = current_density_A_m2 / i0_A_m2

    def residual(eta: float) -> float:
        return math.exp(aa * f * eta) - math.exp(-ac * f * eta) - ratio

    if ratio == 0:
        return 0.0
    bound = 1.0 / f
    while residual(bound) * residual(-bound) > 0:
        bound *= 2
    return brentq(residual, -bound, bound, xtol=1e-14, rtol=1e-14, maxiter=200)


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
