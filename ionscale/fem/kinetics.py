"""Butler–Volmer kinetics at the particle surface.

Butler–Volmer (Newman & Thomas-Alyea, Electrochemical Systems, 3rd ed., §8):
i = i₀(x_s)·[exp(α_a F η / RT) − exp(−α_c F η / RT)], α_c = α, α_a = 1 − α, anodic current
positive, η = V − OCV(x_s). The exchange current density depends on the surface Li fraction as
i₀(x_s) = i₀,ref·(2 x_s)^α_c·(2 (1 − x_s))^α_a (the c_s^α_c (c_max − c_s)^α_a law with the
electrolyte concentration fixed), so i₀ = i₀,ref at x_s = 1/2.
"""

from __future__ import annotations

import math

from ionscale.units import FARADAY_C_mol, GAS_CONSTANT_J_mol_K


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
