"""The diffusion stage's products: msd.h5, arrhenius.h5 and report.h5, their layout, writers
and readers.

This module is the one place the datasets of these files are named: every dataset is a
:class:`DatasetSpec` constant below (name in the file and units), and other stages read the
files through these constants or the readers here. Each file is written through
:mod:`ionscale.io` (atomic, ``units`` on every dataset, provenance on the root).

``diffusion/T{T}K/msd.h5`` (dataset → units)::

    temperature_K                         K
    time_ps                               ps        lag time (n_frames,)
    msd_components_A2                     Å²        (n_frames, 3), per Cartesian component
    diffusivity_cm2_s                     cm²/s     (+ _uncertainty) D of ``directions``, NaN:
                                                    no diffusive regime (the Arrhenius input)
    n_hops                                1
    number_density_per_cm3                1/cm³     of the mobile species
    {xyz,xy,z}/msd_A2                     Å²        MSD over that direction set
    {xyz,xy,z}/diffusivity_cm2_s          cm²/s     (+ _uncertainty)
    {xyz,xy,z}/intercept_A2               Å²        fitted MSD offset c
    {xyz,xy,z}/fit_time_ps                ps        lags of the GLS fit
    {xyz,xy,z}/fit_msd_A2                 Å²        their MSD
    {xyz,xy,z}/fit_covariance_A4          Å⁴        their modelled covariance
    {xyz,xy,z}/fit_start_ps, fit_end_ps   ps        the fit window
    {xyz,xy,z}/loglog_slope               1

Group attributes ``dimensionality``, ``diffusive``, ``window_rule``; root attributes
``temperature_K``, ``mobile_species``, ``directions``, ``dimensionality``, ``n_mobile``,
``n_carriers`` (independent carriers of the uncertainty model), ``mobile_vacancies`` (of the
MD cell), ``volume_A3``,
``window_rule``, ``uncertainty_method``, ``warnings_json``.

``diffusion/arrhenius.h5`` (dataset → units)::

    temperature_K                         K         MD temperatures
    diffusivity_cm2_s                     cm²/s     (+ _uncertainty) D per temperature
    included_in_fit                       1         1: used by the fit
    n_hops                                1         per temperature
    activation_energy_eV                  eV        (+ _uncertainty)
    D0_cm2_s                              cm²/s     (+ _uncertainty)
    fit/ln_D0_variance                    1         Var(ln D0), D0 in cm²/s
    fit/activation_energy_variance_eV2    eV²       Var(Ea)
    fit/covariance_lnD0_Ea_eV             eV        Cov(ln D0, Ea)
    fit/chi2_reduced                      1         NaN for two temperatures
    fit/ln_D0                             1         ln(D0 / (cm²/s)), the fitted parameter
    number_density_per_cm3                1/cm³
    charge_number                         1         z of the mobile ion
    carriers/vacancy_site_fraction        1         c_v of the MD cell
    carriers/correlation_factor           1         f (diffusion.correlation_factor)
    hop_D0_cm2_s                          cm²/s     (+ _uncertainty) D0/(f c_v): the continuum's
    hop_diffusivity_cm2_s                 cm²/s     (+ _uncertainty) D*/(f c_v) per temperature

Root attributes ``directions``, ``dimensionality``, ``mobile_species``, ``birge_scaled``,
``method``, ``warnings_json``.

``diffusion/report.h5`` (dataset → units), from arrhenius.h5 and the report temperature alone
(so a new report temperature reruns nothing downstream)::

    report_temperature_K                  K
    diffusivity_cm2_s                     cm²/s     (+ _uncertainty, _ci95_low, _ci95_high)
    conductivity_S_cm                     S/cm      (+ _uncertainty, _ci95_low, _ci95_high)
    number_density_per_cm3                1/cm³
    charge_number                         1

Root attributes ``directions``, ``mobile_species``, ``method``, ``warnings_json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.diffusion.settings import DIRECTIONS, DiffusionInputError
from ionscale.io import add_dataset, open_result_h5
from ionscale.provenance import Provenance

if TYPE_CHECKING:
    import h5py

    from ionscale.diffusion.analysis import MSDResult
    from ionscale.diffusion.arrhenius import ArrheniusResult, DiffusionReport


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a diffusion product: its name in the file (``group/name``) and units."""

    name: str
    units: str

    @property
    def uncertainty(self) -> DatasetSpec:
        """The ``<name>_uncertainty`` dataset beside it (same units; the ionscale.io rule)."""
        return DatasetSpec(f"{self.name}_uncertainty", self.units)


# ------------------------------------------------------------------------------- msd.h5

MSD_TEMPERATURE = DatasetSpec("temperature_K", "K")
MSD_TIME = DatasetSpec("time_ps", "ps")
MSD_COMPONENTS = DatasetSpec("msd_components_A2", "Å²")
#: D of the ``directions`` set (with ``.uncertainty``): the Arrhenius input
MSD_DIFFUSIVITY = DatasetSpec("diffusivity_cm2_s", "cm²/s")
MSD_N_HOPS = DatasetSpec("n_hops", "1")
MSD_NUMBER_DENSITY = DatasetSpec("number_density_per_cm3", "1/cm³")

# in each direction-set group (names relative to the group ``xyz``, ``xy``, ``z``)
MSD_GROUP_MSD = DatasetSpec("msd_A2", "Å²")
MSD_GROUP_DIFFUSIVITY = DatasetSpec("diffusivity_cm2_s", "cm²/s")
MSD_GROUP_INTERCEPT = DatasetSpec("intercept_A2", "Å²")
MSD_GROUP_FIT_TIME = DatasetSpec("fit_time_ps", "ps")
MSD_GROUP_FIT_MSD = DatasetSpec("fit_msd_A2", "Å²")
MSD_GROUP_FIT_COVARIANCE = DatasetSpec("fit_covariance_A4", "Å⁴")
MSD_GROUP_FIT_START = DatasetSpec("fit_start_ps", "ps")
MSD_GROUP_FIT_END = DatasetSpec("fit_end_ps", "ps")
MSD_GROUP_LOGLOG_SLOPE = DatasetSpec("loglog_slope", "1")

#: every root dataset of msd.h5
MSD_DATASETS: tuple[DatasetSpec, ...] = (
    MSD_TEMPERATURE, MSD_TIME, MSD_COMPONENTS, MSD_DIFFUSIVITY, MSD_DIFFUSIVITY.uncertainty,
    MSD_N_HOPS, MSD_NUMBER_DENSITY,
)  # fmt: skip
#: every dataset of each direction-set group of msd.h5 (one group per key of DIRECTIONS)
MSD_GROUP_DATASETS: tuple[DatasetSpec, ...] = (
    MSD_GROUP_MSD, MSD_GROUP_DIFFUSIVITY, MSD_GROUP_DIFFUSIVITY.uncertainty, MSD_GROUP_INTERCEPT,
    MSD_GROUP_FIT_TIME, MSD_GROUP_FIT_MSD, MSD_GROUP_FIT_COVARIANCE, MSD_GROUP_FIT_START,
    MSD_GROUP_FIT_END, MSD_GROUP_LOGLOG_SLOPE,
)  # fmt: skip

# ------------------------------------------------------------------------- arrhenius.h5

ARRHENIUS_TEMPERATURE = DatasetSpec("temperature_K", "K")
ARRHENIUS_DIFFUSIVITY = DatasetSpec("diffusivity_cm2_s", "cm²/s")
ARRHENIUS_INCLUDED = DatasetSpec("included_in_fit", "1")
ARRHENIUS_N_HOPS = DatasetSpec("n_hops", "1")
ARRHENIUS_ACTIVATION_ENERGY = DatasetSpec("activation_energy_eV", "eV")
ARRHENIUS_D0 = DatasetSpec("D0_cm2_s", "cm²/s")
ARRHENIUS_LN_D0_VARIANCE = DatasetSpec("fit/ln_D0_variance", "1")
ARRHENIUS_EA_VARIANCE = DatasetSpec("fit/activation_energy_variance_eV2", "eV²")
ARRHENIUS_LN_D0_EA_COVARIANCE = DatasetSpec("fit/covariance_lnD0_Ea_eV", "eV")
ARRHENIUS_CHI2_REDUCED = DatasetSpec("fit/chi2_reduced", "1")
ARRHENIUS_LN_D0 = DatasetSpec("fit/ln_D0", "1")
ARRHENIUS_NUMBER_DENSITY = DatasetSpec("number_density_per_cm3", "1/cm³")
ARRHENIUS_CHARGE_NUMBER = DatasetSpec("charge_number", "1")
ARRHENIUS_VACANCY_FRACTION = DatasetSpec("carriers/vacancy_site_fraction", "1")
ARRHENIUS_CORRELATION_FACTOR = DatasetSpec("carriers/correlation_factor", "1")
ARRHENIUS_HOP_D0 = DatasetSpec("hop_D0_cm2_s", "cm²/s")
ARRHENIUS_HOP_DIFFUSIVITY = DatasetSpec("hop_diffusivity_cm2_s", "cm²/s")

#: the datasets of arrhenius.h5 every version has (read_arrhenius_result needs them)
ARRHENIUS_DATASETS: tuple[DatasetSpec, ...] = (
    ARRHENIUS_TEMPERATURE, ARRHENIUS_DIFFUSIVITY, ARRHENIUS_DIFFUSIVITY.uncertainty,
    ARRHENIUS_INCLUDED, ARRHENIUS_N_HOPS,
    ARRHENIUS_ACTIVATION_ENERGY, ARRHENIUS_ACTIVATION_ENERGY.uncertainty,
    ARRHENIUS_D0, ARRHENIUS_D0.uncertainty,
    ARRHENIUS_LN_D0_VARIANCE, ARRHENIUS_EA_VARIANCE, ARRHENIUS_LN_D0_EA_COVARIANCE,
    ARRHENIUS_CHI2_REDUCED, ARRHENIUS_LN_D0, ARRHENIUS_NUMBER_DENSITY, ARRHENIUS_CHARGE_NUMBER,
)  # fmt: skip
#: the carrier model and the hop diffusivity (written since the hop diffusivity; optional)
ARRHENIUS_HOP_DATASETS: tuple[DatasetSpec, ...] = (
    ARRHENIUS_VACANCY_FRACTION, ARRHENIUS_CORRELATION_FACTOR,
    ARRHENIUS_HOP_D0, ARRHENIUS_HOP_D0.uncertainty,
    ARRHENIUS_HOP_DIFFUSIVITY, ARRHENIUS_HOP_DIFFUSIVITY.uncertainty,
)  # fmt: skip

# ------------------------------------------------------------------------- report.h5

REPORT_TEMPERATURE = DatasetSpec("report_temperature_K", "K")
REPORT_DIFFUSIVITY = DatasetSpec("diffusivity_cm2_s", "cm²/s")
REPORT_DIFFUSIVITY_CI95_LOW = DatasetSpec("diffusivity_cm2_s_ci95_low", "cm²/s")
REPORT_DIFFUSIVITY_CI95_HIGH = DatasetSpec("diffusivity_cm2_s_ci95_high", "cm²/s")
REPORT_CONDUCTIVITY = DatasetSpec("conductivity_S_cm", "S/cm")
REPORT_CONDUCTIVITY_CI95_LOW = DatasetSpec("conductivity_S_cm_ci95_low", "S/cm")
REPORT_CONDUCTIVITY_CI95_HIGH = DatasetSpec("conductivity_S_cm_ci95_high", "S/cm")
REPORT_NUMBER_DENSITY = DatasetSpec("number_density_per_cm3", "1/cm³")
REPORT_CHARGE_NUMBER = DatasetSpec("charge_number", "1")

#: every dataset of report.h5
REPORT_DATASETS: tuple[DatasetSpec, ...] = (
    REPORT_TEMPERATURE,
    REPORT_DIFFUSIVITY, REPORT_DIFFUSIVITY.uncertainty,
    REPORT_DIFFUSIVITY_CI95_LOW, REPORT_DIFFUSIVITY_CI95_HIGH,
    REPORT_CONDUCTIVITY, REPORT_CONDUCTIVITY.uncertainty,
    REPORT_CONDUCTIVITY_CI95_LOW, REPORT_CONDUCTIVITY_CI95_HIGH,
    REPORT_NUMBER_DENSITY, REPORT_CHARGE_NUMBER,
)  # fmt: skip


def _add(group: h5py.Group, spec: DatasetSpec, data: Any, description: str = "") -> None:
    add_dataset(group, spec.name, data, spec.units, description)


# ------------------------------------------------------------------------- msd.h5 I/O


def write_msd_h5(path: str | Path, result: MSDResult, provenance: Provenance) -> Path:
    """diffusion/T{T}K/msd.h5: MSD(t), the fit windows, covariance, D ± σ per direction set.

    Root datasets ``diffusivity_cm2_s`` (+ ``_uncertainty``) are those of ``settings.directions``
    (the Arrhenius input); every direction set has its group ``<dirs>/`` with the MSD, the fit
    lags, the modelled covariance of the fitted MSD points and the rule that chose the window.
    """
    s = result.settings
    with open_result_h5(path, provenance) as h5:
        _add(h5, MSD_TEMPERATURE, result.temperature_K)
        _add(h5, MSD_TIME, result.time_ps, "lag time")
        _add(
            h5, MSD_COMPONENTS, result.msd_components_A2,
            "time-origin and atom averaged MSD per Cartesian component (x, y, z), FFT method",
        )  # fmt: skip
        main = result.fits[s.directions]
        _add(
            h5, MSD_DIFFUSIVITY, main.diffusivity_cm2_s,
            f"tracer D from the {s.directions} MSD (d = {main.dimensionality}); NaN: no "
            "diffusive regime",
        )  # fmt: skip
        _add(
            h5, MSD_DIFFUSIVITY.uncertainty, main.diffusivity_uncertainty_cm2_s,
            "standard uncertainty of D (kinisi MSD covariance + GLS)",
        )  # fmt: skip
        _add(
            h5,
            MSD_N_HOPS,
            result.n_hops,
            f"hops farther than {s.hop_distance_A} Å of the position averaged over "
            f"{s.hop_residence_time_ps} ps",
        )
        _add(h5, MSD_NUMBER_DENSITY, result.number_density_per_cm3)
        for name, fit in result.fits.items():
            g = h5.create_group(name)
            _add(
                g, MSD_GROUP_MSD, result.msd_components_A2[:, list(DIRECTIONS[name])].sum(axis=1),
                f"MSD over components {name}",
            )  # fmt: skip
            _add(g, MSD_GROUP_DIFFUSIVITY, fit.diffusivity_cm2_s)
            _add(g, MSD_GROUP_DIFFUSIVITY.uncertainty, fit.diffusivity_uncertainty_cm2_s)
            _add(g, MSD_GROUP_INTERCEPT, fit.intercept_A2, "fitted MSD offset c")
            _add(g, MSD_GROUP_FIT_TIME, result.time_ps[fit.fit_lags])
            _add(g, MSD_GROUP_FIT_MSD, fit.fit_msd_A2)
            _add(
                g, MSD_GROUP_FIT_COVARIANCE, fit.fit_covariance_A4,
                "modelled covariance of the fitted MSD points (kinisi random-walk form)",
            )  # fmt: skip
            _add(g, MSD_GROUP_FIT_START, result.time_ps[fit.window.start])
            _add(g, MSD_GROUP_FIT_END, result.time_ps[fit.window.end])
            _add(g, MSD_GROUP_LOGLOG_SLOPE, fit.window.loglog_slope)
            g.attrs["dimensionality"] = fit.dimensionality
            g.attrs["diffusive"] = bool(fit.window.diffusive)
            g.attrs["window_rule"] = fit.window.rule
        h5.attrs["temperature_K"] = result.temperature_K
        h5.attrs["mobile_species"] = result.mobile_species
        h5.attrs["directions"] = s.directions
        h5.attrs["dimensionality"] = main.dimensionality
        h5.attrs["n_mobile"] = result.n_mobile
        h5.attrs["n_carriers"] = result.n_carriers
        h5.attrs["mobile_vacancies"] = result.n_vacancies
        h5.attrs["volume_A3"] = result.volume_A3
        h5.attrs["window_rule"] = main.window.rule
        h5.attrs["uncertainty_method"] = (
            "kinisi MSD covariance model (McCluskey et al. 2024) + generalised least squares"
        )
        h5.attrs["warnings_json"] = json.dumps(result.warnings)
    return Path(path)


def read_msd_summary(path: str | Path) -> dict[str, Any]:
    """What the Arrhenius fit needs from one msd.h5 (D ± σ, T, hops, density, directions)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DiffusionInputError(f"{path}: msd file not found")
    with h5py.File(path, "r") as h5:
        try:
            return {
                "temperature_K": float(h5[MSD_TEMPERATURE.name][()]),
                "diffusivity_cm2_s": float(h5[MSD_DIFFUSIVITY.name][()]),
                "diffusivity_cm2_s_uncertainty": float(h5[MSD_DIFFUSIVITY.uncertainty.name][()]),
                "n_hops": int(h5[MSD_N_HOPS.name][()]),
                "number_density_per_cm3": float(h5[MSD_NUMBER_DENSITY.name][()]),
                "directions": str(h5.attrs["directions"]),
                "dimensionality": int(h5.attrs["dimensionality"]),
                "mobile_species": str(h5.attrs["mobile_species"]),
                "n_mobile": int(h5.attrs.get("n_mobile", 0)),
                "mobile_vacancies": int(h5.attrs.get("mobile_vacancies", 0)),
            }
        except KeyError as exc:
            raise DiffusionInputError(f"{path}: missing {exc} (not an ionscale msd.h5?)") from None


# -------------------------------------------------------------------- arrhenius.h5 I/O


def write_arrhenius_h5(path: str | Path, res: ArrheniusResult, provenance: Provenance) -> Path:
    """diffusion/arrhenius.h5 (contract): D(T), Ea, D0 and their covariance."""
    f = res.fit
    # (dataset, value, description, standard uncertainty or None), in the order written
    rows: list[tuple[DatasetSpec, Any, str, Any]] = [
        (ARRHENIUS_TEMPERATURE, res.all_temperature_K, "MD temperatures", None),
        (
            ARRHENIUS_DIFFUSIVITY, res.all_diffusivity_cm2_s,
            f"tracer D ({res.directions}, d = {res.dimensionality}) per temperature",
            res.all_diffusivity_uncertainty_cm2_s,
        ),
        (ARRHENIUS_INCLUDED, res.included.astype(np.int8), "1: used by the fit", None),
        (ARRHENIUS_N_HOPS, res.n_hops, "observed hops per temperature", None),
        (
            ARRHENIUS_ACTIVATION_ENERGY, f.activation_energy_eV, "Arrhenius activation energy",
            f.activation_energy_uncertainty_eV,
        ),
        (ARRHENIUS_D0, f.D0_cm2_s, "Arrhenius prefactor", f.D0_uncertainty_cm2_s),
        (ARRHENIUS_LN_D0_VARIANCE, f.covariance[0, 0], "Var(ln D0), D0 in cm²/s", None),
        (ARRHENIUS_EA_VARIANCE, f.covariance[1, 1], "Var(Ea)", None),
        (ARRHENIUS_LN_D0_EA_COVARIANCE, f.covariance[0, 1], "Cov(ln D0, Ea)", None),
        (ARRHENIUS_CHI2_REDUCED, f.chi2_reduced, "NaN for two temperatures", None),
        (ARRHENIUS_LN_D0, f.ln_D0, "ln(D0 / (cm²/s)), the fitted parameter", None),
        (
            ARRHENIUS_NUMBER_DENSITY, res.number_density_per_cm3,
            f"{res.mobile_species} number density (MD cell, lowest fitted temperature)", None,
        ),
        (ARRHENIUS_CHARGE_NUMBER, res.settings.charge_number, "z of the mobile ion", None),
        (
            ARRHENIUS_VACANCY_FRACTION, res.vacancy_site_fraction,
            "c_v: vacancies of the MD cell per mobile-sublattice site", None,
        ),
        (
            ARRHENIUS_CORRELATION_FACTOR, res.settings.correlation_factor,
            "tracer correlation factor f (diffusion.correlation_factor)", None,
        ),
        (
            ARRHENIUS_HOP_D0, f.D0_cm2_s * res.tracer_to_hop_factor,
            "hop-diffusivity prefactor D0/(f c_v): the continuum's D(T)",
            f.D0_uncertainty_cm2_s * res.tracer_to_hop_factor,
        ),
        (
            ARRHENIUS_HOP_DIFFUSIVITY, res.all_diffusivity_cm2_s * res.tracer_to_hop_factor,
            "hop diffusivity D*/(f c_v) per temperature",
            res.all_diffusivity_uncertainty_cm2_s * res.tracer_to_hop_factor,
        ),
    ]  # fmt: skip
    with open_result_h5(path, provenance) as h5:
        for spec, value, description, uncertainty in rows:
            _add(h5, spec, np.asarray(value), description)
            if uncertainty is not None:
                _add(
                    h5, spec.uncertainty, np.asarray(uncertainty),
                    f"standard uncertainty of {spec.name}",
                )  # fmt: skip
        h5.attrs["directions"] = res.directions
        h5.attrs["dimensionality"] = res.dimensionality
        h5.attrs["mobile_species"] = res.mobile_species
        h5.attrs["birge_scaled"] = bool(f.birge_scaled)
        h5.attrs["method"] = (
            "weighted least squares of ln D vs 1/(k_B T), weights 1/σ(ln D)²; covariance "
            "Birge-scaled when chi2_red > 1"
        )
        h5.attrs["warnings_json"] = json.dumps(res.warnings)
    return Path(path)


def read_arrhenius_result(path: str | Path) -> ArrheniusResult:
    """The :class:`~ionscale.diffusion.arrhenius.ArrheniusResult` an arrhenius.h5 holds (the
    fit rebuilt from its stored parameters and covariance, bit for bit)."""
    import h5py

    from ionscale.diffusion.arrhenius import ArrheniusFit, ArrheniusResult
    from ionscale.diffusion.settings import ArrheniusSettings

    try:
        with h5py.File(path, "r") as h5:
            g = {s.name: h5[s.name][()] for s in ARRHENIUS_DATASETS}
            attrs = dict(h5.attrs)
            carriers = {  # absent in files that predate the hop diffusivity
                s.name: float(h5[s.name][()])
                for s in (ARRHENIUS_VACANCY_FRACTION, ARRHENIUS_CORRELATION_FACTOR)
                if s.name in h5
            }
    except KeyError as exc:
        raise DiffusionInputError(
            f"{path}: missing {exc} (not an ionscale arrhenius.h5?)"
        ) from None
    included = np.asarray(g[ARRHENIUS_INCLUDED.name], bool)
    t = np.asarray(g[ARRHENIUS_TEMPERATURE.name], float)
    d = np.asarray(g[ARRHENIUS_DIFFUSIVITY.name], float)
    sd = np.asarray(g[ARRHENIUS_DIFFUSIVITY.uncertainty.name], float)
    cov = _covariance(
        g[ARRHENIUS_LN_D0_VARIANCE.name],
        g[ARRHENIUS_EA_VARIANCE.name],
        g[ARRHENIUS_LN_D0_EA_COVARIANCE.name],
    )
    fit = ArrheniusFit(
        temperature_K=t[included],
        diffusivity_cm2_s=d[included],
        diffusivity_uncertainty_cm2_s=sd[included],
        ln_D0=float(g[ARRHENIUS_LN_D0.name]),
        activation_energy_eV=float(g[ARRHENIUS_ACTIVATION_ENERGY.name]),
        covariance=cov,
        chi2_reduced=float(g[ARRHENIUS_CHI2_REDUCED.name]),
        birge_scaled=bool(attrs["birge_scaled"]),
    )
    return ArrheniusResult(
        fit=fit,
        settings=ArrheniusSettings(
            charge_number=float(g[ARRHENIUS_CHARGE_NUMBER.name]),
            correlation_factor=carriers.get(ARRHENIUS_CORRELATION_FACTOR.name, 1.0),
        ),
        all_temperature_K=t,
        all_diffusivity_cm2_s=d,
        all_diffusivity_uncertainty_cm2_s=sd,
        included=included,
        n_hops=np.asarray(g[ARRHENIUS_N_HOPS.name]),
        number_density_per_cm3=float(g[ARRHENIUS_NUMBER_DENSITY.name]),
        directions=str(attrs["directions"]),
        dimensionality=int(attrs["dimensionality"]),
        mobile_species=str(attrs["mobile_species"]),
        warnings=json.loads(attrs.get("warnings_json", "[]")),
        vacancy_site_fraction=carriers.get(ARRHENIUS_VACANCY_FRACTION.name, 0.0),
    )


def write_report_h5(
    path: str | Path, rep: DiffusionReport, res: ArrheniusResult, provenance: Provenance
) -> Path:
    """diffusion/report.h5 (contract): D and σ at the report temperature with intervals."""
    tr = rep.temperature_K
    rows: list[tuple[DatasetSpec, Any, str]] = [(REPORT_TEMPERATURE, tr, "report temperature")]
    for spec, low, high, vals, what in (
        (REPORT_DIFFUSIVITY, REPORT_DIFFUSIVITY_CI95_LOW, REPORT_DIFFUSIVITY_CI95_HIGH,
         rep.diffusivity, f"tracer D ({res.directions}) at {tr:g} K from the Arrhenius fit"),
        (REPORT_CONDUCTIVITY, REPORT_CONDUCTIVITY_CI95_LOW, REPORT_CONDUCTIVITY_CI95_HIGH,
         rep.conductivity, f"Nernst–Einstein σ at {tr:g} K"),
    ):  # fmt: skip
        rows.append((spec, vals["value"], what))
        rows.append((spec.uncertainty, vals["uncertainty"], f"standard uncertainty of {spec.name}"))
        rows.append((low, vals["ci95_low"], "95 % interval, lower end"))
        rows.append((high, vals["ci95_high"], "95 % interval, upper end"))
    rows.append((REPORT_NUMBER_DENSITY, rep.number_density_per_cm3, "of the mobile species"))
    rows.append((REPORT_CHARGE_NUMBER, rep.charge_number, "z of the mobile ion"))
    with open_result_h5(path, provenance) as h5:
        for spec, value, description in rows:
            _add(h5, spec, np.asarray(value), description)
        h5.attrs["directions"] = res.directions
        h5.attrs["mobile_species"] = res.mobile_species
        h5.attrs["method"] = (
            "D(T) = D0 exp(−Ea/k_B T) from arrhenius.h5, σ(ln D) through the fit covariance; 95 % "
            "interval exp(ln D ± 1.96 σ); Nernst–Einstein σ = n z² e² D / (k_B T), Haven ratio 1"
        )
        h5.attrs["warnings_json"] = json.dumps(rep.warnings)
    return Path(path)


def read_arrhenius_covariance(path: str | Path) -> np.ndarray | None:
    """Covariance of (ln D0, Ea) from an arrhenius.h5; None when the file does not store it.

    Returns the symmetric 2×2 matrix [[Var(ln D0), Cov], [Cov, Var(Ea)]] (D0 in cm²/s, Ea in eV;
    units 1, eV; eV, eV²).
    """
    import h5py

    names = (
        ARRHENIUS_LN_D0_VARIANCE.name,
        ARRHENIUS_EA_VARIANCE.name,
        ARRHENIUS_LN_D0_EA_COVARIANCE.name,
    )
    with h5py.File(path, "r") as h5:
        if not all(n in h5 for n in names):
            return None
        return _covariance(*(h5[n][()] for n in names))


def _covariance(var_ln_d0: Any, var_ea: Any, cov_ln_d0_ea: Any) -> np.ndarray:
    """The symmetric 2×2 covariance of (ln D0, Ea) from its three stored elements."""
    v = [float(var_ln_d0), float(var_ea), float(cov_ln_d0_ea)]
    return np.array([[v[0], v[2]], [v[2], v[1]]])


def read_charge_number(path: str | Path) -> float | None:
    """Charge number z of the mobile ion from an arrhenius.h5; None when the file lacks it."""
    import h5py

    with h5py.File(path, "r") as h5:
        if ARRHENIUS_CHARGE_NUMBER.name not in h5:
            return None
        return float(h5[ARRHENIUS_CHARGE_NUMBER.name][()])


def format_arrhenius_summary(path: str | Path, report: str | Path | None = None) -> str:
    """The headline numbers of an arrhenius.h5 (and of the report.h5 beside it, or ``report``),
    in words (for logs and closing notes)."""
    import h5py

    res = read_arrhenius_result(path)
    f = res.fit
    rows = zip(res.all_temperature_K, res.included, res.n_hops, strict=True)
    lines = [
        f"{res.mobile_species} tracer diffusion ({res.directions}), Arrhenius fit over "
        + ", ".join(
            f"{t:g} K ({'fitted' if inc else 'left out'}, {int(h)} hops)" for t, inc, h in rows
        ),
        f"  Ea = {f.activation_energy_eV:.3f} ± {f.activation_energy_uncertainty_eV:.3f} eV, "
        f"D0 = {f.D0_cm2_s:.2e} ± {f.D0_uncertainty_cm2_s:.1e} cm²/s",
        f"  hop diffusivity for the continuum: D_hop = D*/(f c_v) = {res.tracer_to_hop_factor:.3g}"
        f" × D* (f = {res.settings.correlation_factor:g}, c_v = "
        f"{res.vacancy_site_fraction:.4g}): D0_hop = "
        f"{f.D0_cm2_s * res.tracer_to_hop_factor:.2e} cm²/s",
    ]
    notes = list(res.warnings)
    report = Path(path).with_name("report.h5") if report is None else Path(report)
    if report.is_file():
        with h5py.File(report, "r") as h5:
            g = {s.name: h5[s.name][()] for s in REPORT_DATASETS}
            notes += json.loads(h5.attrs.get("warnings_json", "[]"))

        def v(spec: DatasetSpec) -> Any:
            return g[spec.name]

        tr = float(v(REPORT_TEMPERATURE))
        lines += [
            f"  D({tr:g} K) = {v(REPORT_DIFFUSIVITY):.2e} cm²/s, 95 % interval "
            f"[{v(REPORT_DIFFUSIVITY_CI95_LOW):.2e}, {v(REPORT_DIFFUSIVITY_CI95_HIGH):.2e}]",
            f"  σ({tr:g} K) = {v(REPORT_CONDUCTIVITY):.2e} S/cm, 95 % interval "
            f"[{v(REPORT_CONDUCTIVITY_CI95_LOW):.2e}, {v(REPORT_CONDUCTIVITY_CI95_HIGH):.2e}] "
            f"(Nernst–Einstein, z = {v(REPORT_CHARGE_NUMBER):g}, "
            f"n = {v(REPORT_NUMBER_DENSITY):.3e} cm⁻³, Haven ratio 1)",
        ]
    lines += [f"  warning: {n}" for n in notes]
    return "\n".join(lines)
