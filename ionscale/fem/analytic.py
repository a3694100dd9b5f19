"""Closed-form references for the particle model (used by the tests and the documentation).

- Constant flux F₀ into a sphere of radius a with constant D (Crank, The Mathematics of
  Diffusion, 2nd ed., 1975, eq. 6.59): with τ = Dt/a², ξ = r/a,

      c − c₀ = (F₀ a / D) [3τ + ξ²/2 − 3/10 − (2/ξ) Σₙ sin(zₙ ξ) / (zₙ² sin zₙ) exp(−zₙ² τ)],

  zₙ the positive roots of tan z = z.
- Diffusion-induced stress in an isotropic elastic sphere with a spherically symmetric
  concentration change Δc(r) and volumetric chemical strain Ω·Δc (Timoshenko & Goodier, Theory
  of Elasticity, §155, thermal analogue; Zhang, Shyy & Sastry, J. Electrochem. Soc. 154, A910
  (2007); Cheng & Verbrugge, J. Power Sources 190, 453 (2009)):

      σ_r(r) = 2ΩE / (3(1 − ν)) [ (1/R³) ∫₀^R Δc ρ² dρ − (1/r³) ∫₀^r Δc ρ² dρ ],
      σ_θ(r) =  ΩE / (3(1 − ν)) [ (2/R³) ∫₀^R Δc ρ² dρ + (1/r³) ∫₀^r Δc ρ² dρ − Δc(r) ].
"""

from __future__ import annotations

from typing import Any

import numpy as np


def tan_roots(n: int) -> np.ndarray:
    """The first ``n`` positive roots of tan z = z (z cos z − sin z = 0), one per branch."""
    from scipy.optimize import brentq

    def g(z: float) -> float:
        return z * np.cos(z) - np.sin(z)

    eps = 1e-12
    return np.array(
        [
            brentq(g, k * np.pi + eps, k * np.pi + np.pi / 2 - eps, xtol=1e-15)
            for k in range(1, n + 1)
        ]
    )


def crank_constant_flux_sphere(
    xi: np.ndarray, tau: float, flux: float, n_terms: int = 400
) -> np.ndarray:
    """Dimensionless rise c − c₀ in units of c_scale for a constant inward flux.

    Parameters
    ----------
    xi:
        r/a, in [0, 1].
    tau:
        D t / a² (> 0).
    flux:
        Dimensionless inward flux J = F₀ a / (D c_scale).
    n_terms:
        Terms of the series (enough for τ ≳ 1e-4).
    """
    xi = np.asarray(xi, dtype=float)
    z = tan_roots(n_terms)
    decay = np.exp(-(z**2) * tau) / (z**2 * np.sin(z))
    # sin(z ξ)/ξ → z at the centre
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(
            xi[..., None] > 1e-12,
            np.sin(z * xi[..., None]) / np.where(xi[..., None] > 1e-12, xi[..., None], 1.0),
            z,
        )
    series = 2 * np.sum(ratio * decay, axis=-1)
    return flux * (3 * tau + xi**2 / 2 - 0.3 - series)


def sphere_stress_from_concentration(
    r: np.ndarray,
    delta_c: np.ndarray,
    youngs_modulus: float,
    poisson_ratio: float,
    partial_molar_volume: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Radial and hoop stress of a free sphere for a tabulated Δc(r) (same units as E).

    ``r`` increasing from 0 to R; integrals by the trapezoidal rule, so tabulate finely.
    """
    from scipy.integrate import cumulative_trapezoid

    r = np.asarray(r, float)
    dc = np.asarray(delta_c, float)
    inner = cumulative_trapezoid(dc * r**2, r, initial=0.0)
    total = inner[-1] / r[-1] ** 3
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_inside = np.where(r > 0, inner / np.where(r > 0, r, 1.0) ** 3, dc[0] / 3)
    k = partial_molar_volume * youngs_modulus / (3 * (1 - poisson_ratio))
    radial = 2 * k * (total - mean_inside)
    hoop = k * (2 * total + mean_inside - dc)
    return radial, hoop


def regular_solution_parameters(
    chi: float = 1.8,
    e0_eV: float = -0.12,
    temperatures_K: tuple[float, ...] = (280.0, 300.0, 320.0),
    diffusivity_300K_cm2_s: float = 1e-10,
    activation_energy_eV: float = 0.4,
    x_limits: tuple[float, float] = (1e-3, 1 - 1e-3),
    n_x: int = 801,
    two_phase: bool = False,
) -> Any:
    """A known-answer handoff parameter set: the regular solution, for tests and benchmarks.

    f(x, T) = e₀x + Ω x(1 − x) + k_BT [x ln x + (1 − x) ln(1 − x)] with Ω = χ k_B·300 K, so
    μ = e₀ + Ω(1 − 2x) + k_BT ln(x/(1 − x)) and OCV = −μ; for χ < 2 there is no miscibility gap
    and the OCV has a sloping plateau around x = 1/2 (flatter as χ → 2). Θ(x) =
    1 − 2Ω x(1 − x)/k_BT. Host numbers are graphite-like (c_max of LiC6, Ω_Li ≈ 3 cm³/mol,
    isotropic E = 32 GPa, ν = 0.3). Never used for science: real runs read the handoff stage.

    ``two_phase`` replaces f by its convex envelope (χ > 2: the common tangent between the
    symmetric binodal compositions x_b and 1 − x_b, where μ = e₀): an OCV plateau at −e₀ with
    f'' = 0 inside, as the thermo stage hands on for a two-phase region.
    """
    from ionscale.handoff import ContinuumParameters
    from ionscale.units import BOLTZMANN_eV_K

    x = np.linspace(*x_limits, n_x)
    temps = np.asarray(temperatures_K, dtype=float)
    kt = BOLTZMANN_eV_K * temps[:, None]
    omega = chi * BOLTZMANN_eV_K * 300.0
    f = e0_eV * x + omega * x * (1 - x) + kt * (x * np.log(x) + (1 - x) * np.log1p(-x))
    mu = e0_eV + omega * (1 - 2 * x) + kt * (np.log(x) - np.log1p(-x))
    d2f = -2 * omega + kt / (x * (1 - x))
    if two_phase:
        from scipy.optimize import brentq

        for i, kt_i in enumerate(kt[:, 0]):
            g = lambda y, k=kt_i: omega * (1 - 2 * y) + k * np.log(y / (1 - y))  # noqa: E731
            if omega <= 2 * kt_i:
                raise ValueError(f"χ = {chi}: no miscibility gap at {temps[i]} K")
            xb = brentq(g, 1e-12, 0.5 - 1e-6)
            inside = (x > xb) & (x < 1 - xb)
            fb = (
                e0_eV * xb
                + omega * xb * (1 - xb)
                + kt_i * (xb * np.log(xb) + (1 - xb) * np.log1p(-xb))
            )
            f[i, inside] = fb + e0_eV * (x[inside] - xb)
            mu[i, inside] = e0_eV
            d2f[i, inside] = 0.0
    d0 = diffusivity_300K_cm2_s * np.exp(activation_energy_eV / (BOLTZMANN_eV_K * 300.0))
    t_md = np.array([600.0, 800.0, 1000.0])
    return ContinuumParameters(
        x=x,
        temperature_K=temps,
        free_energy_eV_per_site=f,
        chemical_potential_eV=mu,
        d2f_dx2_eV_per_site=d2f,
        D0_cm2_s=float(d0),
        activation_energy_eV=activation_energy_eV,
        transport_temperature_K=t_md,
        diffusivity_cm2_s=d0 * np.exp(-activation_energy_eV / (BOLTZMANN_eV_K * t_md)),
        c_max_mol_m3=30_555.0,
        molar_volume_m3_mol=1 / 30_555.0,
        partial_molar_volume_Li_m3_mol=3.0e-6,
        elastic_constants_GPa=np.diag([1060.0, 1060.0, 36.5, 4.5, 4.5, 440.0]),
        youngs_modulus_GPa=32.0,
        poisson_ratio=0.3,
    )
