"""The handoff file: every parameter the continuum stages need, with units and provenance.

``results/{system}/handoff/parameters.h5`` is the only file phasefield and fem read. This module
defines its layout (one place), writes it through :mod:`ionscale.io` and reads it back into
callables whose names carry their units.

Conventions
-----------
- ``x`` is the Li site fraction of the host's Li sublattice, 0 ≤ x ≤ 1 (Li_xC6: x Li per C6).
- ``f(x, T)`` is the free energy of formation per host Li site (eV/site), referenced to the empty
  host and bcc Li metal (so f(0) = 0); only its differences and derivatives enter the
  continuum models.
- ``μ(x, T) = ∂f/∂x`` (eV per Li) is the Li chemical potential relative to Li metal, so the
  open-circuit voltage is OCV = −μ/e (V vs Li/Li⁺).
- Transport: D(T) = D0·exp(−Ea/(k_B T)) from the diffusion stage's Arrhenius fit; the tracer
  diffusivities it was fitted to are stored beside it.
- Host: c_max (mol/m³, Li at x = 1), the molar volume per mole of Li sites, the partial molar
  volume of Li (m³/mol, the chemical-strain coefficient), and the host's elastic constants.

Layout (dataset → units)::

    thermo/x                                  1
    thermo/temperature_K                      K
    thermo/free_energy_eV_per_site            eV/site     (n_T, n_x)
    thermo/chemical_potential_eV              eV          (n_T, n_x)
    thermo/d2f_dx2_eV_per_site                eV/site     (n_T, n_x)
    transport/D0_cm2_s                        cm²/s       (+ _uncertainty)
    transport/activation_energy_eV            eV          (+ _uncertainty)
    transport/temperature_K                   K           (the MD temperatures)
    transport/diffusivity_cm2_s               cm²/s       (+ _uncertainty)
    host/c_max_mol_m3                         mol/m³
    host/molar_volume_m3_mol                  m³/mol      (per mole of Li sites)
    host/partial_molar_volume_Li_m3_mol       m³/mol
    host/elastic_constants_GPa                GPa         (6, 6), Voigt
    host/youngs_modulus_GPa                   GPa         (Voigt–Reuss–Hill isotropic average)
    host/poisson_ratio                        1
    host/charge_number                        1           (z of the mobile ion)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.io import Quantity, ResultFileError, write_h5
from ionscale.provenance import Provenance
from ionscale.units import BOLTZMANN_eV_K

#: dataset name → (attribute of ContinuumParameters, units)
LAYOUT: dict[str, tuple[str, str]] = {
    "thermo/x": ("x", "1"),
    "thermo/temperature_K": ("temperature_K", "K"),
    "thermo/free_energy_eV_per_site": ("free_energy_eV_per_site", "eV/site"),
    "thermo/chemical_potential_eV": ("chemical_potential_eV", "eV"),
    "thermo/d2f_dx2_eV_per_site": ("d2f_dx2_eV_per_site", "eV/site"),
    "transport/D0_cm2_s": ("D0_cm2_s", "cm²/s"),
    "transport/activation_energy_eV": ("activation_energy_eV", "eV"),
    "transport/temperature_K": ("transport_temperature_K", "K"),
    "transport/diffusivity_cm2_s": ("diffusivity_cm2_s", "cm²/s"),
    "host/c_max_mol_m3": ("c_max_mol_m3", "mol/m³"),
    "host/molar_volume_m3_mol": ("molar_volume_m3_mol", "m³/mol"),
    "host/partial_molar_volume_Li_m3_mol": ("partial_molar_volume_Li_m3_mol", "m³/mol"),
    "host/elastic_constants_GPa": ("elastic_constants_GPa", "GPa"),
    "host/youngs_modulus_GPa": ("youngs_modulus_GPa", "GPa"),
    "host/poisson_ratio": ("poisson_ratio", "1"),
    "host/charge_number": ("charge_number", "1"),
}
#: quantities that carry an ``<name>_uncertainty`` dataset
WITH_UNCERTAINTY = ("D0_cm2_s", "activation_energy_eV", "diffusivity_cm2_s")


@dataclass
class ContinuumParameters:
    """Contents of parameters.h5 (tables on an x grid per temperature, scalars, host data)."""

    x: np.ndarray
    temperature_K: np.ndarray
    free_energy_eV_per_site: np.ndarray
    chemical_potential_eV: np.ndarray
    d2f_dx2_eV_per_site: np.ndarray
    D0_cm2_s: float
    activation_energy_eV: float
    transport_temperature_K: np.ndarray
    diffusivity_cm2_s: np.ndarray
    c_max_mol_m3: float
    molar_volume_m3_mol: float
    partial_molar_volume_Li_m3_mol: float
    elastic_constants_GPa: np.ndarray
    youngs_modulus_GPa: float
    poisson_ratio: float
    charge_number: float = 1.0
    uncertainties: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=float)
        self.temperature_K = np.atleast_1d(np.asarray(self.temperature_K, dtype=float))
        n_t, n_x = len(self.temperature_K), len(self.x)
        for name in ("free_energy_eV_per_site", "chemical_potential_eV", "d2f_dx2_eV_per_site"):
            table = np.atleast_2d(np.asarray(getattr(self, name), dtype=float))
            if table.shape != (n_t, n_x):
                raise ValueError(f"{name}: shape {table.shape}, expected (n_T, n_x) = {n_t, n_x}")
            setattr(self, name, table)
        if n_x < 4 or np.any(np.diff(self.x) <= 0):
            raise ValueError("thermo x grid must be increasing with at least 4 points")
        if np.any(np.diff(self.temperature_K) <= 0):
            raise ValueError("thermo temperatures must be increasing")
        self._splines: dict[str, list[Any]] = {}

    # -- interpolation -------------------------------------------------------------------------
    @property
    def x_range(self) -> tuple[float, float]:
        """Li fractions where f is defined (outside it the reader refuses to extrapolate)."""
        return float(self.x[0]), float(self.x[-1])

    def _check_x(self, x: np.ndarray) -> None:
        lo, hi = self.x_range
        if np.any(x < lo - 1e-12) or np.any(x > hi + 1e-12):
            bad = x[(x < lo) | (x > hi)]
            raise ValueError(
                f"Li fraction {bad.min() if bad.size else x} outside the handoff's x range "
                f"[{lo}, {hi}]"
            )

    def _table(self, name: str, x: Any, T: float) -> np.ndarray:
        from scipy.interpolate import CubicSpline

        x = np.asarray(x, dtype=float)
        self._check_x(x)
        if name not in self._splines:
            self._splines[name] = [CubicSpline(self.x, row) for row in getattr(self, name)]
        temps = self.temperature_K
        if len(temps) == 1 or T <= temps[0] or T >= temps[-1]:
            k = int(np.argmin(np.abs(temps - T)))
            if abs(temps[k] - T) > 1e-6:
                raise ValueError(
                    f"temperature {T} K outside the handoff's range "
                    f"[{temps[0]}, {temps[-1]}] K (no extrapolation in T)"
                )
            return self._splines[name][k](x)
        k = int(np.searchsorted(temps, T)) - 1
        w = (T - temps[k]) / (temps[k + 1] - temps[k])  # linear in T between tabulated T
        return (1 - w) * self._splines[name][k](x) + w * self._splines[name][k + 1](x)

    def free_energy_eV_per_site_at(self, x: Any, temperature_K: float) -> np.ndarray:
        return self._table("free_energy_eV_per_site", x, temperature_K)

    def chemical_potential_eV_at(self, x: Any, temperature_K: float) -> np.ndarray:
        return self._table("chemical_potential_eV", x, temperature_K)

    def d2f_dx2_eV_per_site_at(self, x: Any, temperature_K: float) -> np.ndarray:
        return self._table("d2f_dx2_eV_per_site", x, temperature_K)

    def ocv_V_at(self, x: Any, temperature_K: float) -> np.ndarray:
        """Open-circuit voltage vs Li/Li⁺: −μ/e (μ in eV per Li, so volts numerically)."""
        return -self.chemical_potential_eV_at(x, temperature_K)

    def diffusivity_cm2_s_at(self, temperature_K: Any) -> np.ndarray:
        """Arrhenius D(T) = D0 exp(−Ea / k_B T)."""
        T = np.asarray(temperature_K, dtype=float)
        return self.D0_cm2_s * np.exp(-self.activation_energy_eV / (BOLTZMANN_eV_K * T))

    # -- file I/O ------------------------------------------------------------------------------
    def write(self, path: str | Path, provenance: Provenance) -> Path:
        datasets = {}
        for dataset, (attr, units) in LAYOUT.items():
            datasets[dataset] = Quantity(
                getattr(self, attr), units, uncertainty=self.uncertainties.get(attr)
            )
        return write_h5(path, datasets, provenance)


def read_parameters(path: str | Path) -> ContinuumParameters:
    """Read parameters.h5; a missing dataset or unit mismatch is an error naming it."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"handoff file {path} does not exist (run the handoff stage)")
    values: dict[str, Any] = {}
    uncertainties: dict[str, Any] = {}
    with h5py.File(path, "r") as h5:
        for dataset, (attr, units) in LAYOUT.items():
            if dataset not in h5:
                raise ResultFileError(f"{path}: missing dataset '{dataset}' ({units})")
            found = h5[dataset].attrs.get("units")
            if found != units:
                raise ResultFileError(
                    f"{path}: '{dataset}' has units {found!r}, expected {units!r}"
                )
            values[attr] = h5[dataset][()]
            if f"{dataset}_uncertainty" in h5:
                uncertainties[attr] = h5[f"{dataset}_uncertainty"][()]
    scalars = set(ContinuumParameters.__dataclass_fields__) - {
        "x", "temperature_K", "free_energy_eV_per_site", "chemical_potential_eV",
        "d2f_dx2_eV_per_site", "transport_temperature_K", "diffusivity_cm2_s",
        "elastic_constants_GPa", "uncertainties",
    }  # fmt: skip
    for name in scalars:
        values[name] = float(values[name])
    return ContinuumParameters(**values, uncertainties=uncertainties)
