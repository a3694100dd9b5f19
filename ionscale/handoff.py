"""The handoff file: every parameter the continuum stages need, with units and provenance.

``results/{system}/handoff/parameters.h5`` is the only file phasefield and fem read. This module
defines its layout (one place), writes it through :mod:`ionscale.io` and reads it back into
callables whose names carry their units.

Conventions
-----------
- ``x`` is the Li site fraction of the host's Li sublattice, 0 ≤ x ≤ 1 (Li_xC6: x Li per C6).
- ``f(x, T)`` is the free energy of formation per host Li site (eV/site), referenced to the empty
  host and bcc Li metal (so f(0) = 0); only its differences and derivatives enter the
  continuum models. The empty host is the ``reference.host`` end member when the thermo stage
  has one (graphite: AB graphite per C6), and f is then the equilibrium envelope of that phase
  and the Li lattice phase (a straight segment and an OCV plateau where they coexist,
  ``thermo/analysis/T{T}K/host_coexistence_*``).
- ``μ(x, T) = ∂f/∂x`` (eV per Li) is the Li chemical potential relative to Li metal, so the
  open-circuit voltage is OCV = −μ/e (V vs Li/Li⁺).
- Transport: D(T) = D0·exp(−Ea/(k_B T)) is the hop diffusivity D_hop of the lattice-gas
  Darken form D_chem(x, T) = D(T)·Θ(x) that fem and phasefield solve, from the diffusion
  stage's Arrhenius fit of the MD tracer D*: D_hop = D*/(f·c_v) with the MD cell's vacancy
  fraction c_v and the correlation factor f (``transport/tracer_to_hop_factor`` = 1/(f c_v);
  :mod:`ionscale.diffusion.arrhenius`). The tracer fit itself is under
  ``transport/arrhenius/`` (arrhenius.h5 from before the hop diffusivity: D = D*).
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
    transport/diffusivity_cm2_s               cm²/s       (+ _uncertainty, hop D at those T)
    transport/tracer_to_hop_factor            1           D_hop / D* = 1/(f c_v)
    host/c_max_mol_m3                         mol/m³
    host/molar_volume_m3_mol                  m³/mol      (per mole of Li sites)
    host/partial_molar_volume_Li_m3_mol       m³/mol
    host/elastic_constants_GPa                GPa         (6, 6), Voigt
    host/youngs_modulus_GPa                   GPa         (Voigt–Reuss–Hill isotropic average)
    host/poisson_ratio                        1
    host/charge_number                        1           (z of the mobile ion)

Optional (read when present): ``transport/ln_D0_variance`` (1),
``transport/activation_energy_variance_eV2`` (eV²), ``transport/covariance_lnD0_Ea_eV`` (eV),
the Arrhenius fit's covariance, which gives :meth:`ContinuumParameters.
diffusivity_cm2_s_uncertainty_at`. Datasets with an uncertainty have ``<name>_uncertainty``
beside them (same units).

Assembled by the workflow (:func:`assemble_parameters`, rules in workflow/rules/handoff.smk) from
thermo/free_energy.h5, diffusion/arrhenius.h5 and handoff/host.h5, with extras the reader does
not need but a scientist may: ``thermo/network/T{T}K/`` (the integrable networks' weights and
architecture: :func:`ionscale.thermo.stage.read_network` rebuilds the lattice phase's f(x)
exactly; with a host phase the tables are its envelope with ``thermo/fit/lattice_f0_eV_per_site``
added),
``thermo/{fit,analysis,data,hull,reference}/`` (fit errors, spinodal and two-phase regions, the
Monte Carlo μ data, the T = 0 hull), ``host/details/`` (chemical-strain fit, elastic tensor,
VRH moduli, stress–strain data) and ``transport/arrhenius/`` (the whole Arrhenius result). The
root attribute ``source_provenance_json`` keeps the provenance of the three sources.

c_max and the molar volume refer to the relaxed x = 1 cell (Li sites per volume of the
lithiated host); the value per volume of the empty (x = 0) cell is in
``host/details/c_max_host_volume_mol_m3``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.io import Quantity, ResultFileError, write_h5
from ionscale.provenance import Provenance
from ionscale.thermo.io import FREE_ENERGY_GROUPS, FREE_ENERGY_TABLES
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
#: optional datasets (read when present): the Arrhenius fit's covariance, element by element
COVARIANCE_LAYOUT: dict[str, tuple[tuple[int, int], str]] = {
    "transport/ln_D0_variance": ((0, 0), "1"),
    "transport/activation_energy_variance_eV2": ((1, 1), "eV²"),
    "transport/covariance_lnD0_Ea_eV": ((0, 1), "eV"),
}


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
    #: covariance of (ln D0 [D0 in cm²/s], Ea [eV]) from the Arrhenius fit (units 1, eV; eV, eV²)
    arrhenius_covariance: np.ndarray | None = None

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

    def diffusivity_cm2_s_uncertainty_at(self, temperature_K: Any) -> np.ndarray:
        """Standard uncertainty of D(T) (cm²/s) from the Arrhenius fit's covariance.

        Var(ln D) = Var(ln D0) + Var(Ea)/(k_B T)² − 2 Cov(ln D0, Ea)/(k_B T) (first order); NaN
        when the file has no covariance.
        """
        T = np.asarray(temperature_K, dtype=float)
        if self.arrhenius_covariance is None:
            return np.full_like(T, np.nan)
        cov = np.asarray(self.arrhenius_covariance, dtype=float)
        beta = 1.0 / (BOLTZMANN_eV_K * T)
        var_ln = cov[0, 0] + cov[1, 1] * beta**2 - 2 * cov[0, 1] * beta
        return self.diffusivity_cm2_s_at(T) * np.sqrt(np.maximum(var_ln, 0.0))

    # -- file I/O ------------------------------------------------------------------------------
    def write(
        self,
        path: str | Path,
        provenance: Provenance,
        extras: dict[str, Quantity] | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> Path:
        """Write the layout (plus optional datasets, ``extras`` and root ``attrs``)."""
        datasets = {}
        for dataset, (attr, units) in LAYOUT.items():
            datasets[dataset] = Quantity(
                getattr(self, attr), units, uncertainty=self.uncertainties.get(attr)
            )
        if self.arrhenius_covariance is not None:
            cov = np.asarray(self.arrhenius_covariance, dtype=float)
            for dataset, (ij, units) in COVARIANCE_LAYOUT.items():
                datasets[dataset] = Quantity(cov[ij], units, "Arrhenius fit covariance")
        clash = set(extras or {}) & set(datasets)
        if clash:
            raise ValueError(f"extras must not replace layout datasets: {sorted(clash)}")
        return write_h5(path, {**datasets, **(extras or {})}, provenance, attrs=attrs)


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
        if all(d in h5 for d in COVARIANCE_LAYOUT):
            cov = np.empty((2, 2))
            for dataset, ((i, j), _units) in COVARIANCE_LAYOUT.items():
                cov[i, j] = cov[j, i] = float(h5[dataset][()])
            values["arrhenius_covariance"] = cov
    scalars = set(ContinuumParameters.__dataclass_fields__) - {
        "x", "temperature_K", "free_energy_eV_per_site", "chemical_potential_eV",
        "d2f_dx2_eV_per_site", "transport_temperature_K", "diffusivity_cm2_s",
        "elastic_constants_GPa", "uncertainties", "arrhenius_covariance",
    }  # fmt: skip
    for name in scalars:
        values[name] = float(values[name])
    return ContinuumParameters(**values, uncertainties=uncertainties)


# -- assembly of parameters.h5 from the stages' results ----------------------------------------
#: groups of thermo/free_energy.h5 copied under ``thermo/`` (network weights, fit, analysis, ...)
THERMO_EXTRA_GROUPS = FREE_ENERGY_GROUPS


class HandoffInputError(ValueError):
    """An upstream result cannot make a parameter set (missing dataset, wrong shape, ...)."""


def _copy_datasets(
    path: str | Path, prefix: str, groups: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()
) -> dict[str, Quantity]:
    """Every dataset of an ionscale result (under ``groups``) as Quantities named prefix/name."""
    import h5py

    out: dict[str, Quantity] = {}
    with h5py.File(path, "r") as h5:

        def visit(name: str, obj: Any) -> None:
            if not isinstance(obj, h5py.Dataset) or name in skip:
                return
            if groups is not None and name.split("/")[0] not in groups:
                return
            units = obj.attrs.get("units")
            if units is None:
                raise HandoffInputError(f"{path}: dataset '{name}' has no units")
            out[f"{prefix}/{name}"] = Quantity(
                obj[()], str(units), str(obj.attrs.get("description", ""))
            )

        h5.visititems(visit)
    return out


def _require(
    path: str | Path, names: tuple[str, ...], optional: bool = False
) -> dict[str, Quantity]:
    """The datasets ``names`` of ``path``; a missing one is a HandoffInputError, or left out
    of the result when ``optional``."""
    from ionscale.io import read_quantity

    path = Path(path)
    if not path.is_file():
        raise HandoffInputError(f"input {path} does not exist")
    out = {}
    for name in names:
        try:
            out[name] = read_quantity(path, name)
        except ResultFileError as exc:
            if not optional:
                raise HandoffInputError(f"{exc} (needed for the handoff)") from None
    return out


def assemble_parameters(
    free_energy_h5: str | Path, arrhenius_h5: str | Path, host_h5: str | Path
) -> tuple[ContinuumParameters, dict[str, Quantity], dict[str, Any]]:
    """The parameter set from thermo/free_energy.h5, diffusion/arrhenius.h5 and handoff/host.h5.

    Returns the :class:`ContinuumParameters`, extra datasets (the thermo networks, fits and
    phase analysis under ``thermo/``; the host's chemical-strain and elastic details under
    ``host/``; every dataset of the Arrhenius result under ``transport/arrhenius/``) and root
    attributes (the provenance of each source file).
    """
    from ionscale.diffusion.io import (
        ARRHENIUS_ACTIVATION_ENERGY,
        ARRHENIUS_D0,
        ARRHENIUS_DIFFUSIVITY,
        ARRHENIUS_HOP_D0,
        ARRHENIUS_HOP_DIFFUSIVITY,
        ARRHENIUS_TEMPERATURE,
        read_arrhenius_covariance,
        read_charge_number,
    )
    from ionscale.io import read_provenance

    fe = _require(free_energy_h5, tuple(FREE_ENERGY_TABLES))
    # the Arrhenius result, read through the diffusion stage's contract (names and units)
    ar_specs = (
        ARRHENIUS_TEMPERATURE,
        ARRHENIUS_DIFFUSIVITY,
        ARRHENIUS_ACTIVATION_ENERGY,
        ARRHENIUS_D0,
    )
    ar = _require(arrhenius_h5, tuple(spec.name for spec in ar_specs))
    host = _require(
        host_h5,
        (
            "c_max_mol_m3",
            "molar_volume_m3_mol",
            "partial_molar_volume_Li_m3_mol",
            "elastic_constants_GPa",
            "youngs_modulus_GPa",
            "poisson_ratio",
        ),
    )
    for name, units in FREE_ENERGY_TABLES.items():
        if fe[name].units != units:
            raise HandoffInputError(
                f"{free_energy_h5}: '{name}' has units {fe[name].units!r}, expected {units!r}"
            )
    for spec in (
        ARRHENIUS_DIFFUSIVITY,
        ARRHENIUS_D0,
        ARRHENIUS_ACTIVATION_ENERGY,
        ARRHENIUS_TEMPERATURE,
    ):
        if ar[spec.name].units != spec.units:
            raise HandoffInputError(
                f"{arrhenius_h5}: '{spec.name}' has units {ar[spec.name].units!r}, "
                f"expected {spec.units!r}"
            )
    # the hop diffusivity D*/(f c_v) when the Arrhenius result has it (else D = D*)
    hop = _require(
        arrhenius_h5, (ARRHENIUS_HOP_D0.name, ARRHENIUS_HOP_DIFFUSIVITY.name), optional=True
    )
    d0 = hop.get(ARRHENIUS_HOP_D0.name, ar[ARRHENIUS_D0.name])
    d_table = hop.get(ARRHENIUS_HOP_DIFFUSIVITY.name, ar[ARRHENIUS_DIFFUSIVITY.name])
    tracer_to_hop = float(d0.value) / float(ar[ARRHENIUS_D0.name].value)
    uncertainties: dict[str, Any] = {}
    for attr, q in (
        ("free_energy_eV_per_site", fe["free_energy_eV_per_site"]),
        ("chemical_potential_eV", fe["chemical_potential_eV"]),
        ("d2f_dx2_eV_per_site", fe["d2f_dx2_eV_per_site"]),
        ("D0_cm2_s", d0),
        ("activation_energy_eV", ar[ARRHENIUS_ACTIVATION_ENERGY.name]),
        ("diffusivity_cm2_s", d_table),
        ("partial_molar_volume_Li_m3_mol", host["partial_molar_volume_Li_m3_mol"]),
        ("elastic_constants_GPa", host["elastic_constants_GPa"]),
        ("youngs_modulus_GPa", host["youngs_modulus_GPa"]),
        ("poisson_ratio", host["poisson_ratio"]),
    ):
        if q.uncertainty is not None:
            uncertainties[attr] = q.uncertainty
    charge = read_charge_number(arrhenius_h5)
    cov = read_arrhenius_covariance(arrhenius_h5)
    params = ContinuumParameters(
        x=fe["x"].value,
        temperature_K=fe["temperature_K"].value,
        free_energy_eV_per_site=fe["free_energy_eV_per_site"].value,
        chemical_potential_eV=fe["chemical_potential_eV"].value,
        d2f_dx2_eV_per_site=fe["d2f_dx2_eV_per_site"].value,
        D0_cm2_s=float(d0.value),
        activation_energy_eV=float(ar[ARRHENIUS_ACTIVATION_ENERGY.name].value),
        transport_temperature_K=np.atleast_1d(ar[ARRHENIUS_TEMPERATURE.name].value),
        diffusivity_cm2_s=np.atleast_1d(d_table.value),
        c_max_mol_m3=float(host["c_max_mol_m3"].value),
        molar_volume_m3_mol=float(host["molar_volume_m3_mol"].value),
        partial_molar_volume_Li_m3_mol=float(host["partial_molar_volume_Li_m3_mol"].value),
        elastic_constants_GPa=np.asarray(host["elastic_constants_GPa"].value, dtype=float),
        youngs_modulus_GPa=float(host["youngs_modulus_GPa"].value),
        poisson_ratio=float(host["poisson_ratio"].value),
        charge_number=1.0 if charge is None else charge,
        uncertainties=uncertainties,
        arrhenius_covariance=cov,
    )
    if params.elastic_constants_GPa.shape != (6, 6):
        raise HandoffInputError(
            f"{host_h5}: elastic_constants_GPa has shape "
            f"{params.elastic_constants_GPa.shape}, expected (6, 6)"
        )
    extras = {
        **_copy_datasets(free_energy_h5, "thermo", THERMO_EXTRA_GROUPS),
        **_copy_datasets(
            host_h5, "host/details", skip=(*host, *(f"{k}_uncertainty" for k in host))
        ),
        **_copy_datasets(arrhenius_h5, "transport/arrhenius"),
        "transport/tracer_to_hop_factor": Quantity(
            tracer_to_hop, "1", "D_hop / D* = 1/(f c_v): D0 and diffusivity_cm2_s are hop D"
        ),
    }
    attrs = {
        "source_provenance_json": json.dumps(
            {
                "thermo/free_energy.h5": read_provenance(free_energy_h5),
                "diffusion/arrhenius.h5": read_provenance(arrhenius_h5),
                "handoff/host.h5": read_provenance(host_h5),
            },
            default=str,
        ),
    }
    return params, extras, attrs


def run_handoff(inputs: dict[str, str], out: str | Path, provenance: Provenance) -> Path:
    """Rule handoff_parameters: assemble, write, and read back (the reader must accept it)."""
    params, extras, attrs = assemble_parameters(
        inputs["free_energy"], inputs["arrhenius"], inputs["host"]
    )
    params.write(out, provenance, extras=extras, attrs=attrs)
    read_parameters(out)
    return Path(out)


def run_host_properties(
    cfg: dict[str, Any],
    models: list[str],
    inputs: dict[str, str],
    out: str | Path,
    provenance: Provenance,
    dispersion: Any = None,
) -> Path:
    """Rule handoff_host: ``cfg`` is the ``handoff`` config section; ``inputs`` has the thermo
    stage's ``orderings`` (orderings.h5) and ``relaxed`` (orderings_relaxed.extxyz);
    ``dispersion`` the potential's D3 treatment
    (:class:`ionscale.potential.dispersion.DispersionSettings`)."""
    import ase.io
    import h5py

    from ionscale.io import read_quantity
    from ionscale.thermo.host import host_properties
    from ionscale.thermo.io import read_staged, read_staged_structures

    arrays = {
        k: read_quantity(inputs["orderings"], k).value
        for k in ("li_fraction", "n_sites", "failed", "on_hull")
    }
    # written since the empty host end member became x = 0 (older files: the empty lattice cell)
    optional = ("reference/host/volume_A3_per_site", "gallery_spacing_A")
    with h5py.File(inputs["orderings"], "r") as h5:
        present = [k for k in optional if k in h5]
    extra = {k: read_quantity(inputs["orderings"], k).value for k in present}
    host_volume = extra.get("reference/host/volume_A3_per_site")
    relaxed = ase.io.read(inputs["relaxed"], index=":")
    # the staged compounds on the hull are equilibrium phases too (their volume per site)
    staged = read_staged(inputs["orderings"])
    other = None
    if staged is not None and np.any(staged["on_hull"]):
        on = np.asarray(staged["on_hull"], bool)
        cells = read_staged_structures(inputs["orderings"], staged["stage"][on])
        other = (
            np.asarray(staged["li_fraction"], float)[on],
            np.array(
                [
                    cells[int(n)].get_volume() / int(sites)
                    for n, sites in zip(staged["stage"][on], staged["n_sites"][on], strict=True)
                ]
            ),
        )
    e = cfg["elastic"]
    d = host_properties(
        models,
        arrays["li_fraction"],
        arrays["n_sites"],
        arrays["failed"],
        relaxed,
        e["strains"],
        e["fmax_eV_A"],
        e["max_steps"],
        float(e["li_fraction"]),
        None if host_volume is None else float(host_volume),
        extra.get("gallery_spacing_A"),
        arrays["on_hull"].astype(bool),
        other,
        dispersion,
    )
    return write_h5(out, d, provenance, attrs={"elastic_li_fraction": float(e["li_fraction"])})
