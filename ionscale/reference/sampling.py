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
  neighbouring Li moved along the straight line to it; of the near-neighbour hops (within 1.5×
  the shortest) the most open one (largest clearance to host atoms) is taken — for LiC6 the
  in-plane hop over the C–C bridge. These frames sample the migration barrier that sets the
  diffusivity.
- **Close contacts** (``"contact"``, optional): in the fully occupied supercell the same pair of
  mobile ions is pushed together, one ion moved straight towards the other until they are
  ``contact_distances_A`` apart. Equilibrium frames never bring two Li closer than the lattice
  does (4.3 Å in-plane and 3.7 Å across a graphene sheet in LiC6), so without these frames a
  potential is free to invent a Li–Li well at short range, and hot MD finds it.
- **MD** (``"md"``, optional): Langevin MD (Schneider and Stoll, Phys. Rev. B 17, 1302 (1978);
  ASE's integrator) with a cheap potential — GPAW in LCAO mode with a small basis — from the
  first ordering of each composition; snapshots are relabelled at the reference settings.
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
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.config import ConfigError, derive_seed
from ionscale.reference.structures import (
    closest_pair,
    make_supercell,
    site_fraction,
    sites_per_host_atom,
    sublattice_indices,
    validate_structure,
)
from ionscale.settings import default, default_factory

#: Cutoff of the near-duplicate fingerprint, Å.
FINGERPRINT_CUTOFF_A = 5.0


@dataclass(frozen=True)
class MDSettings:
    """Optional short MD with a cheap potential (GPAW LCAO) to sample thermal disorder.

    Parameters
    ----------
    enabled:
        Run MD at all.
    temperature_K:
        Langevin thermostat temperature, K.
    timestep_fs:
        Time step, fs.
    equilibration_steps:
        Steps discarded before the first snapshot.
    n_frames:
        Snapshots per composition and supercell.
    sample_interval_steps:
        Steps between snapshots.
    friction_per_fs:
        Langevin friction, 1/fs.
    basis:
        GPAW LCAO basis (e.g. ``"sz(dzp)"``, single-zeta from the dzp set).
    kpoint_density_per_A:
        k-point density of the MD potential, points per Å⁻¹ (0: Γ point only).
    """

    enabled: bool = default("reference.sampling.md.enabled")
    temperature_K: float = default("reference.sampling.md.temperature_K")
    timestep_fs: float = default("reference.sampling.md.timestep_fs")
    equilibration_steps: int = default("reference.sampling.md.equilibration_steps")
    n_frames: int = default("reference.sampling.md.n_frames")
    sample_interval_steps: int = default("reference.sampling.md.sample_interval_steps")
    friction_per_fs: float = default("reference.sampling.md.friction_per_fs")
    basis: str = default("reference.sampling.md.basis")
    kpoint_density_per_A: float = default("reference.sampling.md.kpoint_density_per_A")


@dataclass(frozen=True)
class ExtraStructureSettings:
    """A reference structure sampled beside the host (bcc Li metal, the empty host).

    Parameters
    ----------
    enabled:
        Include it.
    file, prototype:
        Structure file or prototype name (exactly one).
    supercell:
        Repeats along the three lattice vectors.
    n_rattle, n_strain:
        Rattled and strained copies besides the ideal structure.
    """

    enabled: bool
    file: str
    prototype: str
    supercell: tuple[int, int, int]
    n_rattle: int
    n_strain: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ExtraStructureSettings:
        """From ``reference.li_metal`` or ``reference.host``."""
        cfg = dict(cfg)
        cfg["supercell"] = tuple(int(r) for r in cfg["supercell"])
        return cls(**cfg)

    @classmethod
    def schema_default(cls, role: str) -> ExtraStructureSettings:
        """The schema defaults of ``reference.<role>`` (the two roles differ)."""
        return cls.from_config(default_factory(f"reference.{role}")())


@dataclass(frozen=True)
class SamplingSettings:
    """Everything the sampler uses (see the module docstring and config/README.md).

    Lengths in Å; ``max_strain`` is a dimensionless strain component; ``x_range`` are site
    fractions of the mobile species.
    """

    enabled: bool = default("reference.sampling.enabled")
    supercells: tuple[tuple[int, int, int], ...] = default("reference.structure.supercells")
    mobile_species: str = default("reference.mobile_species")
    x_range: tuple[float, float] = default("reference.x_range")
    n_compositions: int = default("reference.sampling.n_compositions")
    orderings_per_composition: int = default("reference.sampling.orderings_per_composition")
    rattle_per_ordering: int = default("reference.sampling.rattle_per_ordering")
    rattle_stdev_A: float = default("reference.sampling.rattle_stdev_A")
    strain_per_ordering: int = default("reference.sampling.strain_per_ordering")
    max_strain: float = default("reference.sampling.max_strain")
    strain_rattle_stdev_A: float = default("reference.sampling.strain_rattle_stdev_A")
    hop_images: int = default("reference.sampling.hop_images")
    contact_distances_A: tuple[float, ...] = default("reference.sampling.contact_distances_A")
    duplicate_tolerance_A: float = default("reference.sampling.duplicate_tolerance_A")
    min_distance_A: float = default("reference.checks.min_pair_distance_A")
    md: MDSettings = field(default_factory=MDSettings)
    li_metal: ExtraStructureSettings = field(
        default_factory=lambda: ExtraStructureSettings.schema_default("li_metal")
    )
    host: ExtraStructureSettings = field(
        default_factory=lambda: ExtraStructureSettings.schema_default("host")
    )

    @classmethod
    def from_config(cls, reference: Mapping[str, Any]) -> SamplingSettings:
        """From the (default-filled) ``reference`` config section."""
        s = dict(reference["sampling"])
        md = MDSettings(**s.pop("md"))

        x_lo, x_hi = (float(v) for v in reference["x_range"])
        if not 0.0 <= x_lo <= x_hi <= 1.0:
            raise ConfigError(
                f"reference.x_range: expected 0 <= x_min <= x_max <= 1, got {[x_lo, x_hi]}"
            )
        return cls(
            supercells=tuple(tuple(map(int, sc)) for sc in reference["structure"]["supercells"]),
            mobile_species=reference["mobile_species"],
            x_range=(x_lo, x_hi),
            md=md,
            li_metal=ExtraStructureSettings.from_config(reference["li_metal"]),
            host=ExtraStructureSettings.from_config(reference["host"]),
            min_distance_A=float(reference["checks"]["min_pair_distance_A"]),
            contact_distances_A=tuple(float(d) for d in s.pop("contact_distances_A", ())),
            **s,
        )  # fmt: skip


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


def composition_counts(
    n_sites: int, x_range: tuple[float, float], n_compositions: int
) -> list[int]:
    """Occupied-site counts k for compositions evenly spread over ``x_range``.

    Targets are ``n_compositions`` evenly spaced x from x_min to x_max (one composition: x_max),
    rounded to k/n_sites; counts whose x falls outside the range are dropped, repeats removed.
    """
    lo, hi = x_range
    targets = [hi] if n_compositions == 1 else np.linspace(lo, hi, n_compositions)
    out: list[int] = []
    for x in targets:
        k = int(np.rint(x * n_sites))
        if lo - 1e-9 <= k / n_sites <= hi + 1e-9 and k not in out:
            out.append(k)
    return out


def choose_orderings(
    n_sites: int, k: int, n_orderings: int, rng: np.random.Generator
) -> list[tuple[int, ...]]:
    """Up to ``n_orderings`` distinct k-subsets of the sites (all of them if there are fewer)."""
    if math.comb(n_sites, k) <= n_orderings:
        return list(itertools.combinations(range(n_sites), k))
    chosen: list[tuple[int, ...]] = []
    while len(chosen) < n_orderings:
        pick = tuple(sorted(int(i) for i in rng.choice(n_sites, size=k, replace=False)))
        if pick not in chosen:
            chosen.append(pick)
    return chosen


def rattled(atoms: Atoms, stdev_A: float, rng: np.random.Generator) -> Atoms:
    """Copy with Gaussian displacements (σ = ``stdev_A`` per Cartesian component)."""
    out = atoms.copy()
    out.positions = out.positions + rng.normal(0.0, stdev_A, size=out.positions.shape)
    return out


def strained(atoms: Atoms, max_strain: float, rattle_A: float, rng: np.random.Generator) -> Atoms:
    """Copy under a random symmetric strain ε (components uniform in ±max_strain), rattled.

    The cell rows transform as h' = h (1 + ε); atoms keep their fractional positions.
    """
    upper = rng.uniform(-max_strain, max_strain, size=6)
    xx, yy, zz, yz, xz, xy = upper
    eps = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + eps), scale_atoms=True)
    if rattle_A > 0:
        out = rattled(out, rattle_A, rng)
    return out


def hop_path(
    atoms: Atoms, site_indices: Sequence[int], n_probe: int = 21
) -> tuple[int, int, np.ndarray] | None:
    """The most open near-neighbour hop between two sites: (from, to, displacement vector Å).

    Candidates are site pairs within 1.5× the shortest site–site distance (minimum image);
    the chosen one maximises the smallest distance from the straight path to any non-site atom
    (ties: the shorter hop). None if there are fewer than two sites.
    """
    from ase.geometry import find_mic

    sites = list(site_indices)
    if len(sites) < 2:
        return None
    host = np.array([i for i in range(len(atoms)) if i not in set(sites)], dtype=int)
    pos = atoms.positions
    pairs = []
    for a, b in itertools.combinations(sites, 2):
        vec, dist = find_mic(pos[b] - pos[a], atoms.cell, pbc=atoms.pbc)
        pairs.append((a, b, np.asarray(vec), float(dist)))
    shortest = min(p[3] for p in pairs)
    best: tuple[float, float, int, int, np.ndarray] | None = None
    for a, b, vec, dist in pairs:
        if dist > 1.5 * shortest:
            continue
        clearance = np.inf
        for t in np.linspace(0.0, 1.0, n_probe):
            if len(host):
                _, d = find_mic(pos[host] - (pos[a] + t * vec), atoms.cell, pbc=atoms.pbc)
                clearance = min(clearance, float(np.min(d)))
        key = (-clearance, dist)
        if best is None or key < (best[0], best[1]):
            best = (-clearance, dist, a, b, vec)
    assert best is not None
    return best[2], best[3], best[4]


def md_snapshots(start: Atoms, md: MDSettings, seed: int, txt: Any = None) -> list[Atoms]:
    """Snapshots of a Langevin MD run with GPAW LCAO forces (the cheap potential).

    Parameters
    ----------
    start:
        Initial structure.
    md:
        MD settings (temperature K, time step fs, steps, basis).
    seed:
        Seed of the initial velocities and the thermostat noise.
    txt:
        GPAW text output.
    """
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from gpaw import GPAW, LCAO

    from ionscale.reference.calculators import kpoint_grid

    atoms = Atoms(numbers=start.numbers, positions=start.positions, cell=start.cell, pbc=True)
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=md.temperature_K, rng=rng)
    Stationary(atoms)
    size = (
        (1, 1, 1) if md.kpoint_density_per_A <= 0 else kpoint_grid(atoms, md.kpoint_density_per_A)
    )
    atoms.calc = GPAW(
        mode=LCAO(), basis=md.basis, xc="PBE", kpts={"size": size, "gamma": True},
        occupations={"name": "fermi-dirac", "width": 0.1}, symmetry="off", txt=txt,
    )  # fmt: skip
    dyn = Langevin(
        atoms, md.timestep_fs * units.fs, temperature_K=md.temperature_K,
        friction=md.friction_per_fs / units.fs, rng=rng,
    )  # fmt: skip
    if md.equilibration_steps:
        dyn.run(md.equilibration_steps)
    out = []
    for _ in range(md.n_frames):
        dyn.run(md.sample_interval_steps)
        out.append(
            Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
        )
    return out


def _fingerprint(atoms: Atoms, cutoff_A: float) -> dict[tuple[int, int], np.ndarray]:
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, cutoff_A)
    z = atoms.numbers
    zi, zj = np.minimum(z[i], z[j]), np.maximum(z[i], z[j])
    out = {}
    for key in sorted(set(zip(zi.tolist(), zj.tolist(), strict=True))):
        mask = (zi == key[0]) & (zj == key[1])
        out[key] = np.sort(d[mask])
    return out


def _near_equal(
    fa: dict[tuple[int, int], np.ndarray], fb: dict[tuple[int, int], np.ndarray], tol: float
) -> bool:
    if fa.keys() != fb.keys():
        return False
    for key, da in fa.items():
        db = fb[key]
        if da.shape != db.shape or (da.size and np.max(np.abs(da - db)) >= tol):
            return False
    return True


def remove_near_duplicates(
    frames: Sequence[Atoms], tolerance_A: float, cutoff_A: float = FINGERPRINT_CUTOFF_A
) -> tuple[list[Atoms], list[dict[str, str]]]:
    """Keep the first of each group of near-duplicate frames (see the module docstring).

    Returns the kept frames (in order) and ``{"frame_id", "duplicate_of"}`` for the others.
    """
    kept: list[Atoms] = []
    removed: list[dict[str, str]] = []
    seen: dict[tuple[str, int], list[tuple[Atoms, np.ndarray, dict]]] = {}
    for atoms in frames:
        group = seen.setdefault((atoms.get_chemical_formula(), len(atoms)), [])
        lengths = atoms.cell.lengths()
        fp = _fingerprint(atoms, cutoff_A)
        match = next(
            (
                other
                for other, other_lengths, other_fp in group
                if np.max(np.abs(lengths - other_lengths)) < tolerance_A
                and _near_equal(fp, other_fp, tolerance_A)
            ),
            None,
        )
        if match is None:
            group.append((atoms, lengths, fp))
            kept.append(atoms)
        else:
            removed.append(
                {"frame_id": atoms.info["frame_id"], "duplicate_of": match.info["frame_id"]}
            )
    return kept, removed


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

    def rng_for(*labels: Any) -> np.random.Generator:
        return np.random.default_rng(derive_seed(seed, "reference", *labels))

    for reps in settings.supercells:
        cell = make_supercell(host, reps)
        label = "x".join(map(str, reps))
        sites = sublattice_indices(cell, mobile)
        counts = composition_counts(len(sites), settings.x_range, settings.n_compositions)
        if not counts:
            notes.append(
                f"supercell {label}: no site fraction k/{len(sites)} in {settings.x_range}"
            )
        for k in counts:
            orderings = choose_orderings(
                len(sites), k, settings.orderings_per_composition, rng_for(label, "orderings", k)
            )
            first_base = None
            for o, occupied in enumerate(orderings):
                empty = [int(sites[s]) for s in range(len(sites)) if s not in set(occupied)]
                base = cell.copy()
                del base[empty]
                first_base = base if first_base is None else first_base
                x = site_fraction(base, mobile, per_host)
                stem = f"{label}-x{x:.3f}-o{o}"
                common = {"supercell": label}
                collect.add(base, "ordering", stem, **common)
                for r in range(settings.rattle_per_ordering):
                    fid = f"{stem}-rattle{r}"
                    collect.add(
                        rattled(base, settings.rattle_stdev_A, rng_for(fid)),
                        "rattle",
                        fid,
                        **common,
                    )
                for s in range(settings.strain_per_ordering):
                    fid = f"{stem}-strain{s}"
                    frame = strained(
                        base, settings.max_strain, settings.strain_rattle_stdev_A, rng_for(fid)
                    )
                    collect.add(frame, "strain", fid, **common)
            if settings.md.enabled and first_base is not None:
                x = site_fraction(first_base, mobile, per_host)
                stem = f"{label}-x{x:.3f}-md"
                snaps = run_md(
                    first_base, settings.md, derive_seed(seed, "reference", stem), md_txt
                )
                for n, snap in enumerate(snaps):
                    collect.add(snap, "md", f"{stem}{n}", supercell=label)
        # the most open near-neighbour pair: the vacancy hop and the close contacts share it
        wanted = settings.hop_images > 0 or bool(settings.contact_distances_A)
        pair = hop_path(cell, sites) if wanted else None
        if settings.hop_images > 0:
            if pair is None:
                notes.append(f"supercell {label}: one {mobile} site, no vacancy hop possible")
            else:
                a, b, vec = pair
                for n in range(1, settings.hop_images + 1):
                    t = n / (settings.hop_images + 1)
                    frame = cell.copy()
                    frame.positions[a] = cell.positions[a] + t * vec
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
        collect.add(cell, name, f"{name}-ideal")
        for r in range(ref.n_rattle):
            fid = f"{name}-rattle{r}"
            collect.add(rattled(cell, settings.rattle_stdev_A, rng_for(fid)), name, fid)
        for s in range(ref.n_strain):
            fid = f"{name}-strain{s}"
            frame = strained(
                cell, settings.max_strain, settings.strain_rattle_stdev_A, rng_for(fid)
            )
            collect.add(frame, name, fid)

    frames, duplicates = remove_near_duplicates(collect.frames, settings.duplicate_tolerance_A)
    planned = planned_frame_count(settings, len(sublattice_indices(host, mobile)))
    if len(frames) > planned:  # the batch plan of the workflow relies on this bound
        raise RuntimeError(f"sampled {len(frames)} frames, more than the planned bound {planned}")
    if not frames:
        raise ValueError("sampling produced no frames (see rejected candidates and notes)")
    return SamplingResult(frames, duplicates, collect.rejected, planned, notes)
