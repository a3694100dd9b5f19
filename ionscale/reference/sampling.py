"""Seeded, reproducible sampling of candidate frames for DFT labelling.

From the fully occupied host structure (LiC6) and each configured supercell:

- **Li/vacancy orderings** (``config_type="ordering"``): ``n_compositions`` site fractions x
  spread evenly over the configured range (snapped to what the supercell can hold, k/n_sites),
  and for each up to ``orderings_per_composition`` distinct random occupations of the Li
  sublattice, at ideal positions.
- **Rattled** copies (``"rattle"``): Gaussian displacements of every atom (σ in Å) — the forces
  a potential must learn near equilibrium.
- **Strained** copies (``"strain"``): a random symmetric strain tensor with components uniform in
  [−ε_max, ε_max] applied to cell and atoms, plus a small rattle — the stress and elastic
  response (the continuum's chemical strain needs the volume dependence).
- **Vacancy hops** (``"vacancy"``): in the fully occupied supercell one Li site is emptied and a
  neighbouring Li moved to it along two straight legs through the most open point of the hop's
  mid-plane (:func:`~ionscale.reference.generators.hop_waypoint`); of the near-neighbour hops
  (within 1.5× the shortest) the most open one (largest clearance to host atoms) is taken —
  for LiC6 the in-plane hop through the empty hexagon beside the straight line, over the C–C
  bridges where the barrier is (the straight line runs over two C atoms and a C–C bond).
  These frames sample the migration barrier that sets the diffusivity.
- **Close contacts** (``"contact"``, optional): in the fully occupied supercell the same pair of
  mobile ions is pushed together, one ion moved straight towards the other until they are
  ``contact_distances_A`` apart. Equilibrium frames never bring two Li closer than the lattice
  does (4.3 Å in-plane and 3.7 Å across a graphene sheet in LiC6), so without these frames a
  potential is free to invent a Li–Li well at short range, and hot MD finds it.
- **MD** (``"md"``, optional): Langevin MD (Schneider and Stoll, Phys. Rev. B 17, 1302 (1978);
  ASE's integrator) with a cheap potential — GPAW in LCAO mode with a small basis — from the
  first ordering of each composition; snapshots are relabelled at the reference settings.
- **Staged compounds** (``"staged"``, optional): for each configured stage n of a layered
  host, the mobile ions in every n-th gallery with AB-stacked empty galleries
  (:func:`~ionscale.reference.structures.staged_structure`), ideal plus rattled and strained
  copies — graphite's staging configurations, which no ordering on the AA-stacked LiC6 lattice
  holds.
- **Interlayer separation scans** (``"separation"``, optional): the empty host, the empty host
  lattice (every mobile ion removed: AA-stacked C6 for LiC6) and the fully occupied structure
  with the c axis scaled by each of ``c_axis_scales``, fractional coordinates kept (rigid layers
  moved apart) — the binding curve E(c) behind every relaxation along c; strained copies only
  probe its bottom.
- **References**: bcc Li metal (``"li_metal"``, li_fraction NaN; its energy anchors voltages)
  and the empty host (``"host"``, e.g. AB graphite), ideal plus rattled and strained copies.

Every random draw comes from a generator seeded by :func:`ionscale.config.derive_seed` with the
master seed and the frame's own identity, so the same config and seed give the same frames, and
adding frames of one kind does not change the others. Candidates with atoms closer than the
configured minimum distance are rejected (and reported). Near-duplicates are removed (and
reported): two frames are near-duplicates when they have the same composition and cell lengths
and their sorted species-resolved pair-distance lists (to 5 Å) agree within a tolerance. This
fingerprint is invariant to translation and atom permutation, so symmetry-equivalent orderings
collapse to one; it is hand-written because it is exact, cheap and needs no descriptor library.

The number of frames is bounded by :func:`planned_frame_count`, computed from the config and
the number of Li sites of the host structure, so the workflow knows its labelling batches before
sampling runs.

This module assembles the frames (:func:`sample_frames`) and plans the batches; the settings are
in :mod:`~ionscale.reference.sampling_settings`, the generators of each kind of frame in
:mod:`~ionscale.reference.generators` and the near-duplicate fingerprint in
:mod:`~ionscale.reference.duplicates`. Every name stays importable from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.config import ConfigError, derive_seed
from ionscale.reference.duplicates import FINGERPRINT_CUTOFF_A, remove_near_duplicates
from ionscale.reference.generators import (
    choose_orderings,
    composition_counts,
    hop_image,
    hop_path,
    hop_waypoint,
    md_snapshots,
    rattled,
    strained,
)
from ionscale.reference.sampling_settings import (
    ExtraStructureSettings,
    MDSettings,
    SamplingSettings,
)
from ionscale.reference.structures import (
    closest_pair,
    make_supercell,
    site_fraction,
    sites_per_host_atom,
    sublattice_indices,
    validate_structure,
)

__all__ = [
    "FINGERPRINT_CUTOFF_A",
    "ExtraStructureSettings",
    "MDSettings",
    "SamplingResult",
    "SamplingSettings",
    "batch_count",
    "batch_slice",
    "choose_orderings",
    "composition_counts",
    "hop_path",
    "md_snapshots",
    "planned_frame_count",
    "rattled",
    "remove_near_duplicates",
    "sample_frames",
    "strained",
]


@dataclass
class SamplingResult:
    """Sampled frames and what was left out, with the reason for each."""

    frames: list[Atoms]
    duplicates: list[dict[str, str]]
    rejected: list[dict[str, str]]
    planned: int
    notes: list[str]

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for atoms in self.frames:
            counts[atoms.info["config_type"]] = counts.get(atoms.info["config_type"], 0) + 1
        return {
            "n_frames": len(self.frames),
            "planned_upper_bound": self.planned,
            "frames_per_config_type": counts,
            "near_duplicates_removed": self.duplicates,
            "rejected_candidates": self.rejected,
            "notes": self.notes,
        }


def planned_frame_count(settings: SamplingSettings, sites_in_structure: int | None = None) -> int:
    """Upper bound of the number of sampled frames, known before sampling runs.

    Parameters
    ----------
    settings:
        Sampling settings.
    sites_in_structure:
        Mobile-ion sites of the (unit) host structure. With it the bound counts the compositions
        and orderings each supercell can hold; without it, the configured numbers.

    Duplicate orderings, rejected candidates and near-duplicates only lower the actual count.
    """
    if not settings.enabled:
        return 0
    per_ordering = 1 + settings.rattle_per_ordering + settings.strain_per_ordering
    md = settings.md.n_frames if settings.md.enabled else 0
    total = 0
    for reps in settings.supercells:
        if sites_in_structure is None:
            n_comp = settings.n_compositions
            n_orderings = n_comp * settings.orderings_per_composition
            hops = settings.hop_images + len(settings.contact_distances_A)
        else:
            n_sites = sites_in_structure * int(np.prod(reps))
            counts = composition_counts(n_sites, settings.x_range, settings.n_compositions)
            n_comp = len(counts)
            n_orderings = sum(
                min(math.comb(n_sites, k), settings.orderings_per_composition) for k in counts
            )
            hops = settings.hop_images + len(settings.contact_distances_A) if n_sites >= 2 else 0
        total += n_orderings * per_ordering + n_comp * md + hops
    total += len(settings.stages) * per_ordering
    total += len(settings.c_axis_scales) * (3 if settings.host.enabled else 2)
    for ref in (settings.li_metal, settings.host):
        if ref.enabled:
            total += 1 + ref.n_rattle + ref.n_strain
    return total


def batch_count(n_frames: int, batch_size: int) -> int:
    """Number of labelling batches of ``batch_size`` frames (the last may be short or empty)."""
    if batch_size < 1:
        raise ConfigError(f"reference.batch_size: must be a positive integer, got {batch_size}")
    return max(1, math.ceil(n_frames / batch_size))


def batch_slice(index: int, batch_size: int) -> slice:
    """Frames of batch ``index`` (0-based)."""
    if batch_size < 1:
        raise ConfigError(f"reference.batch_size: must be a positive integer, got {batch_size}")
    return slice(index * batch_size, (index + 1) * batch_size)


class _Collector:
    """Tags candidates, rejects overlapping ones, keeps order."""

    def __init__(self, mobile: str, sites_per_host: float, min_distance_A: float) -> None:
        self.mobile = mobile
        self.sites_per_host = sites_per_host
        self.min_distance_A = min_distance_A
        self.frames: list[Atoms] = []
        self.rejected: list[dict[str, str]] = []

    def add(self, atoms: Atoms, config_type: str, frame_id: str, **info: Any) -> None:
        atoms = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
        atoms.info = {
            "config_type": config_type,
            "li_fraction": site_fraction(atoms, self.mobile, self.sites_per_host),
            "frame_id": frame_id,
            **info,
        }
        d, i, j = closest_pair(atoms, cutoff_A=self.min_distance_A * 1.001 + 1e-6)
        if d < self.min_distance_A:
            self.rejected.append(
                {
                    "frame_id": frame_id,
                    "reason": f"atoms {i} and {j} are {d:.3f} Å apart (< {self.min_distance_A} Å)",
                }
            )
            return
        self.frames.append(atoms)


def _rng(seed: int, *labels: Any) -> np.random.Generator:
    """The generator of one frame (or group of frames), seeded by its identity."""
    return np.random.default_rng(derive_seed(seed, "reference", *labels))


def _add_with_copies(
    collect: _Collector,
    base: Atoms,
    base_id: str,
    stem: str,
    config_types: tuple[str, str, str],
    n_rattle: int,
    n_strain: int,
    settings: SamplingSettings,
    seed: int,
    **info: Any,
) -> None:
    """``base`` and its rattled (``{stem}-rattle{r}``) and strained (``{stem}-strain{s}``)
    copies, each drawn from its own frame id's generator; ``config_types`` of the three kinds."""
    collect.add(base, config_types[0], base_id, **info)
    for r in range(n_rattle):
        fid = f"{stem}-rattle{r}"
        collect.add(
            rattled(base, settings.rattle_stdev_A, _rng(seed, fid)), config_types[1], fid, **info
        )
    for s in range(n_strain):
        fid = f"{stem}-strain{s}"
        frame = strained(base, settings.max_strain, settings.strain_rattle_stdev_A, _rng(seed, fid))
        collect.add(frame, config_types[2], fid, **info)


def _add_orderings(
    collect: _Collector,
    cell: Atoms,
    label: str,
    sites: np.ndarray,
    settings: SamplingSettings,
    seed: int,
    notes: list[str],
    run_md: Callable[[Atoms, MDSettings, int, Any], list[Atoms]],
    md_txt: Any,
) -> None:
    """Orderings of every composition of one supercell, their rattled and strained copies,
    and the MD snapshots from the first ordering of each composition."""
    mobile = settings.mobile_species
    per_host = collect.sites_per_host
    counts = composition_counts(len(sites), settings.x_range, settings.n_compositions)
    if not counts:
        notes.append(f"supercell {label}: no site fraction k/{len(sites)} in {settings.x_range}")
    for k in counts:
        orderings = choose_orderings(
            len(sites), k, settings.orderings_per_composition, _rng(seed, label, "orderings", k)
        )
        first_base = None
        for o, occupied in enumerate(orderings):
            empty = [int(sites[s]) for s in range(len(sites)) if s not in set(occupied)]
            base = cell.copy()
            del base[empty]
            first_base = base if first_base is None else first_base
            x = site_fraction(base, mobile, per_host)
            stem = f"{label}-x{x:.3f}-o{o}"
            _add_with_copies(
                collect, base, stem, stem, ("ordering", "rattle", "strain"),
                settings.rattle_per_ordering, settings.strain_per_ordering, settings, seed,
                supercell=label,
            )  # fmt: skip
        if settings.md.enabled and first_base is not None:
            x = site_fraction(first_base, mobile, per_host)
            stem = f"{label}-x{x:.3f}-md"
            snaps = run_md(first_base, settings.md, derive_seed(seed, "reference", stem), md_txt)
            for n, snap in enumerate(snaps):
                collect.add(snap, "md", f"{stem}{n}", supercell=label)


def _add_hops_and_contacts(
    collect: _Collector,
    cell: Atoms,
    label: str,
    sites: np.ndarray,
    settings: SamplingSettings,
    notes: list[str],
) -> None:
    """Vacancy-hop images and close-contact frames of one (fully occupied) supercell."""
    mobile = settings.mobile_species
    # the most open near-neighbour pair: the vacancy hop and the close contacts share it
    wanted = settings.hop_images > 0 or bool(settings.contact_distances_A)
    pair = hop_path(cell, sites) if wanted else None
    if settings.hop_images > 0:
        if pair is None:
            notes.append(f"supercell {label}: one {mobile} site, no vacancy hop possible")
        else:
            a, b, vec = pair
            start = cell.positions[a].copy()
            waypoint = hop_waypoint(cell, a, vec, exclude=sites)
            for n in range(1, settings.hop_images + 1):
                t = n / (settings.hop_images + 1)
                frame = cell.copy()
                frame.positions[a] = hop_image(start, waypoint, start + vec, t)
                del frame[[b]]
                collect.add(frame, "vacancy", f"{label}-hop-t{t:.3f}", supercell=label)
    if settings.contact_distances_A:
        if pair is None:
            notes.append(f"supercell {label}: one {mobile} site, no close-contact frames")
        else:
            a, b, vec = pair
            dist = float(np.linalg.norm(vec))
            for d in settings.contact_distances_A:
                if d >= dist:
                    notes.append(
                        f"supercell {label}: contact distance {d} Å is not below the "
                        f"hop pair's {mobile}–{mobile} distance {dist:.2f} Å; skipped"
                    )
                    continue
                frame = cell.copy()
                frame.positions[a] += (1.0 - d / dist) * vec
                collect.add(frame, "contact", f"{label}-contact-d{d:.2f}", supercell=label)


def _add_staged(collect: _Collector, host: Atoms, settings: SamplingSettings, seed: int) -> None:
    """Staged compounds of the (layered, fully occupied) host, ideal, rattled and strained."""
    from ionscale.reference.structures import staged_structure

    for n in settings.stages:
        base = staged_structure(host, n, settings.mobile_species)
        _add_with_copies(
            collect, base, f"stage{n}", f"stage{n}", ("staged",) * 3,
            settings.rattle_per_ordering, settings.strain_per_ordering, settings, seed, stage=n,
        )  # fmt: skip


def c_axis_scaled(atoms: Atoms, factor: float) -> Atoms:
    """Copy with the c cell vector scaled by ``factor`` and fractional coordinates kept: the
    layers stacked along c move apart (or together) rigidly."""
    out = atoms.copy()
    cell = np.array(out.cell)
    cell[2] *= factor
    out.set_cell(cell, scale_atoms=True)
    return out


def _add_separation_scans(
    collect: _Collector,
    host: Atoms,
    settings: SamplingSettings,
    empty_host: Atoms | None,
) -> None:
    """The empty host, the empty host lattice and the full structure at each c-axis scale."""
    if not settings.c_axis_scales:
        return
    mobile = settings.mobile_species
    lattice = host[[s != mobile for s in host.get_chemical_symbols()]]
    structures = [("full", host), ("lattice", lattice)]
    if settings.host.enabled:
        if empty_host is None:
            raise ValueError("reference.host is enabled but no structure was given")
        structures.append(("host", make_supercell(empty_host, settings.host.supercell)))
    for name, atoms in structures:
        for f in settings.c_axis_scales:
            collect.add(
                c_axis_scaled(atoms, f), "separation", f"{name}-c{f:.3f}", c_axis_scale=float(f)
            )


def _add_references(
    collect: _Collector,
    settings: SamplingSettings,
    seed: int,
    li_metal: Atoms | None,
    empty_host: Atoms | None,
) -> None:
    """bcc Li metal and the empty host, ideal plus rattled and strained copies (when enabled)."""
    for name, ref, atoms in (
        ("li_metal", settings.li_metal, li_metal),
        ("host", settings.host, empty_host),
    ):
        if not ref.enabled:
            continue
        if atoms is None:
            raise ValueError(f"reference.{name} is enabled but no structure was given")
        validate_structure(atoms, f"reference.{name} structure", settings.min_distance_A)
        cell = make_supercell(atoms, ref.supercell)
        _add_with_copies(
            collect, cell, f"{name}-ideal", name, (name,) * 3, ref.n_rattle, ref.n_strain,
            settings, seed,
        )  # fmt: skip


def sample_frames(
    host: Atoms,
    settings: SamplingSettings,
    seed: int,
    li_metal: Atoms | None = None,
    empty_host: Atoms | None = None,
    md_txt: Any = None,
    md_runner: Callable[[Atoms, MDSettings, int, Any], list[Atoms]] | None = None,
) -> SamplingResult:
    """Sample candidate frames (see the module docstring) from the fully occupied host.

    Parameters
    ----------
    host:
        Fully occupied host structure (all mobile-ion sites filled), e.g. LiC6.
    settings:
        Sampling settings.
    seed:
        Master seed (the config's ``seed``).
    li_metal, empty_host:
        Reference structures (used when enabled in ``settings``).
    md_txt:
        GPAW text output of the MD potential.
    md_runner:
        MD snapshot generator (default :func:`md_snapshots`).
    """
    mobile = settings.mobile_species
    validate_structure(host, "host structure", settings.min_distance_A, mobile)
    if not settings.enabled:
        note = "sampling disabled (reference.sampling.enabled: false): imported frames only"
        return SamplingResult(frames=[], duplicates=[], rejected=[], planned=0, notes=[note])
    per_host = sites_per_host_atom(host, mobile)
    collect = _Collector(mobile, per_host, settings.min_distance_A)
    notes: list[str] = []
    run_md = md_runner or md_snapshots

    for reps in settings.supercells:
        cell = make_supercell(host, reps)
        label = "x".join(map(str, reps))
        sites = sublattice_indices(cell, mobile)
        _add_orderings(collect, cell, label, sites, settings, seed, notes, run_md, md_txt)
        _add_hops_and_contacts(collect, cell, label, sites, settings, notes)
    _add_staged(collect, host, settings, seed)
    _add_separation_scans(collect, host, settings, empty_host)
    _add_references(collect, settings, seed, li_metal, empty_host)

    frames, duplicates = remove_near_duplicates(collect.frames, settings.duplicate_tolerance_A)
    planned = planned_frame_count(settings, len(sublattice_indices(host, mobile)))
    if len(frames) > planned:  # the batch plan of the workflow relies on this bound
        raise RuntimeError(f"sampled {len(frames)} frames, more than the planned bound {planned}")
    if not frames:
        raise ValueError("sampling produced no frames (see rejected candidates and notes)")
    return SamplingResult(frames, duplicates, collect.rejected, planned, notes)
