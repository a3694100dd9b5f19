"""The thermo rules on energies at T = 0: orderings and hull, cluster expansion, DFT spot check.

- :func:`run_orderings` (rule thermo_orderings): enumerate the Li/vacancy orderings, relax with
  DP model 0, energies with every ensemble member, formation energies against the empty host
  (the ``reference.host`` structure, e.g. AB graphite, relaxed with its cell free at least along
  c; the empty lattice cell only when no host is configured) and bcc Li metal, convex hull →
  ``orderings.h5`` (+ the lattice decorations and the relaxed
  structures as extxyz; layout in :mod:`ionscale.thermo.io`).
- :func:`run_cluster_expansion` (rule thermo_cluster_expansion): icet cluster expansion of the
  model-0 formation energies with k-fold CV → ``cluster_expansion.ce`` and
  ``cluster_expansion.json``.
- :func:`run_dft_check` (rule thermo_dft_check): DP vs DFT formation energies of a few
  orderings (JSON + parity plot).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.io import atomic_path, write_json
from ionscale.provenance import Provenance
from ionscale.thermo.atomistic import (
    RelaxResult,
    RelaxSettings,
    check_layers_in_xy,
    check_species,
    dp_calculator,
    ensemble_energies,
    more_relaxed_mode,
    relax,
    relaxed_metal_reference,
)
from ionscale.thermo.cluster_expansion import CESettings, fit_cluster_expansion
from ionscale.thermo.hull import formation_energies
from ionscale.thermo.io import (
    read_host_for_dft_check,
    read_orderings_for_dft_check,
    read_orderings_for_fit,
    read_staged,
    read_staged_structures,
    write_orderings,
)
from ionscale.thermo.results import HostReference, Orderings, StagedPhases
from ionscale.thermo.settings import host_from_config, host_reference_from_config, relax_settings
from ionscale.thermo.structures import (
    HostLattice,
    enumerate_orderings,
    framework_formula_units,
    gallery_spacing_A,
    layer_count,
    strip_vacancies,
)

#: the thermo rules' logger (its name is the one their log lines have always carried)
log = logging.getLogger("ionscale.thermo.stage")


# -- orderings, energies, hull ----------------------------------------------------------------
def metal_reference(
    host: HostLattice, li_metal_lattice_A: float, calcs: Sequence[Any], settings: RelaxSettings
) -> tuple[Any, np.ndarray]:
    """bcc metal of the mobile species relaxed with model 0, and its energy per atom with
    every model (μ_Li,metal, eV/atom)."""
    metal = relaxed_metal_reference(host.mobile_species, li_metal_lattice_A, calcs[0], settings)
    mu_metal = ensemble_energies([metal.atoms], calcs)[:, 0] / len(metal.atoms)
    return metal, mu_metal


def relax_orderings(
    lattice: Sequence[Any], calc: Any, settings: RelaxSettings
) -> tuple[list[Any], list[bool], list[int], list[str]]:
    """Relax every ordering (vacancies removed) with one calculator: (relaxed structures,
    converged, steps, failure message or "") in the lattice's order."""
    relaxed, converged, steps, failure = [], [], [], []
    for k, atoms in enumerate(lattice):
        res = relax(strip_vacancies(atoms), calc, settings)
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
    return relaxed, converged, steps, failure


def relax_host_reference(
    atoms: Any, host: HostLattice, calcs: Sequence[Any], settings: RelaxSettings
) -> HostReference:
    """The empty host end member (x = 0, e.g. AB graphite) relaxed with model 0, its cell free
    at least along c (the unstrained reference: ``"c"`` when the orderings relax at fixed cell
    or along c, the whole cell when they relax fully), and its energy per framework formula
    unit of one site with every model (eV per site, graphite: per C6).

    Raises
    ------
    HostStructureError
        Its framework differs from the lithiated host's (:func:`framework_formula_units`).
    RuntimeError
        Its relaxation failed (collapsed, non-finite energy).
    """
    from dataclasses import replace

    source = atoms.info.get("source", "reference.host")
    units = framework_formula_units(atoms, host, f"reference.host ({source})")
    check_species(atoms, calcs[0], f"empty host {source}")
    mode = more_relaxed_mode(settings.relax_cell, "c")
    if mode == "c":
        check_layers_in_xy(atoms, f"empty host {source}")
    res: RelaxResult = relax(atoms, calcs[0], replace(settings, relax_cell=mode))
    if res.failure:
        raise RuntimeError(f"the empty host {source} did not relax: {res.failure}")
    energies = ensemble_energies([res.atoms], calcs)[:, 0]
    symbols = sorted(set(atoms.get_chemical_symbols()))
    n_layers = layer_count(atoms, symbols) if not np.any(np.abs(atoms.cell[:2, 2]) > 1e-6) else 0
    spacing = (
        gallery_spacing_A(atoms, res.atoms, atoms.cell[2, 2] / n_layers) if n_layers else np.nan
    )
    log.info(
        "empty host %s (%s, relax_cell %r): %.4f eV per site formula unit, %.2f Å³ per site, "
        "layer spacing %.3f Å, %d steps%s",
        source,
        res.atoms.get_chemical_formula(),
        mode,
        energies[0] / units,
        res.atoms.get_volume() / units,
        spacing,
        res.steps,
        "" if res.converged else " (not converged)",
    )
    return HostReference(
        atoms=res.atoms,
        source=str(source),
        formula_units=units,
        energy_eV=energies,
        relax_cell=mode,
        converged=res.converged,
        steps=res.steps,
        layer_spacing_A=float(spacing),
    )


def host_and_formation_energies(
    host: HostLattice,
    lattice: Sequence[Any],
    energies: np.ndarray,
    failure: Sequence[str],
    mu_metal: np.ndarray,
    reference: HostReference | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The x = 0 reference energy per site, the formation energies per site and the empty
    lattice cell's energy per site, per model.

    The reference is ``reference`` (the relaxed empty host end member, per framework formula
    unit of one site) when given, else the empty lattice cell (x = 0 in the primitive cell).
    Against a separate host structure the empty lattice cell has formation energy e_lattice −
    e_host per site (graphite: the AA–AB stacking energy per C6), NaN where it failed.

    Raises
    ------
    RuntimeError
        No ``reference`` and the empty lattice cell is missing or did not relax.
    """
    x = np.array([a.info["li_fraction"] for a in lattice])
    n_sites = np.array([a.info["n_sites"] for a in lattice])
    empty = np.flatnonzero((x == 0) & (n_sites == host.n_sites))
    have_empty = bool(len(empty)) and not failure[empty[0]]
    lattice_e = (
        energies[:, empty[0]] / host.n_sites if have_empty else np.full(len(energies), np.nan)
    )
    if reference is not None:
        host_e = reference.energy_eV_per_site
    elif have_empty:
        host_e = lattice_e
    else:
        raise RuntimeError("the empty host (x = 0) did not relax: no reference for f(x)")
    n_li = np.rint(x * n_sites)
    ef = formation_energies(
        energies, n_li[None, :], n_sites[None, :], host_e[:, None], mu_metal[:, None]
    )
    return host_e, ef, lattice_e


def gallery_spacings_A(
    host: HostLattice, lattice: Sequence[Any], relaxed: Sequence[Any]
) -> np.ndarray:
    """Mean spacing of the framework layers (Å, graphite: the gallery height c per gallery) of
    every relaxed ordering; NaN when the host's a and b do not lie in the xy plane."""
    prim = host.primitive
    if np.any(np.abs(prim.cell[:2, 2]) > 1e-6):
        return np.full(len(lattice), np.nan)
    n_layers = layer_count(prim, host.host_symbols)
    d0 = float(prim.cell[2, 2]) / n_layers
    return np.array([gallery_spacing_A(a, r, d0) for a, r in zip(lattice, relaxed, strict=True)])


def compute_staged(
    host: HostLattice,
    stages: Sequence[int],
    calcs: Sequence[Any],
    settings: RelaxSettings,
    host_e: np.ndarray,
    mu_metal: np.ndarray,
) -> StagedPhases:
    """The staged compounds of the (layered) host relaxed with model 0 (``settings``; along c
    at least), evaluated by every model, and their formation energies per site against the same
    x = 0 reference and bcc Li as the orderings."""
    from dataclasses import replace

    from ionscale.reference.structures import staged_structure

    mode = more_relaxed_mode(settings.relax_cell, "c")
    relaxed, converged, failure, n_sites, n_li, spacing = [], [], [], [], [], []
    for n in stages:
        atoms = staged_structure(host.primitive, int(n), host.mobile_species)
        res = relax(atoms, calcs[0], replace(settings, relax_cell=mode))
        relaxed.append(res.atoms)
        converged.append(res.converged)
        failure.append(res.failure)
        n_sites.append(int(n) * host.n_sites)
        n_li.append(host.n_sites)
        spacing.append(float(res.atoms.cell[2, 2]) / int(n))
        log.info(
            "stage %d (%s): E = %.4f eV, %d steps, layer spacing %.3f Å%s",
            n,
            atoms.get_chemical_formula(),
            res.energy_eV,
            res.steps,
            spacing[-1],
            f" FAILED: {res.failure}" if res.failure else "",
        )
    energies = ensemble_energies(relaxed, calcs)
    n_sites_a, n_li_a = np.array(n_sites), np.array(n_li)
    ef = formation_energies(
        energies, n_li_a[None, :], n_sites_a[None, :], host_e[:, None], mu_metal[:, None]
    )
    return StagedPhases(
        stage=np.array(stages, dtype=int),
        li_fraction=n_li_a / n_sites_a,
        n_sites=n_sites_a,
        relaxed=relaxed,
        energy_eV=energies,
        formation_eV_per_site=ef,
        layer_spacing_A=np.array(spacing),
        converged=np.array(converged),
        failure=failure,
    )


def compute_orderings(
    host: HostLattice,
    models: Sequence[str | Path],
    max_supercell_size: int,
    max_structures: int,
    li_metal_lattice_A: float,
    settings: RelaxSettings,
    host_reference: Any | None = None,
    stages: Sequence[int] = (),
    dispersion: Any = None,
) -> Orderings:
    """Enumerate, relax with model 0, evaluate with every model, formation energies against
    ``host_reference`` (the empty host end member, relaxed here: :func:`relax_host_reference`)
    or, when None, the empty lattice cell."""
    if not models:
        raise ValueError("at least one DeePMD model is needed")
    calcs = [dp_calculator(m, dispersion) for m in models]
    check_species(host.primitive, calcs[0], f"host structure {host.source}")
    if settings.relax_cell == "c":
        check_layers_in_xy(host.primitive, f"host structure {host.source}")
    reference = (
        None
        if host_reference is None
        else relax_host_reference(host_reference, host, calcs, settings)
    )
    metal, mu_metal = metal_reference(host, li_metal_lattice_A, calcs, settings)
    lattice = enumerate_orderings(host, max_supercell_size, max_structures)
    log.info(
        "%d orderings in supercells of up to %d primitive cells", len(lattice), max_supercell_size
    )
    relaxed, converged, steps, failure = relax_orderings(lattice, calcs[0], settings)
    energies = ensemble_energies(relaxed, calcs)
    host_e, ef, lattice_e = host_and_formation_energies(
        host, lattice, energies, failure, mu_metal, reference
    )
    failed = [f"{lattice[i].info['ordering_id']}: {f}" for i, f in enumerate(failure) if f]
    if failed:
        warnings.warn(f"{len(failed)} orderings failed and are left out: {failed}", stacklevel=2)
    staged = (
        compute_staged(host, stages, calcs, settings, host_e, mu_metal) if len(stages) else None
    )
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
        gallery_spacing_A=gallery_spacings_A(host, lattice, relaxed),
        empty_lattice_eV_per_site=lattice_e,
        host_reference=reference,
        staged=staged,
    )


def run_orderings(
    cfg: Mapping[str, Any], models: Sequence[str], out: Mapping[str, str], provenance: Provenance
) -> Orderings:
    """Rule thermo_orderings: ``cfg`` holds the ``thermo`` section and the host's reference keys."""
    from ionscale.potential.dispersion import DispersionSettings

    host = host_from_config(cfg["reference"])
    o = cfg["thermo"]["orderings"]
    orderings = compute_orderings(
        host,
        models,
        o["max_supercell_size"],
        o["max_structures"],
        o["li_metal_lattice_A"],
        relax_settings(cfg["thermo"]),
        host_reference_from_config(cfg["reference"]),
        stages=tuple(o.get("stages", ())),
        dispersion=DispersionSettings.from_config(cfg),
    )
    write_orderings(
        orderings, out["h5"], out["lattice"], out["relaxed"], out.get("plot"), provenance, host
    )
    return orderings


# -- cluster expansion --------------------------------------------------------------------------
def add_end_members(
    summary: dict[str, Any], ce: Any, host: HostLattice, structures: Sequence[Any], ef: np.ndarray
) -> None:
    """Add to the fit summary the expansion's end members (x = 0, 1; eV/site), its anchor
    f(1) − f(0), the DP value of f(1) and the fitted data."""
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


def run_cluster_expansion(
    cfg: Mapping[str, Any],
    inputs: Mapping[str, str],
    out: Mapping[str, str],
    provenance: Provenance,
    seed: int,
) -> tuple[Any, dict[str, Any]]:
    """Rule thermo_cluster_expansion."""
    host = host_from_config(cfg["reference"])
    from ionscale.thermo.dft_energies import held_out_mask

    structures, ef = read_orderings_for_fit(inputs["h5"], inputs["lattice"])
    held = held_out_mask(cfg, structures)  # DFT energies: the DFT check's orderings stay out
    if held.any():
        log.info(
            "cluster expansion: %d orderings held out for the DFT check: %s",
            int(held.sum()),
            [s.info["ordering_id"] for s, h in zip(structures, held, strict=True) if h],
        )
        structures = [s for s, h in zip(structures, held, strict=True) if not h]
        ef = ef[~held]
    c = cfg["thermo"]["cluster_expansion"]
    settings = CESettings(
        cutoffs_A=list(c["cutoffs_A"]),
        fit_method=c["fit_method"],
        n_splits=c["n_splits"],
        seed=seed,
    )
    ce, summary = fit_cluster_expansion(host, structures, ef, settings)
    add_end_members(summary, ce, host, structures, ef)
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


# -- DFT spot check -----------------------------------------------------------------------------
def held_out_orderings(
    cfg: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> np.ndarray | None:
    """Which orderings no active-learning round could have trained on (None: all, when the
    loop over orderings is off): the seeded held-out share
    (:func:`ionscale.active.held_out`) and those in cells larger than the loop enumerates
    (ordering ids are icet's enumeration order, size by size, so they agree for the sizes both
    enumerate)."""
    from ionscale.active import OrderingSettings, held_out

    al = cfg.get("active_learning")
    if not al or not al["max_rounds"] or not al["orderings"]["n_frames"]:
        return None
    o = OrderingSettings.from_config(al["orderings"])
    host = host_from_config(cfg["reference"])
    size = np.asarray(arrays["n_sites"]) // host.n_sites
    return np.array(
        [
            s > o.max_supercell_size or held_out(str(i), o.held_out_fraction, int(cfg["seed"]))
            for i, s in zip(arrays["ordering_id"], size, strict=True)
        ]
    )


def run_dft_check(
    cfg: Mapping[str, Any],
    calculator_cfg: Mapping[str, Any],
    inputs: Mapping[str, str],
    out: Mapping[str, str],
    provenance: Provenance,
    workdir: str | Path,
) -> dict[str, Any]:
    """Rule thermo_dft_check: DP vs DFT formation energies (JSON + parity plot), a gate.

    The JSON records the tolerance ``max_mae_eV_per_site``, the ``action`` and the ``verdict``
    (``passed``, ``allowed by config``; :mod:`ionscale.thermo.gates`). A failed check with
    ``thermo.dft_check.action: error`` logs every number and raises
    :class:`~ionscale.thermo.gates.ThermoGateError` without writing the outputs, so the
    handoff, which needs dft_check.json, does not run.
    """
    import ase.io

    from ionscale.thermo.dft import dft_spot_check
    from ionscale.thermo.gates import DFTCheckSettings, enforce, judge_dft_check
    from ionscale.thermo.plots import plot_dft_parity
    from ionscale.thermo.structures import bcc_metal

    settings = DFTCheckSettings.from_config(cfg["thermo"]["dft_check"])
    host = read_host_for_dft_check(inputs["h5"])
    arrays, a_metal = read_orderings_for_dft_check(inputs["h5"])
    relaxed = ase.io.read(inputs["relaxed"], index=":")
    metal = bcc_metal(cfg["reference"]["mobile_species"], a_metal)
    eligible = held_out_orderings(cfg, arrays)
    staged = read_staged(inputs["h5"])
    if staged is not None:
        staged["structures"] = read_staged_structures(inputs["h5"], staged["stage"])
    summary = dft_spot_check(
        relaxed,
        arrays,
        metal,
        calculator_cfg,
        settings.n_structures,
        workdir,
        host=host,
        eligible=eligible,
        staged=staged,
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
    for r in rows:
        log.info(
            "%s (x = %.3f, %d sites): DP %+.4f, DFT %+.4f eV/site, %.4f above the DFT hull",
            f"stage {r['stage']}" if "stage" in r else f"ordering {r['index']}",
            r["li_fraction"],
            r["n_sites"],
            r["dp_formation_energy_eV_per_site"],
            r["dft_formation_energy_eV_per_site"],
            r.get("dft_e_above_hull_eV_per_site", float("nan")),
        )
    verdict = judge_dft_check(
        [r["dp_formation_energy_eV_per_site"] for r in rows],
        [r["dft_formation_energy_eV_per_site"] for r in rows],
        [r["li_fraction"] for r in rows],
        [r["index"] for r in rows],
        summary["n_selected"],
        settings,
    )
    summary.update(
        max_mae_eV_per_site=settings.max_mae_eV_per_site,
        action=settings.action,
        verdict=verdict.verdict,
        problems=verdict.problems,
        worst=verdict.numbers["worst"],
    )
    enforce(verdict, "thermo DFT check", "thermo.dft_check.action: warn")
    write_json(out["json"], summary, provenance)
    plot_dft_parity(
        np.array([r["dp_formation_energy_eV_per_site"] for r in rows]),
        np.array([r["dft_formation_energy_eV_per_site"] for r in rows]),
        np.array([r["li_fraction"] for r in rows]),
        out["plot"],
    )
    return summary
