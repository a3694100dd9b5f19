"""The thermo rules at finite temperature: Monte Carlo, the learned free energy, the OCV plot.

- :func:`run_monte_carlo` (rule thermo_monte_carlo): one temperature of (VC)SGC Monte Carlo on
  the cluster expansion → ``mc/T{T}K.h5``.
- :func:`run_free_energy` (rule thermo_free_energy): one integrable network per temperature
  trained on the μ data (:func:`learn_free_energy`), the tables of f, μ, ∂²f/∂x² on the output
  grid, spinodal, two-phase regions and OCV → ``free_energy.h5``; the runtime check
  ∫₀¹ OCV dx = −ΔE_f(1)/e (:func:`check_ocv_identity`) stops the rule when it fails.
- :func:`plot_ocv_file` (rule thermo_ocv_plot): the learned OCV against measured plateaus.

File layouts are in :mod:`ionscale.thermo.io`.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.io import Quantity
from ionscale.provenance import Provenance
from ionscale.thermo.analysis import (
    HostCoexistence,
    envelope_with_host_phase,
    envelope_with_line_phases,
    ocv_V,
    regions_beside_host,
    regions_with_line_phases,
    spinodal_intervals,
    two_phase_regions,
)
from ionscale.thermo.gates import (
    OCVIdentity,
    end_member_formation_energies,
    enforce,
    ocv_identity,
)
from ionscale.thermo.io import (
    ocv_identity_datasets,
    orderings_for_free_energy,
    read_mc,
    read_ocv_curves,
    write_free_energy,
    write_mc,
)
from ionscale.thermo.montecarlo import MCResult, MonteCarloDataError, check_sgc_monotone
from ionscale.thermo.network import FitResult, NetworkSettings
from ionscale.thermo.results import FreeEnergyResult
from ionscale.thermo.settings import (
    host_from_config,
    mc_settings,
    network_settings,
    ocv_identity_settings,
    x_grid,
)

#: the thermo rules' logger (its name is the one their log lines have always carried)
log = logging.getLogger("ionscale.thermo.stage")

#: How far (in x) the output grid may reach beyond the sampled μ data before a warning.
EXTRAPOLATION_TOLERANCE = 0.01


# -- Monte Carlo --------------------------------------------------------------------------------
def run_monte_carlo(
    cfg: Mapping[str, Any],
    ce_path: str,
    temperature_K: float,
    out: str,
    provenance: Provenance,
    seed: int,
) -> MCResult:
    """Rule thermo_monte_carlo (one temperature)."""
    from icet import ClusterExpansion

    from ionscale.thermo.montecarlo import run_monte_carlo as _run

    host = host_from_config(cfg["reference"])
    ce = ClusterExpansion.read(ce_path)
    settings = mc_settings(cfg["thermo"], seed)
    result = _run(ce, host, temperature_K, settings)
    check_sgc_monotone(result)
    write_mc(result, out, provenance, settings.supercell)
    return result


# -- free energy --------------------------------------------------------------------------------
def check_grid_within_data(grid: np.ndarray, x_data: np.ndarray, temperature_K: float) -> list:
    """Warn, naming the values, where the output grid extends past the sampled x range."""
    lo, hi = float(np.min(x_data)), float(np.max(x_data))
    out = []
    if grid[0] < lo - EXTRAPOLATION_TOLERANCE:
        out.append((float(grid[0]), lo))
    if grid[-1] > hi + EXTRAPOLATION_TOLERANCE:
        out.append((hi, float(grid[-1])))
    for a, b in out:
        warnings.warn(
            f"T = {temperature_K} K: thermo.grid reaches x = {a:.4g}–{b:.4g}, outside the "
            f"Monte Carlo data (x = {lo:.4g}–{hi:.4g}); f there is the network's extrapolation",
            stacklevel=2,
        )
    return out


@dataclass
class TemperatureFit:
    """One temperature of :func:`learn_free_energy`: the network and its tables on the grid."""

    fit: FitResult
    f: np.ndarray
    mu: np.ndarray
    d2f: np.ndarray
    #: bootstrap spread of (f, μ, ∂²f/∂x²) on the grid; None without bootstrap
    unc: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    extrapolated: list[tuple[float, float]]
    spinodal: list[tuple[float, float]]
    #: (x_lo, x_hi, μ eV): the lattice phase's own and those with a line phase at an end
    two_phase: list[tuple[float, float, float]]
    #: the host phase's coexistence with the lattice phase (None: no host phase below it)
    host: HostCoexistence | None = None


def mc_by_temperature(
    mc: Sequence[MCResult], temperatures_K: Sequence[float]
) -> tuple[dict[float, MCResult], list[float]]:
    """The Monte Carlo results keyed by temperature and the configured temperatures, sorted.

    Raises
    ------
    MonteCarloDataError
        A configured temperature without Monte Carlo data (naming it).
    """
    by_t = {round(r.temperature_K, 6): r for r in mc}
    temps = sorted(float(t) for t in temperatures_K)
    missing = [t for t in temps if round(t, 6) not in by_t]
    if missing:
        raise MonteCarloDataError(
            f"no Monte Carlo data at T = {missing} K (have {sorted(by_t)} K): every temperature "
            "in thermo.temperatures_K needs its mc/T{T}K.h5"
        )
    return by_t, temps


def equilibrium_tables(
    model: Any,
    grid: np.ndarray,
    f_lattice_at_0: float | None = None,
    line_phases: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any, list[tuple[float, float, float]]]:
    """f, μ, ∂²f/∂x² of a lattice-phase network on ``grid`` in equilibrium with the host phase
    (``f_lattice_at_0``: :func:`envelope_with_host_phase`) and the line phases
    (:func:`envelope_with_line_phases`), with the host coexistence (or None) and the line-phase
    segments. The network is its own empty cell's f (f(0) = 0)."""
    f, mu, d2f = model.evaluate(grid)
    host = None
    f0 = 0.0 if f_lattice_at_0 is None else float(f_lattice_at_0)
    if f_lattice_at_0 is not None:
        f, mu, d2f, host = envelope_with_host_phase(
            grid, f + f0, mu, d2f, f0, 0.0, f_fn=lambda v, m=model: m.value(v) + f0
        )
    segments: list[tuple[float, float, float]] = []
    if line_phases is not None and len(line_phases[0]):
        px, pf = (np.asarray(v, dtype=float) for v in line_phases)
        if f_lattice_at_0 is not None:  # the host phase is a line phase too
            px, pf = np.r_[0.0, px], np.r_[0.0, pf]
        f, mu, d2f, segments = envelope_with_line_phases(grid, f, mu, d2f, px, pf)
        if host is not None and any(seg[0] <= 0.0 for seg in segments):
            host = None  # the host coexists with a line phase, not the lattice phase
    return f, mu, d2f, host, segments


def fit_temperature(
    r: MCResult,
    t: float,
    f_end_eV: float,
    grid: np.ndarray,
    settings: NetworkSettings,
    f_lattice_at_0: float | None = None,
    line_phases: tuple[np.ndarray, np.ndarray] | None = None,
) -> TemperatureFit:
    """Train the network of one temperature on its μ data, tabulate and analyse it on ``grid``.

    The network is the lattice phase's f relative to its own empty cell (f(0) = 0, f(1) =
    ``f_end_eV``). With ``f_lattice_at_0`` (eV/site: the empty lattice cell against a separate
    host phase at x = 0, f = 0) the lattice phase is shifted by it and the tables are the
    equilibrium envelope with the host phase (:func:`envelope_with_host_phase`); without it they
    are the network's (the x = 0 reference is the empty lattice cell)."""
    from ionscale.thermo.network import fit_free_energy

    check_sgc_monotone(r)
    fit = fit_free_energy(
        r.li_fraction,
        r.chemical_potential_eV,
        r.chemical_potential_eV_uncertainty,
        f_end_eV,
        t,
        settings,
        x_tolerance=0.5 / r.n_sites,
    )
    f0 = 0.0 if f_lattice_at_0 is None else float(f_lattice_at_0)
    f, mu, d2f, host, segments = equilibrium_tables(fit.model, grid, f_lattice_at_0, line_phases)
    unc = None
    if fit.bootstrap:
        # each replicate through the same envelope: inside a plateau the band is the spread of
        # the replicates' coexistence μ, not that of their (unused) lattice-phase curves
        stack = np.array(
            [equilibrium_tables(b, grid, f_lattice_at_0, line_phases)[:3] for b in fit.bootstrap]
        )  # (n_b, 3, n_x)
        unc = tuple(stack.std(axis=0, ddof=1))
    extrap = check_grid_within_data(grid, r.li_fraction, t)
    spin = spinodal_intervals(grid, d2f)
    lattice = grid >= (host.x_tangent if host is not None else -1.0)
    two = two_phase_regions(
        grid[lattice],
        f[lattice],
        f_fn=lambda v, m=fit.model: m.value(v) + f0,
        mu_fn=lambda v, m=fit.model: m.evaluate(v)[1],
    )
    two = regions_beside_host(two, host)
    if segments:
        two = regions_with_line_phases(two, segments)
        log.info("T = %g K: line-phase (staged compound) regions %s", t, segments)
    log.info(
        "T = %g K: form %s, RMSE(mu) %.2f meV (validation %.2f), spinodal %s, two-phase %s",
        t,
        fit.form,
        1e3 * fit.rmse_train_eV,
        1e3 * fit.rmse_validation_eV,
        spin,
        two,
    )
    if host is not None:
        log.info(
            "T = %g K: host phase + lattice phase at x = %.4f coexist for x below it (OCV "
            "plateau %.4f V)",
            t,
            host.x_tangent,
            -host.mu_eV,
        )
    return TemperatureFit(fit, f, mu, d2f, unc, extrap, spin, two, host)  # type: ignore[arg-type]


def learn_free_energy(
    mc: Sequence[MCResult],
    temperatures_K: Sequence[float],
    f_end_eV: float,
    grid: np.ndarray,
    settings: NetworkSettings,
    f_lattice_at_0: float | None = None,
    line_phases: tuple[np.ndarray, np.ndarray] | None = None,
) -> FreeEnergyResult:
    """Train one integrable network per temperature and tabulate f, μ, ∂²f/∂x² on ``grid``
    (with a host phase at x = 0 when ``f_lattice_at_0`` is given: :func:`fit_temperature`).

    Raises
    ------
    MonteCarloDataError
        A configured temperature without Monte Carlo data (naming it).
    """
    by_t, temps = mc_by_temperature(mc, temperatures_K)
    rows = [
        fit_temperature(by_t[round(t, 6)], t, f_end_eV, grid, settings, f_lattice_at_0, line_phases)
        for t in temps
    ]
    unc = [row.unc for row in rows if row.unc is not None]
    u = [np.array(z) for z in zip(*unc, strict=True)] if len(unc) == len(temps) else [None] * 3
    return FreeEnergyResult(
        x=grid,
        temperature_K=np.array(temps),
        f=np.array([row.f for row in rows]),
        mu=np.array([row.mu for row in rows]),
        d2f=np.array([row.d2f for row in rows]),
        f_unc=u[0],
        mu_unc=u[1],
        d2f_unc=u[2],
        fits=[row.fit for row in rows],
        data=[by_t[round(t, 6)] for t in temps],
        spinodal=[row.spinodal for row in rows],
        two_phase=[row.two_phase for row in rows],
        extrapolated=[row.extrapolated for row in rows],
        f_end_eV=f_end_eV,
        host=[row.host for row in rows],
        f_lattice_at_0_eV=f_lattice_at_0,
    )


def lattice_f0_vs_host(orderings_h5: str | Path, ce_summary: Mapping[str, Any]) -> float | None:
    """f of the lattice phase at x = 0 against a separate host phase (eV/site): the cluster
    expansion's empty lattice cell (the energy the Monte Carlo and the network's anchor
    f(1) − f(0) came from; graphite: the AA–AB stacking energy), when orderings.h5 refers its
    formation energies to a host structure; None when x = 0 is the empty lattice cell itself
    (or for an orderings.h5 from before the host reference)."""
    import h5py

    with h5py.File(orderings_h5, "r") as h5:
        ref = h5["reference/x0_reference"][()] if "reference/x0_reference" in h5 else b""
    if (ref.decode() if isinstance(ref, bytes) else str(ref)) != "host structure":
        return None
    return float(ce_summary["end_members_eV_per_site"]["x0"])


def check_ocv_identity(
    res: FreeEnergyResult,
    hull_x: np.ndarray,
    hull_formation_eV_per_site: np.ndarray,
    thermo: Mapping[str, Any],
) -> OCVIdentity:
    """The runtime check of the learned f(x, T): ∫₀¹ OCV dx = −[ΔE_f(1) − ΔE_f(0)]/e with the
    end members' formation energies from the T = 0 hull
    (:func:`ionscale.thermo.gates.ocv_identity`).

    Logs every number; raises :class:`~ionscale.thermo.gates.ThermoGateError` naming both sides
    when the difference exceeds ``thermo.ocv_identity.tolerance_V`` and
    ``thermo.ocv_identity.action`` is ``error``.
    """
    identity = ocv_identity(
        res.x,
        ocv_V(res.mu),
        res.temperature_K,
        end_member_formation_energies(hull_x, hull_formation_eV_per_site),
        ocv_identity_settings(thermo),
    )
    for t, i, tl, d in zip(
        identity.temperature_K,
        identity.integral_V,
        identity.tails_V,
        identity.difference_V,
        strict=True,
    ):
        log.info(
            "T = %g K: ∫₀¹ OCV dx = %+.4f V (tails %+.4f V), −ΔE_f/e = %+.4f V, difference %+.4f V",
            t,
            i,
            tl,
            identity.expected_V,
            d,
        )
    enforce(identity.verdict, "OCV identity", "thermo.ocv_identity.action: warn")
    return identity


def staged_line_phases(orderings_h5: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(x, f in eV/site) of the staged compounds of orderings.h5 (model 0, T = 0 energies: an
    ordered compound has no configurational entropy), None when it has none."""
    from ionscale.thermo.io import read_staged

    d = read_staged(orderings_h5)
    if d is None or not len(d["stage"]):
        return None
    return d["li_fraction"], d["formation_energy_eV_per_site"]


def run_free_energy(
    cfg: Mapping[str, Any],
    inputs: Mapping[str, Any],
    out: Mapping[str, str],
    provenance: Provenance,
    seed: int,
) -> FreeEnergyResult:
    """Rule thermo_free_energy: ``inputs`` has ``mc`` (list of paths), ``ce_json``, ``orderings``.

    free_energy.h5 layout: ``x``, ``temperature_K``, ``free_energy_eV_per_site`` /
    ``chemical_potential_eV`` / ``d2f_dx2_eV_per_site`` / ``ocv_V`` (n_T, n_x) with
    ``_uncertainty`` when bootstrapped; ``fit/*`` per temperature; ``data/T{T}K/*`` the μ data;
    ``analysis/T{T}K/*`` spinodal and two-phase regions; ``network/T{T}K/weights/*`` the weights
    and ``network/T{T}K/config_json`` the architecture (:func:`ionscale.thermo.io.read_network`
    rebuilds the lattice phase's network: f_lattice = network + ``fit/lattice_f0_eV_per_site``);
    ``hull/*`` and ``reference/*`` copied from orderings.h5. With a host structure at x = 0
    (orderings.h5 ``reference/x0_reference``) the tables are the envelope of the host phase and
    the lattice phase (:func:`ionscale.thermo.analysis.envelope_with_host_phase`), its tangent
    point and plateau per temperature in ``analysis/T{T}K/host_coexistence_*``;
    ``fit/ocv_identity/*`` the runtime check ∫₀¹ OCV dx = −[ΔE_f(1) − ΔE_f(0)]/e
    (:func:`check_ocv_identity`: a violation with ``thermo.ocv_identity.action: error`` raises
    before anything is written).
    """
    mc = [read_mc(p) for p in inputs["mc"]]
    ce_summary = json.loads(Path(inputs["ce_json"]).read_text())
    f_end = float(ce_summary["f_end_eV_per_site"])
    res = learn_free_energy(
        mc,
        cfg["thermo"]["temperatures_K"],
        f_end,
        x_grid(cfg["thermo"]),
        network_settings(cfg["thermo"], seed),
        lattice_f0_vs_host(inputs["orderings"], ce_summary),
        staged_line_phases(inputs["orderings"]),
    )
    extra = orderings_for_free_energy(inputs["orderings"])
    extra["fit/cluster_expansion_cv_rmse_eV_per_site"] = Quantity(
        ce_summary["rmse_validation_eV_per_site"], "eV/site", "k-fold CV RMSE of the CE"
    )
    hull_x = extra["hull/li_fraction"].value
    hull_e = extra["hull/formation_energy_eV_per_site"].value
    extra.update(ocv_identity_datasets(check_ocv_identity(res, hull_x, hull_e, cfg["thermo"])))
    write_free_energy(res, out["h5"], provenance, extra)
    from ionscale.thermo.plots import plot_free_energy, plot_mu_fit

    plot_mu_fit(res, out["mu_plot"])
    plot_free_energy(res, hull_x, hull_e, out["f_plot"])
    return res


def plot_ocv_file(
    free_energy_h5: str | Path, measured_plateaus_V: Sequence[float], out_path: str | Path
) -> Path:
    """Rule thermo_ocv_plot: the learned OCV(x) against the measured plateaus (plot only, so
    a changed ``thermo.measured_plateaus_V`` reruns nothing else)."""
    from ionscale.thermo.plots import plot_ocv

    c = read_ocv_curves(free_energy_h5)
    return plot_ocv(c, c.hull_x, c.hull_formation_eV_per_site, measured_plateaus_V, out_path)


def run_ocv_check(
    cfg: Mapping[str, Any], free_energy_h5: str | Path, out_json: str | Path, provenance: Provenance
) -> dict[str, Any]:
    """Rule thermo_ocv_check: the learned OCV at ``thermo.ocv_check.temperature_K`` against
    measurement (:func:`ionscale.thermo.gates.judge_ocv`), a gate the handoff waits for.

    ocv_check.json holds the verdict, every number (lowest OCV, largest rise, per window our
    mean and the measured one), the two-phase regions (plateaus) at that temperature and the
    T = 0 hull. A failed check with ``action: error`` raises
    :class:`~ionscale.thermo.gates.ThermoGateError` without writing it.
    """
    from ionscale.io import write_json
    from ionscale.thermo.gates import OCVCheckSettings, judge_ocv

    settings = OCVCheckSettings.from_config(cfg["thermo"]["ocv_check"])
    c = read_ocv_curves(free_energy_h5)
    k = np.flatnonzero(np.isclose(c.temperature_K, settings.temperature_K))
    if not len(k):
        raise ValueError(
            f"thermo.ocv_check.temperature_K = {settings.temperature_K:g} K is not tabulated in "
            f"{free_energy_h5} (temperatures {c.temperature_K.tolist()} K: thermo.temperatures_K)"
        )
    t = float(c.temperature_K[k[0]])
    verdict = judge_ocv(c.x, ocv_V(c.mu[k[0]]), t, settings)
    for w in verdict.numbers.get("windows", []):
        log.info(
            "T = %g K: mean OCV over %g <= x <= %g: ours %+.4f V, measured %g ± %g V",
            t,
            w["x_min"],
            w["x_max"],
            w["mean_V"],
            w["measured_mean_V"],
            w["tolerance_V"],
        )
    summary = {
        "method": (
            "learned OCV = -mu/e (free_energy.h5) at one temperature against measured mean "
            "voltages, a lower bound and monotonicity in x"
        ),
        **verdict.numbers,
        "two_phase_regions": [
            {"x_alpha": a, "x_beta": b, "plateau_V": -mu} for a, b, mu in c.two_phase[k[0]]
        ],
        "hull": {
            "li_fraction": [float(v) for v in c.hull_x],
            "formation_energy_eV_per_site": [float(v) for v in c.hull_formation_eV_per_site],
        },
        "verdict": verdict.verdict,
        "problems": verdict.problems,
    }
    enforce(verdict, "thermo OCV check", "thermo.ocv_check.action: warn")
    write_json(out_json, summary, provenance)
    return summary
