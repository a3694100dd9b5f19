r"""The Cahn–Hilliard model: the free energy f(c, T), the mobility, and the dimensionless model
that the spectral stepper of :mod:`ionscale.phasefield.core` integrates.

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
  Li hop diffusivity of the handoff (``p.diffusivity_cm2_s_at(T)``: the MD tracer D* over
  f·c_v, :mod:`ionscale.handoff`). Linearised in ∇c the flux is
  −D Φ(c) ∇c with Φ = c(1 − c) f''(c) / (k_B T) the thermodynamic factor: the chemical
  diffusivity D_chem = D Φ is Darken's relation, and an ideal solution (Φ = 1) diffuses with
  D. This M is positive and bounded for every c, so the equation stays well posed inside the
  spinodal, where Φ < 0 gives uphill diffusion. The alternative M = D / f'' is infinite where
  f'' = 0 and negative inside the spinodal, exactly where phase separation happens, so it is
  not used. (The handoff gives D(T) only: a dependence of the hop rate on c beyond the
  lattice gas is not modelled.)

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

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ionscale.phasefield import analysis
from ionscale.phasefield.ch_settings import SPINODAL_CENTER
from ionscale.phasefield.core import SpectralGrid
from ionscale.settings import default
from ionscale.units import BOLTZMANN_eV_K

if TYPE_CHECKING:
    from ionscale.handoff import ContinuumParameters

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
        s ≥ 0 in S = s · max|f̃''|/2 (s ≥ 1 gives the Shen–Yang energy bound for constant M;
        the default, 0.25, lags less and relies on the controller's energy check).
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
        stabilisation: float = default("phasefield.solver.stabilisation"),
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
