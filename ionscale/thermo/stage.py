"""The thermo stage's steps as the workflow runs them: settings from the config, results to disk.

Each ``run_*`` function is one Snakemake rule (scripts/thermo_*.py only pass paths and config):

- :func:`run_orderings`: enumerate, relax with DP model 0, energies with every ensemble member,
  formation energies, convex hull → ``orderings.h5`` (+ the lattice decorations and the relaxed
  structures as extxyz).
- :func:`run_cluster_expansion`: icet cluster expansion with k-fold CV → ``cluster_expansion.ce``
  and ``cluster_expansion.json``.
- :func:`run_monte_carlo`: one temperature → ``mc/T{T}K.h5``.
- :func:`run_free_energy`: integrable networks per temperature, tables, spinodal, two-phase
  regions and OCV → ``free_energy.h5``.
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

from ionscale.io import Quantity, ResultFileError, atomic_path, read_quantity, write_h5, write_json
from ionscale.provenance import Provenance
from ionscale.thermo.analysis import ocv_V, spinodal_intervals, two_phase_regions
from ionscale.thermo.atomistic import (
    RelaxSettings,
    check_species,
    dp_calculator,
    ensemble_energies,
    relax,
    relaxed_metal_reference,
)
from ionscale.thermo.cluster_expansion import CESettings, fit_cluster_expansion
from ionscale.thermo.hull import check_against_metal, convex_hull, formation_energies
from ionscale.thermo.montecarlo import (
    MCResult,
    MCSettings,
    MonteCarloDataError,
    check_sgc_monotone,
)
from ionscale.thermo.network import FitResult, IntegrableFreeEnergy, NetworkSettings
from ionscale.thermo.structures import HostLattice, enumerate_orderings, load_host, strip_vacancies

log = logging.getLogger(__name__)

#: How far (in x) the output grid may reach beyond the sampled μ data before a warning.
EXTRAPOLATION_TOLERANCE = 0.01


def temperature_label(temperature_K: float) -> str:
    """``T300K``: the label of one temperature in paths and HDF5 groups (integer kelvin)."""
    if abs(temperature_K - round(temperature_K)) > 1e-9:
        raise ValueError(f"temperatures must be whole kelvin, got {temperature_K}")
    return f"T{round(temperature_K)}K"


def structure_file(reference: Mapping[str, Any]) -> str:
    """``reference.structure.file`` resolved as every stage resolves it (working directory,
    then the project; a ConfigError naming the key if neither); empty for a prototype."""
    from ionscale.provenance import PROJECT_ROOT
    from ionscale.reference.stage import resolve_path

    file = reference["structure"]["file"]
    return str(resolve_path(file, "reference.structure.file", PROJECT_ROOT)) if file else ""


def host_from_config(reference: Mapping[str, Any]) -> HostLattice:
    """The host named by the reference stage's keys ``structure.file`` or
    ``structure.prototype`` and ``mobile_species`` (the ``reference`` section)."""
    return load_host(
        structure_file(reference),
        reference["structure"]["prototype"],
        reference["mobile_species"],
    )


def check_settings(thermo: Mapping[str, Any]) -> None:
    """Build every settings object of the ``thermo`` section as the jobs do (cross-field rules:
    x ranges, temperatures in whole kelvin); raises ValueError naming the key."""
    for t in thermo["temperatures_K"]:
        temperature_label(float(t))
    relax_settings(thermo)
    CESettings(**thermo["cluster_expansion"])
    try:
        mc_settings(thermo, seed=0)
    except ValueError as exc:
        raise ValueError(f"thermo.monte_carlo: {exc}") from None
    network_settings(thermo, seed=0)
    x_grid(thermo)


def relax_settings(cfg: Mapping[str, Any]) -> RelaxSettings:
    return RelaxSettings(**cfg["relax"])


# -- orderings, energies, hull ----------------------------------------------------------------
@dataclass
class Orderings:
    """Enumerated orderings, relaxed, with their energies and hull."""

    lattice: list[Any]  # decorated lattice structures (vacancies "X")
    relaxed: list[Any]  # relaxed structures (vacancies removed)
    energy_eV: np.ndarray  # (n_models, n): ensemble energies of the relaxed structures
    formation_eV_per_site: np.ndarray  # (n_models, n)
    host_eV_per_site: np.ndarray  # (n_models,)
    li_metal_eV_per_atom: np.ndarray  # (n_models,)
    li_metal_lattice_A: float
    converged: np.ndarray
    steps: np.ndarray
    failure: list[str]

    @property
    def ok(self) -> np.ndarray:
        return np.array([not f for f in self.failure])

    @property
    def x(self) -> np.ndarray:
        return np.array([a.info["li_fraction"] for a in self.lattice], dtype=float)

    @property
    def n_sites(self) -> np.ndarray:
        return np.array([a.info["n_sites"] for a in self.lattice], dtype=int)


def compute_orderings(
    host: HostLattice,
    models: Sequence[str | Path],
    max_supercell_size: int,
    max_structures: int,
    li_metal_lattice_A: float,
    settings: RelaxSettings,
) -> Orderings:
    """Enumerate, relax with model 0, evaluate with every model, formation energies."""
    if not models:
        raise ValueError("at least one DeePMD model is needed")
    calcs = [dp_calculator(m) for m in models]
    check_species(host.primitive, calcs[0], f"host structure {host.source}")
    metal = relaxed_metal_reference(host.mobile_species, li_metal_lattice_A, calcs[0], settings)
    mu_metal = ensemble_energies([metal.atoms], calcs)[:, 0] / len(metal.atoms)
    lattice = enumerate_orderings(host, max_supercell_size, max_structures)
    log.info(
        "%d orderings in supercells of up to %d primitive cells", len(lattice), max_supercell_size
    )
    relaxed, converged, steps, failure = [], [], [], []
    for k, atoms in enumerate(lattice):
        res = relax(strip_vacancies(atoms), calcs[0], settings)
        relaxed.append(res.atoms)
        converged.append(res.converged)
        steps.append(res.steps)
        failure.append(res.failure)
        log.info(
            "%s x = %.3f (%d atoms): E = %.4f eV, %d steps%s%s",
            atoms.info["ordering_id"],
            atoms.info["li_fraction"],
            len(res.atoms),
            res.energy_eV,
            res.steps,
            "" if res.converged else " (not converged)",
            f" FAILED: {res.failure}" if res.failure else "",
        )
        if k % 20 == 19:
            log.info("relaxed %d/%d", k + 1, len(lattice))
    energies = ensemble_energies(relaxed, calcs)
    x = np.array([a.info["li_fraction"] for a in lattice])
    n_sites = np.array([a.info["n_sites"] for a in lattice])
    empty = np.flatnonzero((x == 0) & (n_sites == host.n_sites))
    if not len(empty) or failure[empty[0]]:
        raise RuntimeError("the empty host (x = 0) did not relax: no reference for f(x)")
    host_e = energies[:, empty[0]] / host.n_sites
    n_li = np.rint(x * n_sites)
    ef = formation_energies(
        energies, n_li[None, :], n_sites[None, :], host_e[:, None], mu_metal[:, None]
    )
    failed = [f"{lattice[i].info['ordering_id']}: {f}" for i, f in enumerate(failure) if f]
    if failed:
        warnings.warn(f"{len(failed)} orderings failed and are left out: {failed}", stacklevel=2)
    return Orderings(
        lattice=lattice,
        relaxed=relaxed,
        energy_eV=energies,
        formation_eV_per_site=ef,
        host_eV_per_site=host_e,
        li_metal_eV_per_atom=mu_metal,
        li_metal_lattice_A=float(metal.atoms.cell.lengths()[0]),
        converged=np.array(converged),
        steps=np.array(steps),
        failure=failure,
    )


def write_orderings(
    orderings: Orderings,
    h5_path: str | Path,
    lattice_path: str | Path,
    relaxed_path: str | Path,
    plot_path: str | Path | None,
    provenance: Provenance,
    host: HostLattice,
) -> None:
    """orderings.h5, the two extxyz files and the formation-energy plot."""
    import ase.io

    ok = orderings.ok
    x = orderings.x
    ef = orderings.formation_eV_per_site
    hull = convex_hull(x[ok], ef[0, ok])
    check_against_metal(hull)
    e_above = np.full(len(x), np.nan)
    e_above[ok] = hull.e_above_hull_eV_per_site
    on_hull = np.zeros(len(x), dtype=np.int8)
    on_hull[np.flatnonzero(ok)[hull.vertex_indices]] = 1
    n_models = ef.shape[0]
    unc = ef.std(axis=0, ddof=1) if n_models > 1 else None
    vol = np.array([a.get_volume() for a in orderings.relaxed]) / orderings.n_sites
    segments = hull.two_phase_regions()
    d = {
        "ordering_id": Quantity(
            np.array([a.info["ordering_id"] for a in orderings.lattice], dtype="S"),
            "1",
            "ordering label",
        ),
        "li_fraction": Quantity(x, "1", "Li site fraction x"),
        "n_sites": Quantity(orderings.n_sites, "1", "sublattice sites in the cell"),
        "n_atoms": Quantity(np.array([len(a) for a in orderings.relaxed]), "1", "atoms relaxed"),
        "energy_eV": Quantity(orderings.energy_eV[0], "eV", "DP model 0 energy, relaxed"),
        "ensemble_energy_eV": Quantity(orderings.energy_eV, "eV", "(n_models, n) energies"),
        "formation_energy_eV_per_site": Quantity(
            ef[0], "eV/site", "vs empty host and bcc Li metal (model 0)", unc
        ),
        "ensemble_formation_energy_eV_per_site": Quantity(ef, "eV/site", "(n_models, n)"),
        "e_above_hull_eV_per_site": Quantity(e_above, "eV/site", "NaN for failed relaxations"),
        "on_hull": Quantity(on_hull, "1", "1: hull vertex"),
        "volume_A3_per_site": Quantity(vol, "Å³/site", "relaxed volume per sublattice site"),
        "relax_converged": Quantity(orderings.converged.astype(np.int8), "1", "BFGS converged"),
        "relax_steps": Quantity(orderings.steps, "1", "BFGS steps"),
        "failed": Quantity((~ok).astype(np.int8), "1", "1: left out (see attrs failures)"),
        "reference/host_energy_eV_per_site": Quantity(
            orderings.host_eV_per_site, "eV/site", "empty host, per model"
        ),
        "reference/li_metal_energy_eV_per_atom": Quantity(
            orderings.li_metal_eV_per_atom, "eV/atom", "bcc Li metal, per model (μ_Li,metal)"
        ),
        "reference/li_metal_lattice_constant_A": Quantity(orderings.li_metal_lattice_A, "Å"),
        "hull/li_fraction": Quantity(hull.x, "1", "hull vertices"),
        "hull/formation_energy_eV_per_site": Quantity(hull.formation_energy_eV_per_site, "eV/site"),
        "hull/segment_x_lo": Quantity(np.array([s[0] for s in segments]), "1"),
        "hull/segment_x_hi": Quantity(np.array([s[1] for s in segments]), "1"),
        "hull/voltage_V": Quantity(
            np.array([s[2] for s in segments]), "V", "T = 0 voltage of each hull segment vs Li/Li+"
        ),
    }
    attrs = {
        "mobile_species": host.mobile_species,
        "host_source": host.source,
        "n_models": n_models,
        "failures_json": json.dumps(
            {
                orderings.lattice[i].info["ordering_id"]: f
                for i, f in enumerate(orderings.failure)
                if f
            }
        ),
    }
    write_h5(h5_path, d, provenance, attrs=attrs)
    for path, frames in ((lattice_path, orderings.lattice), (relaxed_path, orderings.relaxed)):
        with atomic_path(path) as tmp:
            ase.io.write(tmp, frames, format="extxyz")
    if plot_path is not None:
        from ionscale.thermo.plots import plot_formation_energies

        plot_formation_energies(x[ok], ef[0, ok], None if unc is None else unc[ok], hull, plot_path)


def run_orderings(
    cfg: Mapping[str, Any], models: Sequence[str], out: Mapping[str, str], provenance: Provenance
) -> Orderings:
    """Rule thermo_orderings: ``cfg`` holds the ``thermo`` section and the host's reference keys."""
    host = host_from_config(cfg["reference"])
    o = cfg["thermo"]["orderings"]
    orderings = compute_orderings(
        host,
        models,
        o["max_supercell_size"],
        o["max_structures"],
        o["li_metal_lattice_A"],
        relax_settings(cfg["thermo"]),
    )
    write_orderings(
        orderings, out["h5"], out["lattice"], out["relaxed"], out.get("plot"), provenance, host
    )
    return orderings


# -- cluster expansion --------------------------------------------------------------------------
def read_orderings_for_fit(h5_path: str | Path, lattice_path: str | Path):
    """(lattice structures, model-0 formation energies per site) of the non-failed orderings."""
    import ase.io

    frames = ase.io.read(lattice_path, index=":")
    ef = read_quantity(h5_path, "formation_energy_eV_per_site").value
    failed = read_quantity(h5_path, "failed").value.astype(bool)
    if len(frames) != len(ef):
        raise ResultFileError(f"{lattice_path} has {len(frames)} frames, {h5_path} {len(ef)}")
    keep = np.flatnonzero(~failed)
    return [frames[i] for i in keep], ef[keep]


def run_cluster_expansion(
    cfg: Mapping[str, Any],
    inputs: Mapping[str, str],
    out: Mapping[str, str],
    provenance: Provenance,
    seed: int,
) -> tuple[Any, dict[str, Any]]:
    """Rule thermo_cluster_expansion."""
    host = host_from_config(cfg["reference"])
    structures, ef = read_orderings_for_fit(inputs["h5"], inputs["lattice"])
    c = cfg["thermo"]["cluster_expansion"]
    settings = CESettings(
        cutoffs_A=list(c["cutoffs_A"]),
        fit_method=c["fit_method"],
        n_splits=c["n_splits"],
        seed=seed,
    )
    ce, summary = fit_cluster_expansion(host, structures, ef, settings)
    per_site = len(host.primitive) / host.n_sites
    end0 = float(ce.predict(host.end_member(0)) * per_site)
    end1 = float(ce.predict(host.end_member(1)) * per_site)
    summary["end_members_eV_per_site"] = {"x0": end0, "x1": end1}
    summary["f_end_eV_per_site"] = end1 - end0
    summary["dp_f_end_eV_per_site"] = float(
        ef[
            np.argmax(
                [
                    host.li_fraction(s) == 1 and host.n_sites_in(s) == host.n_sites
                    for s in structures
                ]
            )
        ]
    )
    summary["li_fraction"] = [host.li_fraction(s) for s in structures]
    summary["dp_formation_energy_eV_per_site"] = ef.tolist()
    log.info(
        "cluster expansion: %d structures, %d parameters, CV RMSE %.2f meV/site",
        summary["n_structures"],
        summary["n_parameters"],
        1e3 * summary["rmse_validation_eV_per_site"],
    )
    with atomic_path(out["ce"]) as tmp:
        ce.write(str(tmp))
    write_json(out["json"], summary, provenance)
    return ce, summary


# -- Monte Carlo --------------------------------------------------------------------------------
def mc_settings(cfg: Mapping[str, Any], seed: int) -> MCSettings:
    m = dict(cfg["monte_carlo"])
    return MCSettings(**m, seed=seed)


def write_mc(
    result: MCResult, path: str | Path, provenance: Provenance, supercell: Sequence[int]
) -> None:
    control_units = "1" if result.ensemble == "vcsgc" else "eV"
    d = {
        "control": Quantity(
            result.control, control_units, "VCSGC φ (1) or SGC Δμ (eV) of each point"
        ),
        "li_fraction": Quantity(result.li_fraction, "1", "⟨x⟩", result.li_fraction_uncertainty),
        "chemical_potential_eV": Quantity(
            result.chemical_potential_eV,
            "eV",
            "μ − μ_Li,metal per Li",
            result.chemical_potential_eV_uncertainty,
        ),
        "correlation_length_sweeps": Quantity(
            result.correlation_length_sweeps, "1", "integrated autocorrelation time of x"
        ),
        "converged_autocorrelation": Quantity(
            result.converged_autocorrelation.astype(np.int8), "1"
        ),
        "acceptance_ratio": Quantity(result.acceptance_ratio, "1"),
        "energy_eV_per_site": Quantity(result.energy_eV_per_site, "eV/site", "⟨E_CE⟩ / N"),
    }
    attrs = {
        "temperature_K": result.temperature_K,
        "ensemble": result.ensemble,
        "n_sites": result.n_sites,
        "n_samples": result.n_samples,
        "kappa": result.kappa,
        "supercell": np.asarray(supercell, dtype=int),
    }
    write_h5(path, d, provenance, attrs=attrs)


def read_mc(path: str | Path) -> MCResult:
    """An ``mc/T{T}K.h5`` file back into an :class:`MCResult`."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"Monte Carlo result {path} does not exist")
    li = read_quantity(path, "li_fraction")
    mu = read_quantity(path, "chemical_potential_eV")
    with h5py.File(path, "r") as h5:
        a = dict(h5.attrs)
        extra = {
            k: h5[k][()]
            for k in (
                "control",
                "correlation_length_sweeps",
                "converged_autocorrelation",
                "acceptance_ratio",
                "energy_eV_per_site",
            )
        }
    ens = a["ensemble"]
    return MCResult(
        temperature_K=float(a["temperature_K"]),
        ensemble=ens.decode() if isinstance(ens, bytes) else str(ens),
        control=extra["control"],
        li_fraction=li.value,
        li_fraction_uncertainty=li.uncertainty,
        chemical_potential_eV=mu.value,
        chemical_potential_eV_uncertainty=mu.uncertainty,
        correlation_length_sweeps=extra["correlation_length_sweeps"],
        converged_autocorrelation=extra["converged_autocorrelation"].astype(bool),
        acceptance_ratio=extra["acceptance_ratio"],
        energy_eV_per_site=extra["energy_eV_per_site"],
        n_sites=int(a["n_sites"]),
        n_samples=int(a["n_samples"]),
        kappa=float(a["kappa"]),
    )


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
def network_settings(cfg: Mapping[str, Any], seed: int) -> NetworkSettings:
    return NetworkSettings(**cfg["network"], seed=seed)


def x_grid(cfg: Mapping[str, Any]) -> np.ndarray:
    g = cfg["grid"]
    if not 0 < g["x_min"] < g["x_max"] < 1:
        raise ValueError(f"thermo.grid: need 0 < x_min < x_max < 1, got {g['x_min']}, {g['x_max']}")
    return np.linspace(g["x_min"], g["x_max"], g["n_points"])


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
class FreeEnergyResult:
    """The learned f(x, T) on the grid and everything that goes into free_energy.h5."""

    x: np.ndarray
    temperature_K: np.ndarray
    f: np.ndarray
    mu: np.ndarray
    d2f: np.ndarray
    f_unc: np.ndarray | None
    mu_unc: np.ndarray | None
    d2f_unc: np.ndarray | None
    fits: list[FitResult]
    data: list[MCResult]
    spinodal: list[list[tuple[float, float]]]
    two_phase: list[list[tuple[float, float, float]]]
    extrapolated: list[list[tuple[float, float]]]
    f_end_eV: float


def learn_free_energy(
    mc: Sequence[MCResult],
    temperatures_K: Sequence[float],
    f_end_eV: float,
    grid: np.ndarray,
    settings: NetworkSettings,
) -> FreeEnergyResult:
    """Train one integrable network per temperature and tabulate f, μ, ∂²f/∂x² on ``grid``.

    Raises
    ------
    MonteCarloDataError
        A configured temperature without Monte Carlo data (naming it).
    """
    from ionscale.thermo.network import fit_free_energy

    by_t = {round(r.temperature_K, 6): r for r in mc}
    temps = sorted(float(t) for t in temperatures_K)
    missing = [t for t in temps if round(t, 6) not in by_t]
    if missing:
        raise MonteCarloDataError(
            f"no Monte Carlo data at T = {missing} K (have {sorted(by_t)} K): every temperature "
            "in thermo.temperatures_K needs its mc/T{T}K.h5"
        )
    fs, mus, d2s, fits, data, spin, two, extrap = [], [], [], [], [], [], [], []
    unc: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for t in temps:
        r = by_t[round(t, 6)]
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
        f, mu, d2f = fit.model.evaluate(grid)
        if fit.bootstrap:
            stack = np.array([b.evaluate(grid) for b in fit.bootstrap])  # (n_b, 3, n_x)
            unc.append(tuple(stack.std(axis=0, ddof=1)))  # type: ignore[arg-type]
        extrap.append(check_grid_within_data(grid, r.li_fraction, t))
        spin.append(spinodal_intervals(grid, d2f))
        two.append(
            two_phase_regions(
                grid,
                f,
                f_fn=lambda v, m=fit.model: m.value(v),
                mu_fn=lambda v, m=fit.model: m.evaluate(v)[1],
            )
        )
        fs.append(f)
        mus.append(mu)
        d2s.append(d2f)
        fits.append(fit)
        data.append(r)
        log.info(
            "T = %g K: form %s, RMSE(mu) %.2f meV (validation %.2f), spinodal %s, two-phase %s",
            t,
            fit.form,
            1e3 * fit.rmse_train_eV,
            1e3 * fit.rmse_validation_eV,
            spin[-1],
            two[-1],
        )
    u = [np.array(z) for z in zip(*unc, strict=True)] if len(unc) == len(temps) else [None] * 3
    return FreeEnergyResult(
        x=grid,
        temperature_K=np.array(temps),
        f=np.array(fs),
        mu=np.array(mus),
        d2f=np.array(d2s),
        f_unc=u[0],
        mu_unc=u[1],
        d2f_unc=u[2],
        fits=fits,
        data=data,
        spinodal=spin,
        two_phase=two,
        extrapolated=extrap,
        f_end_eV=f_end_eV,
    )


def free_energy_datasets(res: FreeEnergyResult) -> dict[str, Quantity]:
    """The datasets of free_energy.h5 (layout in the docs of :func:`run_free_energy`)."""
    d: dict[str, Quantity] = {
        "x": Quantity(res.x, "1", "Li site fraction grid"),
        "temperature_K": Quantity(res.temperature_K, "K"),
        "free_energy_eV_per_site": Quantity(
            res.f, "eV/site", "f(x,T) vs empty host and bcc Li", res.f_unc
        ),
        "chemical_potential_eV": Quantity(res.mu, "eV", "μ = ∂f/∂x vs Li metal", res.mu_unc),
        "d2f_dx2_eV_per_site": Quantity(res.d2f, "eV/site", "∂²f/∂x²", res.d2f_unc),
        "ocv_V": Quantity(
            ocv_V(res.mu), "V", "−μ/e vs Li/Li+", None if res.mu_unc is None else res.mu_unc
        ),
        "fit/rmse_train_eV": Quantity([f.rmse_train_eV for f in res.fits], "eV", "RMSE of μ"),
        "fit/rmse_validation_eV": Quantity(
            [f.rmse_validation_eV for f in res.fits], "eV", "RMSE of μ on held-out points"
        ),
        "fit/anchor_residual_eV_per_site": Quantity(
            [f.anchor_residual_eV for f in res.fits], "eV/site", "f(1) − anchor"
        ),
        "fit/ideal_entropy": Quantity(
            [int(f.form == "ideal") for f in res.fits],
            "1",
            "1: network + ideal configurational entropy",
        ),
        "fit/f_end_eV_per_site": Quantity(res.f_end_eV, "eV/site", "anchor f(1)"),
    }
    for t, fit, sp, tp in zip(
        res.temperature_K, res.fits, res.spinodal, res.two_phase, strict=True
    ):
        g = temperature_label(t)
        validation = np.zeros(len(fit.x), dtype=np.int8)
        validation[fit.validation_index] = 1
        d[f"data/{g}/li_fraction"] = Quantity(fit.x, "1", "MC ⟨x⟩ used by the fit")
        d[f"data/{g}/chemical_potential_eV"] = Quantity(fit.mu, "eV", "MC μ", fit.sigma)
        d[f"data/{g}/validation"] = Quantity(validation, "1", "1: held out of training")
        d[f"analysis/{g}/spinodal_x"] = Quantity(
            np.array(sp, dtype=float).reshape(-1, 2), "1", "[x_lo, x_hi] where ∂²f/∂x² < 0"
        )
        d[f"analysis/{g}/two_phase_x"] = Quantity(
            np.array([z[:2] for z in tp], dtype=float).reshape(-1, 2),
            "1",
            "[x_α, x_β] coexisting phases (common tangent)",
        )
        d[f"analysis/{g}/two_phase_voltage_V"] = Quantity(
            np.array([-z[2] for z in tp], dtype=float), "V", "plateau voltage vs Li/Li+"
        )
        for name, arr in fit.model.state_arrays().items():
            d[f"network/{g}/weights/{name}"] = Quantity(arr, "1", "torch state_dict entry")
        d[f"network/{g}/config_json"] = Quantity(
            np.bytes_(json.dumps(fit.model.config)),
            "1",
            "IntegrableFreeEnergy arguments (ionscale.thermo.network)",
        )
        d[f"network/{g}/form"] = Quantity(np.bytes_(fit.form), "1", "ideal or plain")
        d[f"network/{g}/candidates_json"] = Quantity(
            np.bytes_(json.dumps(fit.candidates)), "1", "RMSE of each trained form"
        )
    return d


def write_free_energy(
    res: FreeEnergyResult,
    path: str | Path,
    provenance: Provenance,
    extra: Mapping[str, Quantity] | None = None,
) -> None:
    """free_energy.h5 (layout: :func:`run_free_energy`)."""
    extrapolated = {
        temperature_label(t): e for t, e in zip(res.temperature_K, res.extrapolated, strict=True)
    }
    write_h5(
        path,
        {**free_energy_datasets(res), **(extra or {})},
        provenance,
        attrs={"extrapolated_x_json": json.dumps(extrapolated)},
    )


def read_network(path: str | Path, temperature_K: float) -> IntegrableFreeEnergy:
    """The trained network of one temperature from free_energy.h5 (or parameters.h5)."""
    import h5py

    g = temperature_label(temperature_K)
    with h5py.File(path, "r") as h5:
        for prefix in ("network", "thermo/network"):
            if f"{prefix}/{g}" in h5:
                grp = h5[f"{prefix}/{g}"]
                config = json.loads(grp["config_json"][()])
                arrays = {k: grp["weights"][k][()] for k in grp["weights"]}
                return IntegrableFreeEnergy.from_arrays(config, arrays)
    raise ResultFileError(f"{path}: no network for {g}")


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
    and ``network/T{T}K/config_json`` the architecture (:func:`read_network` rebuilds it);
    ``hull/*`` and ``reference/*`` copied from orderings.h5.
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
    )
    extra = {}
    for name in (
        "hull/li_fraction",
        "hull/formation_energy_eV_per_site",
        "hull/voltage_V",
        "hull/segment_x_lo",
        "hull/segment_x_hi",
        "reference/li_metal_energy_eV_per_atom",
        "reference/host_energy_eV_per_site",
        "li_fraction",
        "formation_energy_eV_per_site",
    ):
        q = read_quantity(inputs["orderings"], name)
        target = name if "/" in name else f"orderings/{name}"
        extra[target] = Quantity(q.value, q.units, q.description, q.uncertainty)
    extra["fit/cluster_expansion_cv_rmse_eV_per_site"] = Quantity(
        ce_summary["rmse_validation_eV_per_site"], "eV/site", "k-fold CV RMSE of the CE"
    )
    write_free_energy(res, out["h5"], provenance, extra)
    from ionscale.thermo.plots import plot_free_energy, plot_mu_fit

    hull_x = extra["hull/li_fraction"].value
    hull_e = extra["hull/formation_energy_eV_per_site"].value
    plot_mu_fit(res, out["mu_plot"])
    plot_free_energy(res, hull_x, hull_e, out["f_plot"])
    return res


@dataclass
class OCVCurves:
    """What the OCV plot needs from free_energy.h5 (see :func:`read_ocv_curves`)."""

    x: np.ndarray  # Li site fraction grid
    temperature_K: np.ndarray
    mu: np.ndarray  # (n_T, n_x) μ vs Li metal, eV
    two_phase: list[list[tuple[float, float, float]]]  # per T: (x_α, x_β, μ at coexistence, eV)
    hull_x: np.ndarray
    hull_formation_eV_per_site: np.ndarray


def read_ocv_curves(path: str | Path) -> OCVCurves:
    """The learned μ(x, T), its two-phase regions and the hull, from free_energy.h5."""
    temps = np.atleast_1d(read_quantity(path, "temperature_K").value)
    two_phase = []
    for t in temps:
        g = temperature_label(float(t))
        xs = np.asarray(read_quantity(path, f"analysis/{g}/two_phase_x").value).reshape(-1, 2)
        volts = np.atleast_1d(read_quantity(path, f"analysis/{g}/two_phase_voltage_V").value)
        two_phase.append(
            [(float(a), float(b), -float(v)) for (a, b), v in zip(xs, volts, strict=True)]
        )
    return OCVCurves(
        x=read_quantity(path, "x").value,
        temperature_K=temps,
        mu=read_quantity(path, "chemical_potential_eV").value,
        two_phase=two_phase,
        hull_x=read_quantity(path, "hull/li_fraction").value,
        hull_formation_eV_per_site=read_quantity(path, "hull/formation_energy_eV_per_site").value,
    )


def plot_ocv_file(
    free_energy_h5: str | Path, measured_plateaus_V: Sequence[float], out_path: str | Path
) -> Path:
    """Rule thermo_ocv_plot: the learned OCV(x) against the measured plateaus (plot only, so
    a changed ``thermo.measured_plateaus_V`` reruns nothing else)."""
    from ionscale.thermo.plots import plot_ocv

    c = read_ocv_curves(free_energy_h5)
    return plot_ocv(c, c.hull_x, c.hull_formation_eV_per_site, measured_plateaus_V, out_path)


# -- DFT spot check -----------------------------------------------------------------------------
def run_dft_check(
    cfg: Mapping[str, Any],
    calculator_cfg: Mapping[str, Any],
    inputs: Mapping[str, str],
    out: Mapping[str, str],
    provenance: Provenance,
    workdir: str | Path,
) -> dict[str, Any]:
    """Rule thermo_dft_check: DP vs DFT formation energies (JSON + parity plot)."""
    import ase.io

    from ionscale.thermo.dft import dft_spot_check
    from ionscale.thermo.plots import plot_dft_parity
    from ionscale.thermo.structures import bcc_metal

    names = (
        "li_fraction",
        "n_sites",
        "on_hull",
        "e_above_hull_eV_per_site",
        "failed",
        "formation_energy_eV_per_site",
    )
    arrays = {k: read_quantity(inputs["h5"], k).value for k in names}
    a_metal = float(read_quantity(inputs["h5"], "reference/li_metal_lattice_constant_A").value)
    relaxed = ase.io.read(inputs["relaxed"], index=":")
    metal = bcc_metal(cfg["reference"]["mobile_species"], a_metal)
    summary = dft_spot_check(
        relaxed,
        arrays,
        metal,
        calculator_cfg,
        cfg["thermo"]["dft_check"]["n_structures"],
        workdir,
    )
    rows = summary["structures"]
    if summary["rmse_eV_per_site"] is not None:
        log.info(
            "DP vs DFT formation energies: MAE %.1f meV/site, RMSE %.1f, max %.1f (%d)",
            1e3 * summary["mae_eV_per_site"],
            1e3 * summary["rmse_eV_per_site"],
            1e3 * summary["max_abs_error_eV_per_site"],
            len(rows),
        )
    write_json(out["json"], summary, provenance)
    plot_dft_parity(
        np.array([r["dp_formation_energy_eV_per_site"] for r in rows]),
        np.array([r["dft_formation_energy_eV_per_site"] for r in rows]),
        np.array([r["li_fraction"] for r in rows]),
        out["plot"],
    )
    return summary
