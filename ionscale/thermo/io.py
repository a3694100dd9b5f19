"""The thermo stage's product contract: what orderings.h5, mc/T{T}K.h5 and free_energy.h5 hold.

Dataset names, units and descriptions of the three HDF5 products live here, with their writers
and readers; the rule drivers (:mod:`~ionscale.thermo.energies`,
:mod:`~ionscale.thermo.free_energy`) and the handoff (:mod:`ionscale.handoff`) read and write
through them.

- ``orderings.h5`` (:func:`write_orderings`): per ordering the Li site fraction, the ensemble's
  energies and formation energies (vs the empty host and bcc Li metal), the energy above the
  hull, volume and gallery spacing, relaxation bookkeeping; ``reference/*`` the references per
  model (``reference/x0_reference``: ``host structure``, the relaxed ``reference.host`` end
  member under ``reference/host/*``, or ``empty lattice cell``); ``hull/*`` the T = 0 hull (the
  host structure its x = 0 vertex) and its voltage steps.
- ``mc/T{T}K.h5`` (:func:`write_mc`, :func:`read_mc`): one Monte Carlo temperature, ⟨x⟩ and μ
  with sampling errors per control value.
- ``free_energy.h5`` (:func:`free_energy_datasets`, :func:`write_free_energy`; layout in the
  docs of :func:`ionscale.thermo.free_energy.run_free_energy`): f, μ, ∂²f/∂x² and the OCV on
  the (n_T, n_x) grid, per temperature the fit, the μ data, the phase analysis and the
  network (:func:`read_network` rebuilds it), plus the hull and references of orderings.h5.

ase, h5py and torch are imported where they are used: the handoff imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.io import Quantity, ResultFileError, atomic_path, read_quantity, write_h5
from ionscale.provenance import Provenance
from ionscale.thermo.analysis import ocv_V
from ionscale.thermo.hull import check_against_metal, hull_with_phases

if TYPE_CHECKING:
    from ionscale.thermo.gates import OCVIdentity
    from ionscale.thermo.hull import Hull
    from ionscale.thermo.montecarlo import MCResult
    from ionscale.thermo.network import IntegrableFreeEnergy
    from ionscale.thermo.results import FreeEnergyResult, Orderings
    from ionscale.thermo.structures import HostLattice


def temperature_label(temperature_K: float) -> str:
    """``T300K``: the label of one temperature in paths and HDF5 groups (integer kelvin)."""
    if abs(temperature_K - round(temperature_K)) > 1e-9:
        raise ValueError(f"temperatures must be whole kelvin, got {temperature_K}")
    return f"T{round(temperature_K)}K"


# -- orderings.h5 -------------------------------------------------------------------------------
def orderings_datasets(
    orderings: Orderings, hull: Hull, unc: np.ndarray | None, host_on_hull: bool = False
) -> dict[str, Quantity]:
    """The datasets of orderings.h5 (``hull``: the model-0 hull of the non-failed orderings,
    the host end member and the staged compounds, :func:`ionscale.thermo.hull.hull_with_phases`;
    ``unc``: the ensemble spread of the formation energies, None for one model)."""
    ok = orderings.ok
    x = orderings.x
    ef = orderings.formation_eV_per_site
    e_above = np.full(len(x), np.nan)
    e_above[ok] = hull.e_above_hull_eV_per_site
    on_hull = np.zeros(len(x), dtype=np.int8)
    on_hull[np.flatnonzero(ok)[hull.vertex_indices]] = 1
    vol = np.array([a.get_volume() for a in orderings.relaxed]) / orderings.n_sites
    segments = hull.two_phase_regions()
    ref = orderings.host_reference
    n_models = len(orderings.host_eV_per_site)
    nan = np.full(n_models, np.nan)
    lattice_e = (
        nan if orderings.empty_lattice_eV_per_site is None else orderings.empty_lattice_eV_per_site
    )
    spacing = (
        np.full(len(x), np.nan)
        if orderings.gallery_spacing_A is None
        else np.asarray(orderings.gallery_spacing_A, dtype=float)
    )
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
            ef[0], "eV/site", f"vs {orderings.x0_reference} and bcc Li metal (model 0)", unc
        ),
        "ensemble_formation_energy_eV_per_site": Quantity(ef, "eV/site", "(n_models, n)"),
        "e_above_hull_eV_per_site": Quantity(e_above, "eV/site", "NaN for failed relaxations"),
        "on_hull": Quantity(on_hull, "1", "1: hull vertex"),
        "volume_A3_per_site": Quantity(vol, "Å³/site", "relaxed volume per sublattice site"),
        "gallery_spacing_A": Quantity(
            spacing, "Å", "relaxed mean spacing of the framework layers (graphite: c per gallery)"
        ),
        "relax_converged": Quantity(orderings.converged.astype(np.int8), "1", "BFGS converged"),
        "relax_steps": Quantity(orderings.steps, "1", "BFGS steps"),
        "failed": Quantity((~ok).astype(np.int8), "1", "1: left out (see attrs failures)"),
        "reference/x0_reference": Quantity(
            np.bytes_(orderings.x0_reference),
            "1",
            "x = 0 of formation energies: host structure (reference/host) or empty lattice cell",
        ),
        "reference/host_energy_eV_per_site": Quantity(
            orderings.host_eV_per_site,
            "eV/site",
            f"x = 0 reference ({orderings.x0_reference}) per site formula unit, per model",
        ),
        "reference/empty_lattice_energy_eV_per_site": Quantity(
            lattice_e, "eV/site", "empty cell of the Li lattice per site, per model (NaN: failed)"
        ),
        "reference/empty_lattice_formation_energy_eV_per_site": Quantity(
            lattice_e - orderings.host_eV_per_site,
            "eV/site",
            "empty lattice cell vs the x = 0 reference, per model (graphite: stacking energy)",
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
    if ref is not None:
        a = ref.atoms
        d.update(
            {
                "reference/host/energy_eV": Quantity(ref.energy_eV, "eV", "cell, per model"),
                "reference/host/energy_eV_per_site": Quantity(
                    ref.energy_eV_per_site, "eV/site", "per framework formula unit of one site"
                ),
                "reference/host/formula_units_per_cell": Quantity(
                    ref.formula_units, "1", "framework formula units of one site in the cell"
                ),
                "reference/host/volume_A3_per_site": Quantity(
                    ref.volume_A3_per_site, "Å³/site", "relaxed, per site formula unit"
                ),
                "reference/host/layer_spacing_A": Quantity(
                    ref.layer_spacing_A, "Å", "relaxed mean spacing of its layers"
                ),
                "reference/host/cell_A": Quantity(np.asarray(a.cell), "Å", "relaxed cell (rows)"),
                "reference/host/positions_A": Quantity(a.positions, "Å", "relaxed positions"),
                "reference/host/atomic_numbers": Quantity(a.numbers, "1", ""),
                "reference/host/relax_converged": Quantity(np.int8(ref.converged), "1", ""),
                "reference/host/relax_steps": Quantity(ref.steps, "1", "BFGS steps"),
                "reference/host/on_hull": Quantity(np.int8(host_on_hull), "1", "1: hull vertex"),
            }
        )
    return d


def staged_datasets(staged: Any, e_above_ok: np.ndarray, on_hull_ok: np.ndarray) -> dict:
    """``staged/*`` of orderings.h5: the staged compounds (line phases) with their energies,
    spacing and place on the hull (``e_above_ok``/``on_hull_ok``: of the non-failed ones)."""
    ok = staged.ok
    e_above = np.full(len(ok), np.nan)
    e_above[ok] = e_above_ok
    on = np.zeros(len(ok), dtype=np.int8)
    on[np.flatnonzero(ok)[np.asarray(on_hull_ok, dtype=bool)]] = 1
    ef = staged.formation_eV_per_site
    unc = ef.std(axis=0, ddof=1) if ef.shape[0] > 1 else None
    return {
        "staged/stage": Quantity(staged.stage, "1", "n: the mobile ions in every n-th gallery"),
        "staged/li_fraction": Quantity(staged.li_fraction, "1", "x = 1/n"),
        "staged/n_sites": Quantity(staged.n_sites, "1", "sublattice sites in the cell"),
        "staged/energy_eV": Quantity(staged.energy_eV, "eV", "(n_models, k) relaxed, per model"),
        "staged/formation_energy_eV_per_site": Quantity(
            ef[0], "eV/site", "vs the x = 0 reference and bcc Li (model 0)", unc
        ),
        "staged/ensemble_formation_energy_eV_per_site": Quantity(ef, "eV/site", "(n_models, k)"),
        "staged/layer_spacing_A": Quantity(
            staged.layer_spacing_A, "Å", "cell height / n: mean of filled and empty galleries"
        ),
        "staged/e_above_hull_eV_per_site": Quantity(e_above, "eV/site", "NaN: failed"),
        "staged/on_hull": Quantity(on, "1", "1: hull vertex"),
        "staged/failed": Quantity((~ok).astype(np.int8), "1", "1: relaxation failed"),
        "staged/cell_A": Quantity(
            np.array([np.asarray(a.cell) for a in staged.relaxed]), "Å", "relaxed cells (k, 3, 3)"
        ),
        **{
            f"staged/structures/stage{n}/{key}": q
            for n, a in zip(staged.stage, staged.relaxed, strict=True)
            for key, q in (
                ("positions_A", Quantity(a.positions, "Å", "relaxed (model 0)")),
                ("atomic_numbers", Quantity(a.numbers, "1", "")),
                ("cell_A", Quantity(np.asarray(a.cell), "Å", "rows")),
            )
        },
    }


def read_staged_structures(h5_path: str | Path, stages: Any = None) -> dict[int, Any]:
    """The relaxed (model 0) staged compounds of orderings.h5 by stage n: ``stages`` (as
    :func:`read_staged` returned them), by default the non-failed ones."""
    from ase import Atoms

    if stages is None:
        d = read_staged(h5_path)
        stages = () if d is None else d["stage"]
    out = {}
    for n in stages:
        g = f"staged/structures/stage{int(n)}"
        out[int(n)] = Atoms(
            numbers=read_quantity(h5_path, f"{g}/atomic_numbers").value,
            positions=read_quantity(h5_path, f"{g}/positions_A").value,
            cell=read_quantity(h5_path, f"{g}/cell_A").value,
            pbc=True,
        )
    return out


def read_staged(h5_path: str | Path) -> dict[str, np.ndarray] | None:
    """The non-failed staged compounds of orderings.h5 (``stage``, ``li_fraction``,
    ``n_sites``, ``formation_energy_eV_per_site`` of model 0, ``on_hull``,
    ``e_above_hull_eV_per_site``), None when it has none."""
    import h5py

    with h5py.File(h5_path, "r") as h5:
        if "staged" not in h5:
            return None
    keys = (
        "stage",
        "li_fraction",
        "n_sites",
        "formation_energy_eV_per_site",
        "on_hull",
        "e_above_hull_eV_per_site",
        "failed",
    )
    d = {k: read_quantity(h5_path, f"staged/{k}").value for k in keys}
    ok = ~d.pop("failed").astype(bool)
    return {k: np.asarray(v)[ok] for k, v in d.items()}


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
    ref = orderings.host_reference
    staged = orderings.staged
    phases = (
        ((), ())
        if staged is None
        else (staged.li_fraction[staged.ok], staged.formation_eV_per_site[0, staged.ok])
    )
    hull, _, host_on_hull, s_above, s_on = hull_with_phases(
        x[ok], ef[0, ok], ref is not None, *phases
    )
    staged_sets = {} if staged is None else staged_datasets(staged, s_above, s_on)
    check_against_metal(hull)
    n_models = ef.shape[0]
    unc = ef.std(axis=0, ddof=1) if n_models > 1 else None
    attrs = {
        "mobile_species": host.mobile_species,
        "host_source": host.source,
        "x0_reference": orderings.x0_reference,
        "x0_reference_source": host.source if ref is None else ref.source,
        "x0_reference_relax_cell": json.dumps(None if ref is None else ref.relax_cell),
        "n_models": n_models,
        "failures_json": json.dumps(
            {
                orderings.lattice[i].info["ordering_id"]: f
                for i, f in enumerate(orderings.failure)
                if f
            }
        ),
    }
    write_h5(
        h5_path,
        {**orderings_datasets(orderings, hull, unc, host_on_hull), **staged_sets},
        provenance,
        attrs=attrs,
    )
    for path, frames in ((lattice_path, orderings.lattice), (relaxed_path, orderings.relaxed)):
        with atomic_path(path) as tmp:
            ase.io.write(tmp, frames, format="extxyz")
    if plot_path is not None:
        from ionscale.thermo.plots import plot_formation_energies

        plot_formation_energies(x[ok], ef[0, ok], None if unc is None else unc[ok], hull, plot_path)


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


#: per-ordering datasets of orderings.h5 the DFT spot check reads
DFT_CHECK_ARRAYS = (
    "li_fraction",
    "n_sites",
    "on_hull",
    "e_above_hull_eV_per_site",
    "failed",
    "formation_energy_eV_per_site",
)


def read_orderings_for_dft_check(h5_path: str | Path) -> tuple[dict[str, np.ndarray], float]:
    """The per-ordering arrays of :data:`DFT_CHECK_ARRAYS` (plus ``ordering_id``, str) and the
    relaxed bcc Li lattice constant (Å) from orderings.h5.

    ``formation_energy_eV_per_site`` comes back as stored: against the x = 0 reference of
    orderings.h5, which the DFT check recomputes itself (the relaxed host structure,
    :func:`read_host_for_dft_check`, or the empty lattice cell in files without one).
    """
    import h5py

    arrays = {k: read_quantity(h5_path, k).value for k in DFT_CHECK_ARRAYS}
    with h5py.File(h5_path, "r") as h5:
        if "ordering_id" in h5:
            arrays["ordering_id"] = np.array([v.decode() for v in h5["ordering_id"][()]])
    a_metal = float(read_quantity(h5_path, "reference/li_metal_lattice_constant_A").value)
    return arrays, a_metal


def read_host_for_dft_check(h5_path: str | Path) -> tuple[Any, float] | None:
    """The relaxed host structure that is x = 0 of orderings.h5 (model 0's geometry) and its
    framework formula units of one site per cell; None when x = 0 is the empty lattice cell
    (or the file predates the host reference)."""
    import h5py
    from ase import Atoms

    with h5py.File(h5_path, "r") as h5:
        ref = h5["reference/x0_reference"][()] if "reference/x0_reference" in h5 else b""
        if (ref.decode() if isinstance(ref, bytes) else str(ref)) != "host structure":
            return None
        g = h5["reference/host"]
        atoms = Atoms(
            numbers=g["atomic_numbers"][()],
            positions=g["positions_A"][()],
            cell=g["cell_A"][()],
            pbc=True,
        )
        units = float(np.atleast_1d(g["formula_units_per_cell"][()])[0])
    return atoms, units


# -- mc/T{T}K.h5 --------------------------------------------------------------------------------
#: datasets of mc/T{T}K.h5 read back as they are (besides ``li_fraction`` and
#: ``chemical_potential_eV``, which carry uncertainties)
MC_EXTRA_DATASETS = (
    "control",
    "correlation_length_sweeps",
    "converged_autocorrelation",
    "acceptance_ratio",
    "energy_eV_per_site",
)


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

    from ionscale.thermo.montecarlo import MCResult

    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"Monte Carlo result {path} does not exist")
    li = read_quantity(path, "li_fraction")
    mu = read_quantity(path, "chemical_potential_eV")
    with h5py.File(path, "r") as h5:
        a = dict(h5.attrs)
        extra = {k: h5[k][()] for k in MC_EXTRA_DATASETS}
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


# -- free_energy.h5 -----------------------------------------------------------------------------
#: the grid and the (n_T, n_x) tables of free_energy.h5 the continuum needs → units
FREE_ENERGY_TABLES: dict[str, str] = {
    "x": "1",
    "temperature_K": "K",
    "free_energy_eV_per_site": "eV/site",
    "chemical_potential_eV": "eV",
    "d2f_dx2_eV_per_site": "eV/site",
}
#: groups of free_energy.h5 that describe how f(x, T) was learned: per-temperature fit errors,
#: phase analysis, network weights, the T = 0 hull and references, the Monte Carlo μ data
#: (``orderings/`` holds the orderings' own energies, copied for the plots)
FREE_ENERGY_GROUPS = ("fit", "analysis", "network", "hull", "reference", "data")
#: datasets of orderings.h5 copied into free_energy.h5 (a name without a group goes under
#: ``orderings/``)
ORDERINGS_COPIED = (
    "hull/li_fraction",
    "hull/formation_energy_eV_per_site",
    "hull/voltage_V",
    "hull/segment_x_lo",
    "hull/segment_x_hi",
    "reference/li_metal_energy_eV_per_atom",
    "reference/host_energy_eV_per_site",
    "li_fraction",
    "formation_energy_eV_per_site",
)
#: datasets of orderings.h5 copied when present (files from before the host reference lack them)
ORDERINGS_COPIED_IF_PRESENT = (
    "reference/x0_reference",
    "reference/empty_lattice_formation_energy_eV_per_site",
    "gallery_spacing_A",
    "volume_A3_per_site",
)


def orderings_for_free_energy(orderings_h5: str | Path) -> dict[str, Quantity]:
    """The datasets of :data:`ORDERINGS_COPIED` (and of :data:`ORDERINGS_COPIED_IF_PRESENT`
    that the file has), named as free_energy.h5 holds them."""
    import h5py

    with h5py.File(orderings_h5, "r") as h5:
        present = [n for n in ORDERINGS_COPIED_IF_PRESENT if n in h5]
    extra = {}
    for name in (*ORDERINGS_COPIED, *present):
        q = read_quantity(orderings_h5, name)
        target = name if "/" in name else f"orderings/{name}"
        extra[target] = Quantity(q.value, q.units, q.description, q.uncertainty)
    return extra


def free_energy_datasets(res: FreeEnergyResult) -> dict[str, Quantity]:
    """The datasets of free_energy.h5 (layout in the docs of
    :func:`ionscale.thermo.free_energy.run_free_energy`)."""
    units = FREE_ENERGY_TABLES
    d: dict[str, Quantity] = {
        "x": Quantity(res.x, units["x"], "Li site fraction grid"),
        "temperature_K": Quantity(res.temperature_K, units["temperature_K"]),
        "free_energy_eV_per_site": Quantity(
            res.f, units["free_energy_eV_per_site"], "f(x,T) vs empty host and bcc Li", res.f_unc
        ),
        "chemical_potential_eV": Quantity(
            res.mu, units["chemical_potential_eV"], "μ = ∂f/∂x vs Li metal", res.mu_unc
        ),
        "d2f_dx2_eV_per_site": Quantity(
            res.d2f, units["d2f_dx2_eV_per_site"], "∂²f/∂x²", res.d2f_unc
        ),
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
        "fit/f_end_eV_per_site": Quantity(res.f_end_eV, "eV/site", "anchor f(1) − f(0)"),
        "fit/lattice_f0_eV_per_site": Quantity(
            np.nan if res.f_lattice_at_0_eV is None else res.f_lattice_at_0_eV,
            "eV/site",
            "lattice phase's f(0) vs the host phase (NaN: x = 0 is the empty lattice cell)",
        ),
    }
    for k, (t, fit, sp, tp) in enumerate(
        zip(res.temperature_K, res.fits, res.spinodal, res.two_phase, strict=True)
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
        hc = res.host[k] if res.host else None
        d[f"analysis/{g}/host_coexistence_x"] = Quantity(
            np.nan if hc is None else hc.x_tangent,
            "1",
            "lattice phase's x coexisting with the host phase at x = 0 (NaN: none)",
        )
        d[f"analysis/{g}/host_coexistence_voltage_V"] = Quantity(
            np.nan if hc is None else -hc.mu_eV, "V", "OCV plateau of host + lattice phase"
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


def ocv_identity_datasets(identity: OCVIdentity) -> dict[str, Quantity]:
    """The runtime check ∫₀¹ OCV dx = −[ΔE_f(1) − ΔE_f(0)]/e of free_energy.h5 (under
    ``fit/ocv_identity/``; :func:`ionscale.thermo.gates.ocv_identity`)."""
    g = "fit/ocv_identity"
    e0, e1 = identity.end_formation_eV_per_site
    return {
        f"{g}/integral_V": Quantity(
            identity.integral_V, "V", "∫₀¹ OCV dx per temperature, tails included"
        ),
        f"{g}/tails_V": Quantity(
            identity.tails_V, "V", "part of the integral from x < x_min and x > x_max (closed form)"
        ),
        f"{g}/expected_V": Quantity(
            identity.expected_V, "V", "−[ΔE_f(1) − ΔE_f(0)]/e of the hull's end members"
        ),
        f"{g}/end_formation_energy_eV_per_site": Quantity(
            np.array([e0, e1]), "eV/site", "ΔE_f of the hull vertices at x = 0 and x = 1"
        ),
        f"{g}/difference_V": Quantity(identity.difference_V, "V", "integral − expected"),
        f"{g}/tolerance_V": Quantity(identity.tolerance_V, "V", "thermo.ocv_identity.tolerance_V"),
        f"{g}/verdict": Quantity(
            np.bytes_(identity.verdict.verdict),
            "1",
            "passed, or allowed by config (thermo.ocv_identity.action: warn)",
        ),
    }


def write_free_energy(
    res: FreeEnergyResult,
    path: str | Path,
    provenance: Provenance,
    extra: Mapping[str, Quantity] | None = None,
) -> None:
    """free_energy.h5 (layout: :func:`ionscale.thermo.free_energy.run_free_energy`)."""
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

    from ionscale.thermo.network import IntegrableFreeEnergy

    g = temperature_label(temperature_K)
    with h5py.File(path, "r") as h5:
        for prefix in ("network", "thermo/network"):
            if f"{prefix}/{g}" in h5:
                grp = h5[f"{prefix}/{g}"]
                config = json.loads(grp["config_json"][()])
                arrays = {k: grp["weights"][k][()] for k in grp["weights"]}
                return IntegrableFreeEnergy.from_arrays(config, arrays)
    raise ResultFileError(f"{path}: no network for {g}")


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
