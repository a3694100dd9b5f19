"""Scales of the particle model and its capacity, in SI units.

The model is solved dimensionless (ξ = r/R, τ = t/t_D, x = c/c_max); :class:`Scales` converts a
case and its material into the diffusion time, the surface flux and the current density, and
:func:`capacity_mAh_cm3` a change of the mean Li fraction into charge per particle volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ionscale.fem.cases import ParticleCase
from ionscale.fem.material import ParticleMaterial
from ionscale.units import FARADAY_C_mol

#: Seconds per hour (the C-rate is in 1/h).
SECONDS_PER_HOUR = 3600.0


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
