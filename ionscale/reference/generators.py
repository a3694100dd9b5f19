"""The sampler's frame generators: compositions and orderings, rattles and strains, the hop
path between two sites, MD snapshots with a cheap potential.

Each takes its random draws from the generator it is given (seeded by the caller with the
frame's own identity, :func:`ionscale.reference.sampling.sample_frames`), so the frames are
reproducible one by one.

- **Li/vacancy orderings**: :func:`composition_counts` spreads the site fractions evenly over the
  configured range (snapped to k/n_sites), :func:`choose_orderings` draws distinct occupations.
- **Rattled** copies (:func:`rattled`): Gaussian displacements of every atom (σ in Å).
- **Strained** copies (:func:`strained`): a random symmetric strain tensor with components
  uniform in [−ε_max, ε_max] applied to cell and atoms, plus a small rattle.
- **Vacancy hops and close contacts** (:func:`hop_path`): of the near-neighbour hops (within 1.5×
  the shortest) the most open one (largest clearance to host atoms); for LiC6 the in-plane hop
  over the C–C bridge.
- **MD** (:func:`md_snapshots`): Langevin MD (Schneider and Stoll, Phys. Rev. B 17, 1302
  (1978); ASE's integrator) with GPAW in LCAO mode with a small basis.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.reference.sampling_settings import MDSettings


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


def hop_waypoint(
    atoms: Atoms,
    a: int,
    vec: np.ndarray,
    exclude: Sequence[int] = (),
    max_offset_fraction: float = 0.6,
    step_A: float = 0.05,
) -> np.ndarray:
    """The most open point of the plane through the hop's midpoint, normal to the hop.

    A straight line between two sites can run over host atoms (LiC6: over a C–C bond and two
    C atoms), while the ion goes round them: in LiC6 through the empty hexagon beside the
    line, crossing C–C bridges, where the barrier is. The point of the mid-plane (within
    ``max_offset_fraction`` of the hop length of the midpoint, on a polar grid of ``step_A``)
    farthest from every host atom (all atoms but ``a`` and ``exclude``) is that waypoint; the
    hop images then follow the two straight legs through it (the straight midpoint itself
    when nothing is more open). A geometric guess, not a minimum-energy path: the reference
    stage has no potential yet. Written by hand: ASE's IDPP interpolation keeps the
    symmetric straight path (it is a stationary path of the pair potential).
    """
    from ase.geometry import find_mic

    vec = np.asarray(vec, float)
    length = float(np.linalg.norm(vec))
    skip = {a, *exclude}
    host = np.array([i for i in range(len(atoms)) if i not in skip], dtype=int)
    mid = atoms.positions[a] + 0.5 * vec
    if len(host) == 0:
        return mid
    # an orthonormal basis (u, w) of the mid-plane
    n = vec / length
    trial = np.eye(3)[int(np.argmin(np.abs(n)))]
    u = np.cross(n, trial)
    u /= np.linalg.norm(u)
    w = np.cross(n, u)
    radii = np.arange(0.0, max_offset_fraction * length + 1e-9, step_A)
    best, best_clearance = mid, -np.inf
    for r in radii:
        n_angles = 1 if r == 0 else max(8, int(np.ceil(2 * np.pi * r / step_A)))
        for phi in np.linspace(0.0, 2 * np.pi, n_angles, endpoint=False):
            p = mid + r * (np.cos(phi) * u + np.sin(phi) * w)
            _, d = find_mic(atoms.positions[host] - p, atoms.cell, pbc=atoms.pbc)
            c = float(np.min(d))
            if c > best_clearance + 1e-9:
                best, best_clearance = p, c
    return best


def hop_image(start: np.ndarray, waypoint: np.ndarray, end: np.ndarray, t: float) -> np.ndarray:
    """Position at fraction ``t`` (by path length) along start → waypoint → end."""
    leg1 = float(np.linalg.norm(waypoint - start))
    leg2 = float(np.linalg.norm(end - waypoint))
    s = t * (leg1 + leg2)
    if s <= leg1:
        return start + (s / leg1 if leg1 > 0 else 0.0) * (waypoint - start)
    return waypoint + ((s - leg1) / leg2 if leg2 > 0 else 0.0) * (end - waypoint)


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
