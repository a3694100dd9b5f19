r"""Cahn–Hilliard model of Li phase separation in a host, fed by the learned free energy.

Physics (dimensional)
---------------------
c(r, t) is the Li site fraction (the handoff's x, 0 ≤ c ≤ 1) on a periodic box in 2-D or 3-D.

- Free energy (Cahn & Hilliard, J. Chem. Phys. 28, 258, 1958)::

      F[c] = n_s ∫ [ f(c, T) + κ/2 |∇c|² ] dV

  f (eV per site) and its derivatives come from ``handoff/parameters.h5``
  (:meth:`ContinuumParameters.free_energy_eV_per_site_at` and friends); n_s is the number of
  Li sites per volume (c_max · N_A); κ (eV·nm² per site, config ``kappa_eV_nm2``) is the
  gradient-energy coefficient.
- Chemical potential per site: μ = (1/n_s) δF/δc = f'(c) − κ ∇²c  (eV).
- Dynamics: ∂c/∂t = ∇·[ M(c) ∇μ ]  with the mobility M in nm²/(eV·s).
- Mobility: **M(c) = D(T) · c (1 − c) / (k_B T)** (the lattice-gas / Darken form), D(T) the
  Li tracer diffusivity from MD (``p.diffusivity_cm2_s_at(T)``). Linearised in ∇c the flux is
  −D Φ(c) ∇c with Φ = c(1 − c) f''(c) / (k_B T) the thermodynamic factor: the chemical
  diffusivity D_chem = D Φ is Darken's relation, and an ideal solution (Φ = 1) diffuses with
  D. This M is positive and bounded for every c, so the equation stays well posed inside the
  spinodal, where Φ < 0 gives uphill diffusion. The alternative M = D / f'' is infinite where
  f'' = 0 and negative inside the spinodal, exactly where phase separation happens, so it is
  not used. (The handoff gives D(T) only: its dependence on c and the correlation factor are
  not modelled.)

Physical meaning of κ: a flat interface between the coexisting compositions a < b of a
miscibility gap has width w = (b − a) √(κ / (2 Δf_max)) and energy σ = n_s ∫ₐᵇ √(2κ Δf) dc,
with Δf(c) the height of f above the common tangent (Δf_max its largest value); the fastest
growing spinodal wavelength at mean composition c₀ is λ_m = 2π √(2κ / |f''(c₀)|). Both are
computed for each run (:mod:`ionscale.phasefield.analysis`) and written to its summary, with the
number of grid points per interface width (≥ 3 resolves it).

Nondimensionalisation
---------------------
=================  ==========================  ==========================================
quantity           scale                       dimensionless form
=================  ==========================  ==========================================
energy per site    k_B T (eV)                  f̃ = f / k_BT,  μ̃ = μ / k_BT
length             ℓ₀ = 1 nm                   x̃ = x / ℓ₀ (grid spacing dx̃ = dx_nm)
time               t₀ = ℓ₀² / D(T) (s)         t̃ = t / t₀; with D in cm²/s, t₀ = 1e-14 s / D
mobility           ℓ₀² / (k_BT t₀)             M̃ = c (1 − c)
gradient energy    k_BT ℓ₀²                    κ̃ = κ / (k_BT ℓ₀²)
=================  ==========================  ==========================================

giving ∂c/∂t̃ = ∇̃·[ c(1 − c) ∇̃( f̃'(c) − κ̃ ∇̃²c ) ] and the free energy per site
F / (n_s V) = k_BT ⟨ f̃(c) + κ̃/2 |∇̃c|² ⟩ (eV). D(T) enters only through t₀: a run at another D
is the same run in units of t₀, which is why the final time is given in units of t₀ (config
``final_time_t0``); every result also reports seconds.

Numerical scheme
----------------
Fourier-spectral in space, and in time the stabilised semi-implicit step of
:mod:`ionscale.phasefield.core` with the splitting of Zhu, Chen, Shen & Tikare (Phys. Rev. E 60,
3564, 1999): M = M₀ + (M − M₀) with M₀ = max M(cⁿ), so

    N̂ = −M₀ k² μ̂ + i k · F[(M(cⁿ) − M₀) ∇μⁿ],   μ̂ = F[f̃'(cⁿ)] + κ̃ k² ĉⁿ,
    P̂ = M₀ k² (S + κ̃ k²),   S = s · max|f̃''(cⁿ)| / 2.

For constant M this is the linearly stabilised scheme of Shen & Yang (Discrete Contin. Dyn.
Syst. 28, 1669, 2010), whose discrete energy cannot increase for any Δt when s ≥ 1 (their
condition S ≥ L/2, L = max|f''|). The variable mobility and the second-order extrapolation of
the step controller void that proof, so the controller also rejects any step that raises the
energy: the recorded free energy never increases (in the tests and benchmark no step needed
rejecting). The k = 0 modes of N̂ and P̂ vanish, so the mean composition is conserved to
round-off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.config import derive_seed
from ionscale.phasefield import analysis
from ionscale.phasefield.core import (
    FieldRecorder,
    RunHistory,
    SpectralGrid,
    StepControl,
    integrate,
    write_history,
)
from ionscale.settings import default
from ionscale.units import ELEMENTARY_CHARGE_C, AVOGADRO_per_mol, BOLTZMANN_eV_K

#: The output contract of a case's summary.json: every scalar it holds (dotted paths; a value
#: may be null, e.g. ``outcome.time_to_phase_separation_s`` when the case never separates),
#: besides the solver settings. Surrogate targets and optimisation outputs are checked against
#: it before any job; the end-to-end test checks the writer against it.
SUMMARY_SCALARS: tuple[str, ...] = (
    "temperature_K",
    "mean_composition",
    "kappa_eV_nm2",
    "dx_nm",
    "seed",
    "noise_amplitude",
    "diffusivity_cm2_s",
    "kT_eV",
    "time_unit_t0_s",
    "final_time_t0",
    "final_time_s",
    "thermodynamics.d2f_dc2_at_mean_composition_eV",
    "thermodynamics.fastest_growing_wavelength_nm",
    "thermodynamics.interface_width_nm",
    "thermodynamics.interface_energy_J_m2",
    "thermodynamics.grid_points_per_interface_width",
    "outcome.time_to_phase_separation_s",
    "outcome.time_to_phase_separation_t0",
    "outcome.domain_length_nm",
    "outcome.phase_fractions.li_poor",
    "outcome.phase_fractions.li_rich",
    "outcome.phase_fractions.threshold_composition",
    "outcome.lever_rule_fraction_li_rich",
    "outcome.final_composition_std",
    "outcome.equilibrium_composition_std",
    "conservation.mean_composition_initial",
    "conservation.mean_composition_final",
    "conservation.relative_mass_drift",
    "conservation.free_energy_initial_eV_per_site",
    "conservation.free_energy_final_eV_per_site",
    "conservation.max_free_energy_increase_eV_per_site",
    "solver.n_steps",
    "solver.n_rejected_error",
    "solver.n_rejected_energy",
    "solver.n_rejected_admissible",
    "solver.wall_time_s",
    "solver.steps_per_second",
)

if TYPE_CHECKING:
    import h5py

    from ionscale.handoff import ContinuumParameters
    from ionscale.provenance import Provenance

Array = np.ndarray
ScalarFunction = Callable[[Array], Array]

#: Length scale of the nondimensionalisation, nm.
LENGTH_SCALE_nm = 1.0
#: cm² → nm².
CM2_TO_NM2 = 1e14
#: Mobility law used by the workflow (see the module docstring).
MOBILITY_LAW = "M(c) = D(T) c (1 - c) / (k_B T)  (Darken / lattice-gas)"
SCHEME = (
    "Fourier-spectral, stabilised semi-implicit (Zhu et al. 1999 mobility splitting, "
    "Shen & Yang 2010 linear stabilisation), step-doubling error control"
)
#: mean_composition keyword: the middle of the widest spinodal interval of f at T.
SPINODAL_CENTER = "spinodal_center"
#: separated when std(c) reaches this fraction of its two-phase equilibrium value.
SEPARATION_THRESHOLD = 0.5


# --------------------------------------------------------------------------------------------
# Free energy and the dimensionless model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FreeEnergy:
    """f(c) at one temperature with its first two derivatives.

    Parameters
    ----------
    f_eV, dfdc_eV, d2fdc2_eV:
        Free energy per site (eV/site) and its first and second derivatives in c (eV).
    c_range:
        Compositions where f is defined; fields must stay strictly inside it.
    temperature_K:
        Temperature of this f (K).
    source:
        Where f comes from (recorded in the summary).
    """

    f_eV: ScalarFunction
    dfdc_eV: ScalarFunction
    d2fdc2_eV: ScalarFunction
    c_range: tuple[float, float]
    temperature_K: float
    source: str = "callables"

    @classmethod
    def from_handoff(cls, params: ContinuumParameters, temperature_K: float) -> FreeEnergy:
        """f, μ = ∂f/∂x and ∂²f/∂x² of the handoff file's tables at ``temperature_K``."""
        lo, hi = params.x_range
        try:  # the reader refuses temperatures outside its table: fail here, before stepping
            params.free_energy_eV_per_site_at(np.array([0.5 * (lo + hi)]), temperature_K)
        except ValueError as exc:
            raise ValueError(f"temperature_K = {temperature_K}: {exc}") from None
        return cls(
            f_eV=lambda c: params.free_energy_eV_per_site_at(c, temperature_K),
            dfdc_eV=lambda c: params.chemical_potential_eV_at(c, temperature_K),
            d2fdc2_eV=lambda c: params.d2f_dx2_eV_per_site_at(c, temperature_K),
            c_range=(lo, hi),
            temperature_K=float(temperature_K),
            source="handoff",
        )

    @classmethod
    def regular_solution(
        cls, omega_eV: float, temperature_K: float, c_range: tuple[float, float] = (0.0, 1.0)
    ) -> FreeEnergy:
        """f = Ω c(1 − c) + k_BT [c ln c + (1 − c) ln(1 − c)] (eV/site): spinodal for Ω > 2k_BT."""
        kt = BOLTZMANN_eV_K * temperature_K
        return cls(
            f_eV=lambda c: omega_eV * c * (1 - c) + kt * (c * np.log(c) + (1 - c) * np.log1p(-c)),
            dfdc_eV=lambda c: omega_eV * (1 - 2 * c) + kt * (np.log(c) - np.log1p(-c)),
            d2fdc2_eV=lambda c: -2 * omega_eV + kt / (c * (1 - c)),
            c_range=c_range,
            temperature_K=float(temperature_K),
            source=f"regular solution, Omega = {omega_eV} eV",
        )

    @property
    def sample_range(self) -> tuple[float, float]:
        """c_range pulled in by 1e-6 of its width, so open ends (log terms) can be sampled."""
        lo, hi = self.c_range
        eps = 1e-6 * (hi - lo)
        return lo + eps, hi - eps

    def spinodal_center(self) -> float:
        """Middle of the widest interval where f'' < 0; a clear error if there is none."""
        intervals = analysis.spinodal_intervals(self.d2fdc2_eV, self.sample_range)
        if not intervals:
            raise ValueError(
                f"mean_composition = '{SPINODAL_CENTER}': f has no spinodal (f'' >= 0 on "
                f"{list(self.c_range)}) at {self.temperature_K} K; give a number instead"
            )
        lo, hi = max(intervals, key=lambda iv: iv[1] - iv[0])
        return 0.5 * (lo + hi)


def darken_mobility(c: Array) -> Array:
    """Dimensionless mobility M̃ = c (1 − c) (M in units of D / k_BT)."""
    return c * (1.0 - c)


class CahnHilliardModel:
    """Dimensionless Cahn–Hilliard model for :func:`ionscale.phasefield.core.integrate`.

    Parameters
    ----------
    grid:
        Periodic grid (lengths in units of ℓ₀).
    f, dfdc, d2fdc2:
        f̃(c) and its derivatives (units of k_BT).
    kappa:
        κ̃ ≥ 0.
    mobility:
        A constant M̃ ≥ 0 or a function M̃(c) ≥ 0.
    c_range:
        Open interval where f is defined.
    stabilisation:
        s ≥ 0 in S = s · max|f̃''|/2 (s ≥ 1 gives the Shen–Yang energy bound for constant M).
    """

    def __init__(
        self,
        grid: SpectralGrid,
        f: ScalarFunction,
        dfdc: ScalarFunction,
        d2fdc2: ScalarFunction,
        kappa: float,
        mobility: float | ScalarFunction,
        c_range: tuple[float, float],
        stabilisation: float = 1.0,
    ) -> None:
        if not (np.isfinite(kappa) and kappa >= 0):
            raise ValueError(f"gradient-energy coefficient kappa = {kappa} must be >= 0")
        if not callable(mobility) and not (np.isfinite(mobility) and mobility >= 0):
            raise ValueError(f"mobility = {mobility} must be >= 0")
        if not (np.isfinite(stabilisation) and stabilisation >= 0):
            raise ValueError(f"stabilisation = {stabilisation} must be >= 0")
        if not c_range[0] < c_range[1]:
            raise ValueError(f"c_range {c_range} must be an increasing pair")
        self.grid = grid
        self.f, self.dfdc, self.d2fdc2 = f, dfdc, d2fdc2
        self.kappa = float(kappa)
        self.mobility = mobility
        self.c_range = (float(c_range[0]), float(c_range[1]))
        self.stabilisation = float(stabilisation)

    def chemical_potential_hat(self, u: Array, u_hat: Array) -> Array:
        """μ̂ = F[f̃'(c)] + κ̃ k² ĉ."""
        return self.grid.rfft(self.dfdc(u)) + self.kappa * self.grid.k2 * u_hat

    def split(self, u: Array, u_hat: Array) -> tuple[Array, Array]:
        grid = self.grid
        mu_hat = self.chemical_potential_hat(u, u_hat)
        if callable(self.mobility):
            m = np.asarray(self.mobility(u), dtype=float)
            m0 = float(m.max())
            n_hat = -m0 * grid.k2 * mu_hat
            grad_mu = grid.gradient(mu_hat)
            n_hat = n_hat + grid.divergence_hat([(m - m0) * g for g in grad_mu])
        else:
            m0 = float(self.mobility)
            n_hat = -m0 * grid.k2 * mu_hat
        n_hat.flat[0] = 0.0  # ∫∂c/∂t = 0 exactly: mass conservation
        s = self.stabilisation * 0.5 * float(np.max(np.abs(self.d2fdc2(u))))
        p_hat = m0 * grid.k2 * (s + self.kappa * grid.k2)
        return n_hat, p_hat

    def energy(self, u: Array, u_hat: Array) -> float:
        """⟨f̃(c) + κ̃/2 |∇c|²⟩ (units of k_BT per site)."""
        gradient = self.grid.spectral_mean(self.grid.k2, u_hat)
        return float(np.mean(self.f(u))) + 0.5 * self.kappa * gradient

    def inadmissible(self, u: Array) -> str | None:
        lo, hi = self.c_range
        u_min, u_max = float(u.min()), float(u.max())
        if not (np.isfinite(u_min) and np.isfinite(u_max)):
            return "composition is not finite"
        if u_min <= lo or u_max >= hi:
            return (
                f"composition range [{u_min:.6g}, {u_max:.6g}] leaves ({lo:.6g}, {hi:.6g}), "
                "where f is defined"
            )
        if callable(self.mobility):
            m_min = float(np.min(self.mobility(u)))
            if not m_min >= 0:
                return f"mobility {m_min:.6g} < 0"
        return None

    def diagnostics(self, u: Array, u_hat: Array) -> dict[str, float]:
        return {
            "mean": float(u.mean()),
            "std": float(u.std()),
            "min": float(u.min()),
            "max": float(u.max()),
            "domain_length": analysis.domain_length(self.grid, u_hat),
        }


# --------------------------------------------------------------------------------------------
# Cases (dimensional, as in the config) and solver settings
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CahnHilliardCase:
    """One phase-field case (an element of config ``phasefield.cases``).

    Parameters
    ----------
    name:
        Case name; results go to phasefield/{name}/.
    temperature_K:
        Temperature (K): selects f(c, T) and D(T).
    mean_composition:
        Mean Li site fraction c₀, or ``"spinodal_center"`` (middle of the widest spinodal).
    kappa_eV_nm2:
        Gradient-energy coefficient κ (eV·nm² per site).
    grid:
        Points per dimension (2 or 3 in the workflow; 1 allowed in the package).
    dx_nm:
        Grid spacing (nm).
    final_time_t0:
        Duration in units of t₀ = (1 nm)²/D(T).
    seed:
        Seed of the initial noise (combined with the master seed).
    noise_amplitude:
        Initial c = c₀ + uniform noise in [−a, a], shifted to mean c₀ exactly.
    """

    name: str = "case"
    temperature_K: float = 300.0
    mean_composition: float | str = SPINODAL_CENTER
    kappa_eV_nm2: float = 0.25
    grid: tuple[int, ...] = (128, 128)
    dx_nm: float = 1.0
    final_time_t0: float = 1e4
    seed: int = 0
    noise_amplitude: float = 0.01

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> CahnHilliardCase:
        unknown = set(entry) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"phasefield case: unknown keys {sorted(unknown)}")
        values = dict(entry)
        if "grid" in values:
            values["grid"] = tuple(values["grid"])
        return cls(**values)

    def validate(self) -> None:
        """Check every field, naming the key; called before any time stepping."""
        where = f"phasefield case '{self.name}'"
        grid = self.grid
        if (
            not isinstance(grid, tuple | list)
            or not 1 <= len(grid) <= 3
            or any(isinstance(n, bool) or not isinstance(n, int | np.integer) for n in grid)
            or any(n < 1 for n in grid)
        ):
            raise ValueError(f"{where}: grid = {grid!r} must be 1-3 positive integers")
        _positive(where, "temperature_K", self.temperature_K)
        _positive(where, "dx_nm", self.dx_nm)
        _positive(where, "final_time_t0", self.final_time_t0)
        if not (np.isfinite(self.kappa_eV_nm2) and self.kappa_eV_nm2 >= 0):
            raise ValueError(f"{where}: kappa_eV_nm2 = {self.kappa_eV_nm2} must be >= 0")
        if not (0 <= self.noise_amplitude < 0.5):
            raise ValueError(f"{where}: noise_amplitude = {self.noise_amplitude} not in [0, 0.5)")
        if isinstance(self.mean_composition, str):
            if self.mean_composition != SPINODAL_CENTER:
                raise ValueError(
                    f"{where}: mean_composition = {self.mean_composition!r}: expected a number "
                    f"or '{SPINODAL_CENTER}'"
                )
        elif not np.isfinite(self.mean_composition):
            raise ValueError(f"{where}: mean_composition must be finite")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"{where}: seed = {self.seed!r} must be an integer >= 0")


def _positive(where: str, key: str, value: float) -> None:
    if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
        raise ValueError(f"{where}: {key} = {value!r} must be a positive number")


@dataclass(frozen=True)
class SolverSettings:
    """Numerical settings shared by all cases (config ``phasefield.solver``).

    Parameters
    ----------
    rtol, atol:
        Step-doubling error tolerance (see :mod:`ionscale.phasefield.core`), relative to the
        fluctuation amplitude of c and absolute (site fraction). Spinodal decomposition
        amplifies any perturbation, so runs at different tolerances differ point by point;
        their statistics converge: rtol = 1e-2 gave the structure-factor domain length and the
        free-energy drop within ~0.5 % of an rtol = 1e-4 run (bench/bench_phasefield.py).
    max_steps:
        Accepted steps before a run stops with an error.
    stabilisation:
        s in S = s · max|f''|/2 (≥ 1: Shen–Yang energy bound).
    n_snapshots:
        Snapshots of c stored, including t = 0 and the final time (≥ 2).
    snapshot_spacing:
        ``"log"``: t = 0 and geometric from 1e-3 of the final time; ``"linear"``: uniform.
    """

    rtol: float = default("phasefield.solver.rtol")
    atol: float = default("phasefield.solver.atol")
    max_steps: int = default("phasefield.solver.max_steps")
    stabilisation: float = default("phasefield.solver.stabilisation")
    n_snapshots: int = default("phasefield.solver.n_snapshots")
    snapshot_spacing: str = default("phasefield.solver.snapshot_spacing")

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> SolverSettings:
        return cls(**dict(entry))

    def control(self) -> StepControl:
        return StepControl(rtol=self.rtol, atol=self.atol, max_steps=self.max_steps)

    def output_times(self, t_final: float) -> np.ndarray:
        if self.n_snapshots < 2:
            raise ValueError(f"n_snapshots = {self.n_snapshots} must be >= 2")
        if self.snapshot_spacing == "linear":
            return np.linspace(0.0, t_final, self.n_snapshots)
        if self.snapshot_spacing == "log":
            return np.concatenate([[0.0], np.geomspace(1e-3, 1.0, self.n_snapshots - 1)]) * t_final
        raise ValueError(f"snapshot_spacing = {self.snapshot_spacing!r}: expected log or linear")


# --------------------------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------------------------
@dataclass
class CahnHilliardResult:
    """A finished run: final field, dimensional history and the summary."""

    final_field: Array
    history: dict[str, Array]
    summary: dict[str, Any]
    raw: RunHistory


def resolve_mean_composition(case: CahnHilliardCase, free_energy: FreeEnergy) -> float:
    """c₀ of the case (resolving ``spinodal_center``), checked against the domain of f."""
    if isinstance(case.mean_composition, str):
        c0 = free_energy.spinodal_center()
    else:
        c0 = float(case.mean_composition)
    lo, hi = free_energy.c_range
    a = case.noise_amplitude
    if not (lo < c0 - a and c0 + a < hi):
        raise ValueError(
            f"phasefield case '{case.name}': mean_composition {c0:.6g} ± noise {a} leaves "
            f"({lo:.6g}, {hi:.6g}), the range where f is defined"
        )
    return c0


def initial_field(shape: tuple[int, ...], c0: float, amplitude: float, seed: int) -> Array:
    """c₀ + uniform noise in [−a, a] with its mean removed (so ⟨c⟩ = c₀ to round-off)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-amplitude, amplitude, size=shape)
    return c0 + (noise - noise.mean())


def simulate(
    case: CahnHilliardCase,
    free_energy: FreeEnergy,
    diffusivity_cm2_s: float,
    solver: SolverSettings | None = None,
    master_seed: int = 0,
    h5: h5py.Group | None = None,
    threads: int = 1,
    site_density_per_m3: float | None = None,
    control: StepControl | None = None,
) -> CahnHilliardResult:
    """Run one case; stream snapshots to ``h5`` (group ``snapshots``) and its history.

    Every check of the inputs happens before the first step. ``control`` overrides the step
    control that ``solver`` implies (tests use it).
    """
    solver = solver or SolverSettings()
    case.validate()
    where = f"phasefield case '{case.name}'"
    if not (np.isfinite(diffusivity_cm2_s) and diffusivity_cm2_s > 0):
        raise ValueError(
            f"{where}: diffusivity D({case.temperature_K} K) = {diffusivity_cm2_s} cm²/s must be "
            "positive (the mobility M = D c(1-c)/kT would not be)"
        )
    if not math.isclose(free_energy.temperature_K, case.temperature_K, rel_tol=1e-12):
        raise ValueError(
            f"{where}: free energy is for {free_energy.temperature_K} K, case for "
            f"{case.temperature_K} K"
        )
    output_times = solver.output_times(case.final_time_t0)
    step_control = control or solver.control()
    c0 = resolve_mean_composition(case, free_energy)

    kt = BOLTZMANN_eV_K * case.temperature_K
    t0_s = LENGTH_SCALE_nm**2 / (diffusivity_cm2_s * CM2_TO_NM2)
    grid = SpectralGrid(case.grid, case.dx_nm / LENGTH_SCALE_nm, workers=threads)
    model = CahnHilliardModel(
        grid,
        f=lambda c: free_energy.f_eV(c) / kt,
        dfdc=lambda c: free_energy.dfdc_eV(c) / kt,
        d2fdc2=lambda c: free_energy.d2fdc2_eV(c) / kt,
        kappa=case.kappa_eV_nm2 / (kt * LENGTH_SCALE_nm**2),
        mobility=darken_mobility,
        c_range=free_energy.c_range,
        stabilisation=solver.stabilisation,
    )
    thermo = thermodynamics(free_energy, c0, case.kappa_eV_nm2, case.dx_nm, site_density_per_m3)
    u0 = initial_field(
        grid.shape, c0, case.noise_amplitude, derive_seed(master_seed, "phasefield", case.seed)
    )

    recorder = None
    if h5 is not None:
        recorder = FieldRecorder(
            h5.create_group("snapshots"),
            "c",
            grid.shape,
            "1",
            time_units="s",
            time_scale=t0_s,
            description="Li site fraction c on the grid (axis order x, y[, z])",
        )
    u, raw = integrate(model, u0, case.final_time_t0, step_control, output_times, recorder)

    history = {
        "time_s": raw.array("time") * t0_s,
        "dt_s": raw.array("dt") * t0_s,
        "free_energy_eV_per_site": raw.array("energy") * kt,
        "mean_composition": raw.array("mean"),
        "composition_std": raw.array("std"),
        "composition_min": raw.array("min"),
        "composition_max": raw.array("max"),
        "domain_length_nm": raw.array("domain_length") * LENGTH_SCALE_nm,
    }
    summary = _summary(case, c0, u, grid, history, raw, thermo, diffusivity_cm2_s, t0_s, kt)
    summary["free_energy_source"] = free_energy.source
    if h5 is not None:
        _write_fields_metadata(h5, case, grid, history, summary, t0_s, c0)
    return CahnHilliardResult(final_field=u, history=history, summary=summary, raw=raw)


def thermodynamics(
    free_energy: FreeEnergy,
    c0: float,
    kappa_eV_nm2: float,
    dx_nm: float,
    site_density_per_m3: float | None = None,
) -> dict[str, Any]:
    """Gaps, spinodals, interface width and energy of f at the case's temperature."""
    kt = BOLTZMANN_eV_K * free_energy.temperature_K
    gaps = analysis.miscibility_gaps(
        free_energy.f_eV, free_energy.sample_range, 1e-4 * kt, dfdc=free_energy.dfdc_eV
    )
    spinodals = analysis.spinodal_intervals(free_energy.d2fdc2_eV, free_energy.sample_range)
    gap = next((g for g in gaps if g.contains(c0)), None)
    d2f0 = float(np.asarray(free_energy.d2fdc2_eV(np.array([c0])))[0])
    spinodal_wave = d2f0 < 0 and kappa_eV_nm2 > 0
    out: dict[str, Any] = {
        "miscibility_gaps": [[g.low, g.high] for g in gaps],
        "spinodal_intervals": [list(s) for s in spinodals],
        "gap_at_mean_composition": [gap.low, gap.high] if gap else None,
        "d2f_dc2_at_mean_composition_eV": d2f0,
        "inside_spinodal": d2f0 < 0,
        "fastest_growing_wavelength_nm": (
            2 * np.pi * math.sqrt(2 * kappa_eV_nm2 / -d2f0) if spinodal_wave else None
        ),
        "interface_width_nm": None,
        "interface_energy_J_m2": None,
        "grid_points_per_interface_width": None,
    }
    if gap is not None and kappa_eV_nm2 > 0:
        props = analysis.interface_properties(free_energy.f_eV, gap, kappa_eV_nm2)
        out["interface_width_nm"] = props["width"]
        out["grid_points_per_interface_width"] = props["width"] / dx_nm
        if site_density_per_m3 is not None:
            # eV·nm per site × sites/m³ → J/m²
            out["interface_energy_J_m2"] = (
                props["energy_per_site_density"] * ELEMENTARY_CHARGE_C * 1e-9 * site_density_per_m3
            )
    out["_gap"] = gap
    return out


def _summary(
    case: CahnHilliardCase,
    c0: float,
    u: Array,
    grid: SpectralGrid,
    history: dict[str, Array],
    raw: RunHistory,
    thermo: dict[str, Any],
    diffusivity_cm2_s: float,
    t0_s: float,
    kt: float,
) -> dict[str, Any]:
    gap: analysis.MiscibilityGap | None = thermo.pop("_gap")
    times, std = history["time_s"], history["composition_std"]
    outcome: dict[str, Any] = {
        "phase_separated": False,
        "time_to_phase_separation_s": None,
        "time_to_phase_separation_t0": None,
        "domain_length_nm": None,
        "phase_fractions": None,
        "lever_rule_fraction_li_rich": None,
        "final_composition_std": float(u.std()),
        "equilibrium_composition_std": None,
        "separation_criterion": (
            f"std(c) >= {SEPARATION_THRESHOLD} x its two-phase equilibrium value "
            "(b - a) sqrt(v (1 - v)), v the lever-rule fraction"
        ),
    }
    if gap is not None:
        v = gap.lever_fraction_high(c0)
        std_eq = (gap.high - gap.low) * math.sqrt(v * (1 - v))
        threshold = 0.5 * (gap.low + gap.high)
        rich = float(np.mean(u > threshold))
        t_sep = analysis.separation_time(times, std, SEPARATION_THRESHOLD * std_eq)
        separated = bool(u.std() >= SEPARATION_THRESHOLD * std_eq)
        outcome.update(
            phase_separated=separated,
            time_to_phase_separation_s=t_sep,
            time_to_phase_separation_t0=None if t_sep is None else t_sep / t0_s,
            domain_length_nm=float(history["domain_length_nm"][-1]) if separated else None,
            phase_fractions=(
                {"li_poor": 1.0 - rich, "li_rich": rich, "threshold_composition": threshold}
                if separated
                else None
            ),
            lever_rule_fraction_li_rich=v,
            equilibrium_composition_std=std_eq,
        )
    energy = history["free_energy_eV_per_site"]
    mean = history["mean_composition"]
    increases = np.diff(energy)
    return {
        "case": case.name,
        "temperature_K": case.temperature_K,
        "mean_composition": c0,
        "mean_composition_from": (
            SPINODAL_CENTER if isinstance(case.mean_composition, str) else "config"
        ),
        "kappa_eV_nm2": case.kappa_eV_nm2,
        "grid": list(case.grid),
        "dx_nm": case.dx_nm,
        "box_nm": (grid.lengths * LENGTH_SCALE_nm).tolist(),
        "seed": case.seed,
        "noise_amplitude": case.noise_amplitude,
        "mobility": MOBILITY_LAW,
        "diffusivity_cm2_s": diffusivity_cm2_s,
        "kT_eV": kt,
        "time_unit_t0_s": t0_s,
        "final_time_t0": case.final_time_t0,
        "final_time_s": case.final_time_t0 * t0_s,
        "thermodynamics": thermo,
        "outcome": outcome,
        "conservation": {
            "mean_composition_initial": float(mean[0]),
            "mean_composition_final": float(mean[-1]),
            "relative_mass_drift": float(abs(mean[-1] - mean[0]) / abs(mean[0])),
            "free_energy_initial_eV_per_site": float(energy[0]),
            "free_energy_final_eV_per_site": float(energy[-1]),
            "max_free_energy_increase_eV_per_site": float(max(increases.max(initial=0.0), 0.0)),
        },
        "solver": {
            "scheme": SCHEME,
            "n_steps": raw.n_steps,
            "n_rejected_error": raw.n_rejected_error,
            "n_rejected_energy": raw.n_rejected_energy,
            "n_rejected_admissible": raw.n_rejected_admissible,
            "wall_time_s": raw.wall_time_s,
            "steps_per_second": raw.n_steps / raw.wall_time_s if raw.wall_time_s > 0 else None,
        },
    }


HISTORY_UNITS = {
    "time_s": "s",
    "dt_s": "s",
    "free_energy_eV_per_site": "eV/site",
    "mean_composition": "1",
    "composition_std": "1",
    "composition_min": "1",
    "composition_max": "1",
    "domain_length_nm": "nm",
}
HISTORY_DESCRIPTIONS = {
    "time_s": "time after each accepted step",
    "dt_s": "step that led to this time",
    "free_energy_eV_per_site": "box average of f(c) + kappa/2 |grad c|^2",
    "mean_composition": "box average of c (conserved)",
    "composition_std": "standard deviation of c over the box",
    "composition_min": "smallest c on the grid",
    "composition_max": "largest c on the grid",
    "domain_length_nm": "2 pi / <k>, first moment of the structure factor",
}


def _write_fields_metadata(
    h5: h5py.Group,
    case: CahnHilliardCase,
    grid: SpectralGrid,
    history: dict[str, Array],
    summary: dict[str, Any],
    t0_s: float,
    c0: float,
) -> None:
    from ionscale.io import add_dataset

    write_history(h5.create_group("history"), history, HISTORY_UNITS, HISTORY_DESCRIPTIONS)
    g = h5.create_group("grid")
    add_dataset(g, "spacing_nm", grid.spacing * LENGTH_SCALE_nm, "nm", "grid spacing per axis")
    add_dataset(g, "shape", np.asarray(grid.shape), "1", "points per axis")
    h5.attrs["case"] = case.name
    h5.attrs["temperature_K"] = case.temperature_K
    h5.attrs["mean_composition"] = c0
    h5.attrs["kappa_eV_nm2"] = case.kappa_eV_nm2
    h5.attrs["time_unit_t0_s"] = t0_s
    h5.attrs["mobility"] = MOBILITY_LAW
    h5.attrs["scheme"] = SCHEME


def run_case(
    case: CahnHilliardCase,
    solver: SolverSettings,
    parameters: ContinuumParameters,
    fields_path: str | Path,
    summary_path: str | Path,
    provenance: Provenance,
    master_seed: int,
    threads: int = 1,
) -> dict[str, Any]:
    """Run a case with f and D from the handoff; write fields.h5 and summary.json."""
    from ionscale.io import open_result_h5, write_json

    case.validate()
    free_energy = FreeEnergy.from_handoff(parameters, case.temperature_K)
    diffusivity = float(parameters.diffusivity_cm2_s_at(case.temperature_K))
    site_density = parameters.c_max_mol_m3 * AVOGADRO_per_mol
    with open_result_h5(fields_path, provenance) as h5:
        result = simulate(
            case,
            free_energy,
            diffusivity,
            solver,
            master_seed=master_seed,
            h5=h5,
            threads=threads,
            site_density_per_m3=site_density,
        )
    summary = {**result.summary, "solver_settings": asdict(solver)}
    write_json(summary_path, summary, provenance)
    return summary


def cases_by_name(entries: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Config case entries keyed by name; a clear error for duplicate names."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        name = entry["name"]
        if name in out:
            raise ValueError(f"phasefield.cases: case name '{name}' appears more than once")
        out[name] = dict(entry)
    return out
