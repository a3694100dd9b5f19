"""Orderings labelled by DFT directly: the cluster expansion fitted to DFT formation energies.

With ``thermo.energies.source: dft`` the thermo stage's T = 0 energies do not come from the
potential: every enumerated ordering (cells of up to ``thermo.orderings.max_supercell_size``
sites), the empty host end member (AB graphite), bcc Li and the staged compounds are computed
with the reference stage's DFT calculator (``reference.calculator``: the functional, cutoff,
k-point density and dispersion of the training data). The cluster expansion is fitted to these
DFT formation energies, less ``thermo.dft_check.n_structures`` orderings held out (spread over
x, seeded), and the DFT check is the expansion's prediction error on those held-out orderings: the
quantity the Monte Carlo and the free energy use, tested on structures it never saw.

**Relaxation: the stacking axis, by energy.** Each structure's cell is scaled along c (the z
components of its cell vectors, fractional coordinates kept; the bcc metal isotropically) to
the minimum of its DFT energy (:func:`relax_scale`: a bracketing parabola search, 3 to
``max_evaluations`` single points). In-plane lattice and positions stay as built: Li on the ring
centres of the eclipsed (AA) layers, as in LiC6. Why energies and not BFGS on DFT forces and
stress:

- the minimum of E(c) at a fixed plane-wave cutoff is what the Pulay-corrected stress measures
  (:mod:`ionscale.reference.pulay`) without needing the correction;
- each DFT step of a BFGS cell relaxation restarts the SCF anyway (GPAW rebuilds its basis when
  the cell changes), and position moves that break the cell's symmetry stop GPAW
  (``SymmetryBrokenError``), so a uniform scaling is both cheaper and robust;
- the error of one spacing for all galleries of a cell is small: galleries whose Li content
  differs want spacings 3.55-3.71 Å; at C33 ≈ 36 GPa a ±2 % misfit costs ≈ 1 meV per C6.
  The residual forces of the unrelaxed positions are recorded per structure (``fmax_eV_A``).

Written here rather than with an ASE optimiser: ASE has no energy-only line search over a cell
parameter, and scipy's bounded scalar minimisers spend 8-12 evaluations where a parabola through
a bracket needs 4-5 (each is a DFT single point of a minute or more).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.settings import default, from_section

log = logging.getLogger("ionscale.thermo.stage")

#: thermo.energies.source values
SOURCES = ("potential", "dft")


@dataclass(frozen=True)
class DFTEnergySettings:
    """The ``thermo.energies`` config section.

    Parameters
    ----------
    source:
        ``potential``: DP model 0 relaxes and the ensemble evaluates every ordering (the
        cluster expansion fits DP energies; the DFT check recomputes a few). ``dft``: the
        reference stage's calculator relaxes (along c) and labels every ordering, the host, bcc
        Li and the staged compounds; the expansion fits DFT energies.
    n_jobs:
        DFT jobs the structures are split into (``dft`` only; they run in parallel).
    scale_step:
        First bracket half-width of the c-axis scale search (fraction of c).
    scale_tolerance:
        The search stops when the parabola's vertex lies within this of an evaluated scale.
    max_evaluations:
        DFT single points per structure at most; a search that did not bracket its minimum
        by then keeps its lowest point and is flagged unconverged.
    calculator:
        ``reference.calculator`` keys replaced for these structures (e.g. ``cutoff_eV``).
    """

    source: str = default("thermo.energies.source")
    n_jobs: int = default("thermo.energies.n_jobs")
    scale_step: float = default("thermo.energies.scale_step")
    scale_tolerance: float = default("thermo.energies.scale_tolerance")
    max_evaluations: int = default("thermo.energies.max_evaluations")
    calculator: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"thermo.energies.source: one of {SOURCES}, got {self.source!r}")
        if not 0 < self.scale_tolerance < self.scale_step < 0.2:
            raise ValueError(
                "thermo.energies: need 0 < scale_tolerance < scale_step < 0.2, got "
                f"{self.scale_tolerance}, {self.scale_step}"
            )
        if self.max_evaluations < 4:
            raise ValueError(
                f"thermo.energies.max_evaluations: at least 4, got {self.max_evaluations}"
            )

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> DFTEnergySettings:
        return from_section(cls, section, "thermo.energies", error=ValueError)


# -- the c-axis search --------------------------------------------------------------------------
@dataclass
class ScaleSearch:
    """The result of :func:`relax_scale`: the best scale, its energy and every evaluation."""

    scale: float
    energy_eV: float
    converged: bool
    scales: list[float] = field(default_factory=list)
    energies_eV: list[float] = field(default_factory=list)

    @property
    def n_evaluations(self) -> int:
        return len(self.scales)


def parabola_vertex(s: Sequence[float], e: Sequence[float]) -> tuple[float, float]:
    """(vertex, curvature) of the parabola through three points (curvature ≤ 0: no minimum)."""
    a, b, _ = np.polyfit(np.asarray(s, dtype=float), np.asarray(e, dtype=float), 2)
    if a <= 0:
        return float("nan"), float(a)
    return float(-b / (2 * a)), float(a)


def relax_scale(
    energy: Callable[[float], float],
    s0: float,
    step: float,
    tolerance: float,
    max_evaluations: int,
) -> ScaleSearch:
    """Minimise ``energy(s)`` over the scale s by bracketing and parabolic steps.

    Starts from s0 − step, s0, s0 + step; while the lowest point is at an end of the evaluated
    set it steps outward (doubling the step); once bracketed it evaluates the vertex of the
    parabola through the lowest point and its two neighbours, until the vertex lies within
    ``tolerance`` of an evaluated point or ``max_evaluations`` are spent. Converged: the
    minimum is bracketed by neighbours within ``step`` of the lowest point (a wider bracket is
    narrowed first: its parabola misplaces the minimum of an anharmonic curve) and the vertex
    is within ``tolerance`` of an evaluated point. The lowest evaluated
    point is returned (never an extrapolated energy).
    """
    evals: dict[float, float] = {}

    def at(s: float) -> float:
        s = round(float(s), 6)
        if s not in evals:
            evals[s] = float(energy(s))
        return evals[s]

    for s in (s0 - step, s0, s0 + step):
        at(s)
    converged = False
    outward = step
    while len(evals) < max_evaluations:
        ss = sorted(evals)
        ee = [evals[s] for s in ss]
        i = int(np.argmin(ee))
        if i == 0 or i == len(ss) - 1:  # not bracketed: step outward
            outward *= 2
            at(ss[i] - outward if i == 0 else ss[i] + outward)
            continue
        vertex, _ = parabola_vertex(ss[i - 1 : i + 2], ee[i - 1 : i + 2])
        if not np.isfinite(vertex):
            break
        vertex = float(np.clip(vertex, ss[i - 1], ss[i + 1]))
        left, right = ss[i] - ss[i - 1], ss[i + 1] - ss[i]
        if min(abs(vertex - s) for s in ss) > tolerance:
            at(vertex)
        elif max(left, right) <= step + 1e-9:  # a local parabola: its vertex is the minimum
            converged = True
            break
        else:  # a wide bracket's parabola misjudges an anharmonic curve: narrow it first
            at(ss[i] + (step / 2 if right > left else -step / 2))
    ss = sorted(evals)
    best = min(ss, key=lambda s: evals[s])
    return ScaleSearch(best, evals[best], converged, ss, [evals[s] for s in ss])


def scaled(atoms: Atoms, s: float, mode: str) -> Atoms:
    """A copy with the cell scaled by s along z (``"c"``: the z components of every cell
    vector, so layers in the xy plane move apart) or isotropically (``"volume"``), fractional
    coordinates kept."""
    out = atoms.copy()
    cell = np.array(atoms.cell, dtype=float)
    if mode == "c":
        cell[:, 2] *= s
    elif mode == "volume":
        cell *= s
    else:
        raise ValueError(f"scale mode is 'c' or 'volume', got {mode!r}")
    out.set_cell(cell, scale_atoms=True)
    return out


# -- what DFT computes --------------------------------------------------------------------------
@dataclass
class DFTItem:
    """One structure to relax along c and label: ``key`` names it in the batch files."""

    key: str
    kind: str  # "ordering", "host", "metal", "staged"
    atoms: Atoms
    mode: str  # "c" or "volume"
    s0: float  # starting scale


#: starting c scale of an ordering at x: the empty AA cell's DFT minimum is ≈ 0.95 of LiC6's c
EMPTY_LATTICE_SCALE = 0.95


def dft_items(cfg: Mapping[str, Any]) -> list[DFTItem]:
    """Every structure ``thermo.energies.source: dft`` computes, in a fixed order: the
    enumerated orderings (vacancies removed), the empty host end member, bcc Li and the staged
    compounds. ``cfg`` holds the ``reference`` and ``thermo`` sections."""
    from ionscale.reference.structures import staged_structure
    from ionscale.thermo.settings import host_from_config, host_reference_from_config
    from ionscale.thermo.structures import bcc_metal, enumerate_orderings, strip_vacancies

    host = host_from_config(cfg["reference"])
    o = cfg["thermo"]["orderings"]
    items = []
    for a in enumerate_orderings(host, o["max_supercell_size"], o["max_structures"]):
        x = float(a.info["li_fraction"])
        atoms = strip_vacancies(a)
        s0 = 1.0 - (1.0 - EMPTY_LATTICE_SCALE) * (1.0 - x)
        items.append(DFTItem(a.info["ordering_id"], "ordering", atoms, "c", s0))
    ref = host_reference_from_config(cfg["reference"])
    if ref is not None:
        items.append(DFTItem("host", "host", ref, "c", 1.0))
    items.append(
        DFTItem(
            "metal", "metal", bcc_metal(host.mobile_species, o["li_metal_lattice_A"]), "volume", 1.0
        )
    )
    for n in o.get("stages", ()):
        atoms = staged_structure(host.primitive, int(n), host.mobile_species)
        items.append(DFTItem(f"stage{int(n)}", "staged", atoms, "c", 1.0))
    return items


def batch_of(items: Sequence[DFTItem], n_jobs: int, batch: int) -> list[DFTItem]:
    """The items of job ``batch`` of ``n_jobs``: largest cells dealt out first, round robin, so
    the jobs take about equal time."""
    if not 0 <= batch < n_jobs:
        raise ValueError(f"batch {batch} outside 0..{n_jobs - 1}")
    order = sorted(range(len(items)), key=lambda i: (-len(items[i].atoms), i))
    return [items[i] for k, i in enumerate(order) if k % n_jobs == batch]


def label_item(
    item: DFTItem,
    calculator_cfg: Mapping[str, Any],
    settings: DFTEnergySettings,
    workdir: str | Path,
    txt: Any = None,
) -> Atoms:
    """Relax one structure along c by its DFT energy; the structure at its best scale with the
    free energy (SinglePointCalculator) and the search in ``info``. A DFT failure is recorded in
    ``info["failure"]`` (the unscaled structure, no energy), never raised."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from ionscale.reference.calculators import (
        CalculatorSettings,
        build_calculator,
        classify_failure,
        force_consistent_energy,
    )

    settings_dft = CalculatorSettings.from_config(calculator_cfg)
    start = scaled(item.atoms, item.s0, item.mode)
    # one calculator per structure: its k-point grid is fixed by the starting cell, so the
    # energies along the search differ only by the geometry
    calc = build_calculator(settings_dft, start, Path(workdir) / item.key, txt)

    def energy(s: float) -> float:
        a = scaled(item.atoms, s, item.mode)
        a.calc = calc
        e = force_consistent_energy(calc, a)
        log.info("  %s scale %.4f: %.5f eV", item.key, s, e)
        return e

    info = {"key": item.key, "kind": item.kind, "scale_mode": item.mode}
    try:
        search = relax_scale(
            energy, item.s0, settings.scale_step, settings.scale_tolerance, settings.max_evaluations
        )
        best = scaled(item.atoms, search.scale, item.mode)
        best.calc = calc
        forces = best.get_forces()
        energy_eV = force_consistent_energy(calc, best)
    except Exception as exc:  # a failed frame is recorded, the batch goes on
        out = item.atoms.copy()
        failure = f"{classify_failure(exc)}: {type(exc).__name__}: {exc}"
        # extxyz mangles an empty string value: "failed" says whether "failure" is there
        out.info = {**info, "failed": True, "failure": failure}
        log.warning("%s: DFT failed: %s", item.key, failure)
        return out
    out = best.copy()
    out.calc = SinglePointCalculator(out, energy=energy_eV, free_energy=energy_eV, forces=forces)
    out.info = {
        **info,
        "failed": False,
        "scale": search.scale,
        "converged": search.converged,
        "n_evaluations": search.n_evaluations,
        "scan_scales": json.dumps(search.scales),
        "scan_energies_eV": json.dumps(search.energies_eV),
        "fmax_eV_A": float(np.max(np.linalg.norm(forces, axis=1))),
    }
    log.info(
        "%s (%s, %d atoms): %s scale %.4f, E = %.5f eV, %d DFT points%s, residual "
        "max force %.3f eV/Å",
        item.key,
        out.get_chemical_formula(),
        len(out),
        item.mode,
        search.scale,
        energy_eV,
        search.n_evaluations,
        "" if search.converged else " (NOT converged)",
        out.info["fmax_eV_A"],
    )
    return out


def thermo_calculator_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``reference.calculator`` with the keys of ``thermo.energies.calculator`` replaced (e.g. a
    higher cutoff: formation energies per site need tighter settings than forces); an unknown
    key is a ValueError naming it."""
    base = dict(cfg["reference"]["calculator"])
    over = dict(cfg["thermo"]["energies"].get("calculator") or {})
    unknown = sorted(set(over) - set(base))
    if unknown:
        raise ValueError(
            f"thermo.energies.calculator: {unknown} are not reference.calculator keys "
            f"({sorted(base)})"
        )
    return {**base, **over}


def run_dft_batch(
    cfg: Mapping[str, Any], batch: int, out: str | Path, workdir: str | Path, txt: Any = None
) -> list[Atoms]:
    """Rule thermo_dft_orderings: job ``batch`` of ``thermo.energies.n_jobs`` → an extxyz of
    its structures, relaxed along c and labelled (failures recorded in ``info``)."""
    import ase.io

    from ionscale.io import atomic_path
    from ionscale.reference.calculators import CalculatorSettings, validate_calculator_settings

    settings = DFTEnergySettings.from_config(cfg["thermo"]["energies"])
    items = batch_of(dft_items(cfg), settings.n_jobs, batch)
    calculator = thermo_calculator_config(cfg)
    if items:
        validate_calculator_settings(CalculatorSettings.from_config(calculator), items[0].atoms)
    log.info(
        "DFT batch %d/%d (cutoff %g eV): %s",
        batch,
        settings.n_jobs,
        calculator["cutoff_eV"],
        [i.key for i in items],
    )
    frames = [label_item(i, calculator, settings, workdir, txt) for i in items]
    with atomic_path(out) as tmp:
        ase.io.write(tmp, frames, format="extxyz")
    return frames


# -- the orderings from the DFT batches ---------------------------------------------------------
def read_batches(paths: Sequence[str | Path]) -> dict[str, Atoms]:
    """key → labelled structure from the batch files (ValueError on a key seen twice)."""
    import ase.io

    frames: dict[str, Atoms] = {}
    for p in paths:
        for a in ase.io.read(p, index=":"):
            key = str(a.info["key"])
            if key in frames:
                raise ValueError(f"{p}: structure {key} is in two DFT batches")
            frames[key] = a
    return frames


def failure_of(frame: Atoms) -> str:
    """Why DFT failed on a labelled structure ("" when it did not)."""
    return str(frame.info.get("failure", "failed")) if frame.info.get("failed") else ""


def _energy(frame: Atoms | None) -> float:
    if frame is None or failure_of(frame):
        return float("nan")
    return float(frame.get_potential_energy())


def orderings_from_dft(cfg: Mapping[str, Any], frames: Mapping[str, Atoms]) -> Any:
    """The :class:`~ionscale.thermo.results.Orderings` of the DFT batches (one "model": DFT),
    formation energies against the empty host end member (or the empty lattice cell) and bcc Li.

    Raises
    ------
    RuntimeError
        A structure is missing from the batches, or a reference (host, metal) failed.
    """
    from ionscale.thermo.energies import gallery_spacings_A, host_and_formation_energies
    from ionscale.thermo.hull import formation_energies
    from ionscale.thermo.results import HostReference, Orderings, StagedPhases
    from ionscale.thermo.settings import host_from_config, host_reference_from_config
    from ionscale.thermo.structures import (
        enumerate_orderings,
        framework_formula_units,
        gallery_spacing_A,
        layer_count,
    )

    items = dft_items(cfg)
    missing = [i.key for i in items if i.key not in frames]
    if missing:
        raise RuntimeError(f"DFT batches lack {missing}: rerun rule thermo_dft_orderings")
    host = host_from_config(cfg["reference"])
    o = cfg["thermo"]["orderings"]
    lattice = enumerate_orderings(host, o["max_supercell_size"], o["max_structures"])
    relaxed = [frames[a.info["ordering_id"]] for a in lattice]
    failure = [failure_of(f) for f in relaxed]
    energies = np.array([[_energy(f) for f in relaxed]])
    metal = frames["metal"]
    if failure_of(metal):
        raise RuntimeError(f"bcc Li reference failed in DFT: {failure_of(metal)}")
    mu_metal = np.array([_energy(metal) / len(metal)])
    reference = None
    ref_atoms = host_reference_from_config(cfg["reference"])
    if ref_atoms is not None:
        h = frames["host"]
        if failure_of(h):
            raise RuntimeError(f"the empty host reference failed in DFT: {failure_of(h)}")
        units = framework_formula_units(ref_atoms, host, "reference.host")
        n_layers = layer_count(ref_atoms, host.host_symbols)
        spacing = gallery_spacing_A(ref_atoms, h, ref_atoms.cell[2, 2] / n_layers)
        reference = HostReference(
            atoms=h,
            source=str(ref_atoms.info.get("source", "reference.host")),
            formula_units=units,
            energy_eV=np.array([_energy(h)]),
            relax_cell="c",
            converged=bool(h.info.get("converged", False)),
            steps=int(h.info.get("n_evaluations", 0)),
            layer_spacing_A=float(spacing),
        )
    host_e, ef, lattice_e = host_and_formation_energies(
        host, lattice, energies, failure, mu_metal, reference
    )
    staged = None
    stages = [int(n) for n in o.get("stages", ())]
    if stages:
        st = [frames[f"stage{n}"] for n in stages]
        n_sites = np.array([n * host.n_sites for n in stages])
        n_li = np.full(len(stages), host.n_sites)
        e_st = np.array([[_energy(f) for f in st]])
        staged = StagedPhases(
            stage=np.array(stages, dtype=int),
            li_fraction=n_li / n_sites,
            n_sites=n_sites,
            relaxed=st,
            energy_eV=e_st,
            formation_eV_per_site=formation_energies(
                e_st, n_li[None, :], n_sites[None, :], host_e[:, None], mu_metal[:, None]
            ),
            layer_spacing_A=np.array([f.cell[2, 2] / n for f, n in zip(st, stages, strict=True)]),
            converged=np.array([bool(f.info.get("converged", False)) for f in st]),
            failure=[failure_of(f) for f in st],
        )
    return Orderings(
        lattice=lattice,
        relaxed=relaxed,
        energy_eV=energies,
        formation_eV_per_site=ef,
        host_eV_per_site=host_e,
        li_metal_eV_per_atom=mu_metal,
        li_metal_lattice_A=float(metal.cell.lengths()[0]),
        converged=np.array([bool(f.info.get("converged", False)) for f in relaxed]),
        steps=np.array([int(f.info.get("n_evaluations", 0)) for f in relaxed]),
        failure=failure,
        gallery_spacing_A=gallery_spacings_A(host, lattice, relaxed),
        empty_lattice_eV_per_site=lattice_e,
        host_reference=reference,
        staged=staged,
    )


def run_orderings_from_dft(
    cfg: Mapping[str, Any], batches: Sequence[str], out: Mapping[str, str], provenance: Any
) -> Any:
    """Rule thermo_orderings with ``thermo.energies.source: dft``: the DFT batches →
    orderings.h5 (+ extxyz, plot) in the layout the potential's orderings have."""
    from ionscale.thermo.io import write_orderings
    from ionscale.thermo.settings import host_from_config

    orderings = orderings_from_dft(cfg, read_batches(batches))
    write_orderings(
        orderings,
        out["h5"],
        out["lattice"],
        out["relaxed"],
        out.get("plot"),
        provenance,
        host_from_config(cfg["reference"]),
    )
    return orderings


# -- held-out orderings and the check of the expansion ------------------------------------------
def held_out_for_check(
    ordering_id: Sequence[str], li_fraction: np.ndarray, failed: np.ndarray, n: int, seed: int
) -> np.ndarray:
    """Boolean mask of the ``n`` orderings the cluster expansion never sees: interior (0 < x <
    1), not failed, one drawn (seeded) from each of ``n`` groups of equal count in x, so they
    span the composition range. Fewer than ``n + 2`` interior orderings: ValueError (the fit
    would be left with too little)."""
    x = np.asarray(li_fraction, dtype=float)
    interior = np.flatnonzero((x > 0) & (x < 1) & ~np.asarray(failed, dtype=bool))
    mask = np.zeros(len(x), dtype=bool)
    if n == 0:
        return mask
    if len(interior) < n + 2:
        raise ValueError(
            f"thermo.dft_check.n_structures = {n} held-out orderings need at least {n + 2} "
            f"interior orderings, there are {len(interior)}: raise "
            "thermo.orderings.max_supercell_size"
        )
    order = interior[np.lexsort((np.asarray(ordering_id)[interior], x[interior]))]
    rng = np.random.default_rng(seed)
    for group in np.array_split(order, n):
        mask[rng.choice(group)] = True
    return mask


def held_out_mask(cfg: Mapping[str, Any], structures: Sequence[Atoms]) -> np.ndarray:
    """The held-out orderings among ``structures`` (non-failed lattice decorations, as
    :func:`~ionscale.thermo.io.read_orderings_for_fit` returns them) for
    ``thermo.energies.source: dft``; all False for the potential."""
    if cfg["thermo"]["energies"]["source"] != "dft":
        return np.zeros(len(structures), dtype=bool)
    return held_out_for_check(
        [str(s.info["ordering_id"]) for s in structures],
        np.array([float(s.info["li_fraction"]) for s in structures]),
        np.zeros(len(structures), dtype=bool),
        int(cfg["thermo"]["dft_check"]["n_structures"]),
        int(cfg["seed"]),
    )


def run_ce_check(
    cfg: Mapping[str, Any],
    inputs: Mapping[str, str],
    out: Mapping[str, str],
    provenance: Any,
) -> dict[str, Any]:
    """Rule thermo_dft_check with ``thermo.energies.source: dft``: the cluster expansion
    (fitted without the held-out orderings) against their DFT formation energies, a gate
    (:func:`~ionscale.thermo.gates.judge_dft_check` with ``model="CE"``); the summary also
    records the DFT hull, the staged compounds' distance to it and the empty lattice cell's
    stacking energy. A failed check with ``action: error`` raises
    :class:`~ionscale.thermo.gates.ThermoGateError` without writing the outputs."""
    from icet import ClusterExpansion

    from ionscale.io import read_quantity, write_json
    from ionscale.thermo.gates import DFTCheckSettings, enforce, judge_dft_check
    from ionscale.thermo.io import read_orderings_for_fit, read_staged
    from ionscale.thermo.plots import plot_dft_parity
    from ionscale.thermo.settings import host_from_config

    host = host_from_config(cfg["reference"])
    settings = DFTCheckSettings.from_config(cfg["thermo"]["dft_check"])
    structures, ef = read_orderings_for_fit(inputs["h5"], inputs["lattice"])
    failed = read_quantity(inputs["h5"], "failed").value.astype(bool)
    index = np.flatnonzero(~failed)
    held = held_out_mask(cfg, structures)
    ce = ClusterExpansion.read(inputs["ce"])

    def per_site(s: Atoms) -> float:
        return float(ce.predict(s) * len(s) / host.n_sites_in(s))

    rows = []
    for k in np.flatnonzero(held):
        s = structures[k]
        pred = per_site(s)
        rows.append(
            {
                "index": int(index[k]),
                "ordering_id": str(s.info["ordering_id"]),
                "li_fraction": float(s.info["li_fraction"]),
                "n_sites": host.n_sites_in(s),
                "dft_formation_energy_eV_per_site": float(ef[k]),
                "ce_formation_energy_eV_per_site": pred,
                "error_eV_per_site": pred - float(ef[k]),
            }
        )
    err = np.array([r["error_eV_per_site"] for r in rows])
    x = read_quantity(inputs["h5"], "li_fraction").value
    e_all = read_quantity(inputs["h5"], "formation_energy_eV_per_site").value
    on_hull = read_quantity(inputs["h5"], "on_hull").value.astype(bool)
    summary: dict[str, Any] = {
        "method": (
            "cluster expansion fitted to DFT formation energies (thermo.energies.source: dft) "
            "vs DFT on orderings held out of the fit"
        ),
        "n_selected": int(settings.n_structures),
        "structures": rows,
        "mae_eV_per_site": float(np.mean(np.abs(err))) if len(err) else None,
        "rmse_eV_per_site": float(np.sqrt(np.mean(err**2))) if len(err) else None,
        "max_abs_error_eV_per_site": float(np.max(np.abs(err))) if len(err) else None,
        "dft_hull": {
            "li_fraction": [float(v) for v in x[on_hull & ~failed]],
            "formation_energy_eV_per_site": [float(v) for v in e_all[on_hull & ~failed]],
        },
        "dft_formation_energy_x1_eV_per_site": float(e_all[np.flatnonzero((x == 1) & ~failed)[0]])
        if np.any((x == 1) & ~failed)
        else None,
    }
    empty = np.flatnonzero((x == 0) & ~failed)
    if len(empty):
        summary["dft_empty_lattice_eV_per_site"] = float(e_all[empty[0]])
    staged = read_staged(inputs["h5"])
    if staged is not None:
        summary["staged"] = [
            {
                "stage": int(n),
                "li_fraction": float(staged["li_fraction"][k]),
                "dft_formation_energy_eV_per_site": float(
                    np.atleast_1d(staged["formation_energy_eV_per_site"])[k]
                ),
                "dft_e_above_hull_eV_per_site": float(staged["e_above_hull_eV_per_site"][k]),
            }
            for k, n in enumerate(staged["stage"])
        ]
    verdict = judge_dft_check(
        [r["ce_formation_energy_eV_per_site"] for r in rows],
        [r["dft_formation_energy_eV_per_site"] for r in rows],
        [r["li_fraction"] for r in rows],
        [r["index"] for r in rows],
        settings.n_structures,
        settings,
        model="CE",
    )
    for r in rows:
        log.info(
            "held-out %s (x = %.3f, %d sites): CE %+.4f, DFT %+.4f eV/site",
            r["ordering_id"],
            r["li_fraction"],
            r["n_sites"],
            r["ce_formation_energy_eV_per_site"],
            r["dft_formation_energy_eV_per_site"],
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
    if rows:
        plot_dft_parity(
            np.array([r["ce_formation_energy_eV_per_site"] for r in rows]),
            np.array([r["dft_formation_energy_eV_per_site"] for r in rows]),
            np.array([r["li_fraction"] for r in rows]),
            out["plot"],
            model="CE",
        )
    return summary
