"""Formation energies per site and their convex hull; the T = 0 voltage profile.

Formation energy of an ordering with N_Li Li on n sublattice sites, referenced to the empty host
and bcc Li metal (the handoff's convention, f(0) = 0):

    ΔE_f(x) = [E(config) − n·e_host − N_Li·μ_Li,metal] / n        (eV per site),

with e_host the energy of the relaxed empty host per framework formula unit of one site
(graphite: AB graphite per C6, a phase of its own; the empty cell of the Li lattice, AA-stacked
C6, then lies above it by the stacking energy) and μ_Li,metal the energy per atom of relaxed bcc
Li. The lower convex hull of ΔE_f(x) is the T = 0 free energy; between two adjacent
hull vertices the host is two-phase and the voltage is the constant −(slope)/e (Aydinol et al.,
Phys. Rev. B 56, 1354 (1997)).

The hull is pymatgen's PhaseDiagram on the pseudo-binary of "empty site" and "filled site"
(two dummy species), so any host works, however many elements its framework has.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class Hull:
    """Convex hull of formation energies vs x.

    Attributes
    ----------
    x, formation_energy_eV_per_site:
        Hull vertices (increasing x; x = 0 and x = 1 always).
    e_above_hull_eV_per_site:
        Distance of every input point above the hull (≥ 0).
    vertex_indices:
        Indices (into the input) of the hull vertices; where several inputs share a vertex's x
        and energy, the first.
    """

    x: np.ndarray
    formation_energy_eV_per_site: np.ndarray
    e_above_hull_eV_per_site: np.ndarray
    vertex_indices: np.ndarray

    def two_phase_regions(self) -> list[tuple[float, float, float]]:
        """(x_lo, x_hi, voltage V) for each hull segment: at T = 0 every segment is two-phase."""
        out = []
        for k in range(len(self.x) - 1):
            slope = (
                self.formation_energy_eV_per_site[k + 1] - self.formation_energy_eV_per_site[k]
            ) / (self.x[k + 1] - self.x[k])
            out.append((float(self.x[k]), float(self.x[k + 1]), float(-slope)))
        return out


def formation_energies(
    energy_eV: np.ndarray,
    n_li: np.ndarray,
    n_sites: np.ndarray,
    host_energy_eV_per_site: float,
    li_metal_energy_eV_per_atom: float,
) -> np.ndarray:
    """ΔE_f per sublattice site (eV/site); arrays broadcast (e.g. one row per ensemble member)."""
    energy_eV, n_li, n_sites = (np.asarray(a, dtype=float) for a in (energy_eV, n_li, n_sites))
    if np.any(n_sites <= 0):
        raise ValueError("every structure needs at least one sublattice site")
    return (
        energy_eV - n_sites * host_energy_eV_per_site - n_li * li_metal_energy_eV_per_atom
    ) / n_sites


def convex_hull(x: np.ndarray, formation_energy_eV_per_site: np.ndarray) -> Hull:
    """Lower convex hull of (x, ΔE_f) with pymatgen's PhaseDiagram (pseudo-binary).

    Raises
    ------
    ValueError
        If x = 0 or x = 1 is missing, x is outside [0, 1], or an energy is not finite.
    """
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition, DummySpecies

    x = np.asarray(x, dtype=float)
    e = np.asarray(formation_energy_eV_per_site, dtype=float)
    if x.shape != e.shape or x.ndim != 1:
        raise ValueError(f"x {x.shape} and energies {e.shape} must be 1-D of equal length")
    if np.any((x < 0) | (x > 1)):
        raise ValueError(f"Li fractions outside [0, 1]: {x[(x < 0) | (x > 1)]}")
    if not (np.any(x == 0) and np.any(x == 1)):
        raise ValueError("the hull needs both end members (x = 0 and x = 1)")
    if not np.all(np.isfinite(e)):
        raise ValueError(f"non-finite formation energies at x = {x[~np.isfinite(e)]}")
    empty, filled = DummySpecies("Xa"), DummySpecies("Xb")
    entries = []
    for xi, ei in zip(x, e, strict=True):
        amounts = {empty: 1 - xi, filled: xi}
        entries.append(PDEntry(Composition({k: v for k, v in amounts.items() if v > 0}), ei))
    pd = PhaseDiagram(entries)
    e_above = np.array([pd.get_e_above_hull(entry, allow_negative=True) for entry in entries])
    e_above = np.where(np.abs(e_above) < 1e-12, 0.0, e_above)
    stable = {id(entry) for entry in pd.stable_entries}
    vertices, seen_x = [], []
    for i in np.argsort(x, kind="stable"):
        if id(entries[i]) in stable and not any(abs(x[i] - s) < 1e-9 for s in seen_x):
            seen_x.append(x[i])
            vertices.append(i)
    vertices = np.array(vertices, dtype=int)
    return Hull(x[vertices], e[vertices], np.maximum(e_above, 0.0), vertices)


def hull_with_host(
    x: np.ndarray, formation_energy_eV_per_site: np.ndarray, host: bool
) -> tuple[Hull, np.ndarray, bool]:
    """The hull of the orderings, with the empty host end member (x = 0, ΔE_f = 0 by definition
    of the reference) as a separate phase when ``host``: then it is the x = 0 vertex and the
    empty lattice cell lies above it by its own formation energy (graphite: the stacking energy).

    Returns the hull (its ``vertex_indices`` and ``e_above_hull_eV_per_site`` refer to the
    orderings only), the orderings' on-hull flags, and whether the host is a vertex.
    """
    hull, on, host_vertex, _, _ = hull_with_phases(x, formation_energy_eV_per_site, host)
    return hull, on, host_vertex


def hull_with_phases(
    x: np.ndarray,
    formation_energy_eV_per_site: np.ndarray,
    host: bool,
    phase_x: np.ndarray | tuple = (),
    phase_formation_eV_per_site: np.ndarray | tuple = (),
) -> tuple[Hull, np.ndarray, bool, np.ndarray, np.ndarray]:
    """:func:`hull_with_host` with further line phases (staged compounds) among the points
    (none: the hull of the orderings and, when ``host``, the host).

    Returns the hull of everything (its ``vertex_indices`` and ``e_above_hull_eV_per_site``
    refer to the orderings only, its vertices may be line phases), the orderings' on-hull flags,
    whether the host is a vertex, and each line phase's energy above the hull and on-hull flag.
    """
    x = np.asarray(x, dtype=float)
    e = np.asarray(formation_energy_eV_per_site, dtype=float)
    px = np.asarray(phase_x, dtype=float)
    pe = np.asarray(phase_formation_eV_per_site, dtype=float)
    head = [0.0] if host else []
    full = convex_hull(np.r_[head, px, x], np.r_[head, pe, e])  # host, then phases win ties
    k0, k1 = len(head), len(head) + len(px)
    idx = full.vertex_indices
    on = np.zeros(len(x), dtype=bool)
    on[idx[idx >= k1] - k1] = True
    phase_on = np.zeros(len(px), dtype=bool)
    phase_on[idx[(idx >= k0) & (idx < k1)] - k0] = True
    hull = Hull(
        full.x,
        full.formation_energy_eV_per_site,
        full.e_above_hull_eV_per_site[k1:],
        idx[idx >= k1] - k1,
    )
    return hull, on, bool(host and np.any(idx == 0)), full.e_above_hull_eV_per_site[k0:k1], phase_on


def check_against_metal(hull: Hull) -> None:
    """Warn when some hull segment has a positive slope: there, plating Li metal is favoured."""
    for x_lo, x_hi, volt in hull.two_phase_regions():
        if volt < 0:
            warnings.warn(
                f"hull segment x = {x_lo:.3f}–{x_hi:.3f} has voltage {volt:.3f} V < 0 vs Li "
                "metal: Li plating is favoured over intercalation there",
                stacklevel=2,
            )
