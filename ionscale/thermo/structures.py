"""The host's Li sublattice and the symmetry-distinct Li/vacancy orderings on it.

The host is given as the fully lithiated structure (x = 1): every site of the mobile species is
one site of the sublattice, every other atom belongs to the host framework and never changes.
Orderings are the derivative superstructures of that lattice (Hart & Forcade, Phys. Rev. B 77,
224115 (2008); Phys. Rev. B 80, 014120 (2009)), enumerated by icet (Ångqvist et al., Adv. Theory
Simul. 2, 1900015 (2019)); vacancies are the pseudo-species ``"X"`` as in icet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

VACANCY = "X"


class HostStructureError(ValueError):
    """The host structure file cannot define a Li sublattice."""


@dataclass(frozen=True)
class HostLattice:
    """The lithiated host (x = 1) whose mobile-species sites form the sublattice.

    Parameters
    ----------
    primitive:
        Primitive cell of the lithiated host (Å), the mobile species on every sublattice site.
    mobile_species:
        Chemical symbol of the intercalating species, e.g. ``"Li"``.
    source:
        Where the structure came from (file name), for provenance and messages.
    """

    primitive: Atoms
    mobile_species: str = "Li"
    source: str = ""

    @property
    def site_indices(self) -> list[int]:
        """Indices of the sublattice sites in :attr:`primitive`."""
        return [
            i
            for i, s in enumerate(self.primitive.get_chemical_symbols())
            if s == self.mobile_species
        ]

    @property
    def n_sites(self) -> int:
        """Sublattice sites per primitive cell."""
        return len(self.site_indices)

    @property
    def host_symbols(self) -> list[str]:
        """Sorted element symbols of the framework (the atoms that never change)."""
        return sorted(set(self.primitive.get_chemical_symbols()) - {self.mobile_species})

    def allowed_symbols(self) -> list[list[str]]:
        """Allowed species per site (icet format): mobile species or vacancy on the sublattice."""
        return [
            [self.mobile_species, VACANCY] if s == self.mobile_species else [s]
            for s in self.primitive.get_chemical_symbols()
        ]

    def end_member(self, x: float) -> Atoms:
        """The primitive cell at x = 0 (all sites vacant, ``X``) or x = 1 (all occupied)."""
        if x not in (0, 1, 0.0, 1.0):
            raise ValueError(f"end members are x = 0 and x = 1, not {x}")
        atoms = self.primitive.copy()
        if x == 0:
            symbols = atoms.get_chemical_symbols()
            for i in self.site_indices:
                symbols[i] = VACANCY
            atoms.set_chemical_symbols(symbols)
        return atoms

    def li_fraction(self, atoms: Atoms) -> float:
        """Site fraction x of a decorated lattice structure (mobile species / sublattice sites)."""
        symbols = np.array(atoms.get_chemical_symbols())
        n_li = int(np.sum(symbols == self.mobile_species))
        n_sites = n_li + int(np.sum(symbols == VACANCY))
        return n_li / n_sites

    def n_sites_in(self, atoms: Atoms) -> int:
        """Sublattice sites in a decorated lattice structure (mobile species + vacancies)."""
        symbols = np.array(atoms.get_chemical_symbols())
        return int(np.sum(symbols == self.mobile_species) + np.sum(symbols == VACANCY))


def load_host(
    file: str | Path | None = None,
    prototype: str | None = None,
    mobile_species: str = "Li",
    symprec: float = 1e-3,
) -> HostLattice:
    """The lithiated host (x = 1) from a structure file or a named prototype, reduced to its
    primitive cell; read and validated by the reference stage's loader
    (:func:`ionscale.reference.structures.load_structure`), so both stages see one host.

    Raises
    ------
    HostStructureError
        File missing or unreadable, unknown prototype, no ``mobile_species`` atoms, only
        mobile-species atoms, or overlapping atoms (closer than 0.5 Å).
    """
    from icet.tools.geometry import get_primitive_structure

    from ionscale.reference.structures import StructureError, load_structure, validate_structure

    name = str(file) if file else f"prototype {prototype}"
    try:
        atoms = load_structure(file=file or None, prototype=prototype or None)
        validate_structure(atoms, name, min_distance_A=0.5, mobile_species=mobile_species)
    except StructureError as exc:
        raise HostStructureError(f"host structure: {exc}") from None
    if set(atoms.get_chemical_symbols()) == {mobile_species}:
        raise HostStructureError(f"host structure {name} holds only {mobile_species}: no host")
    primitive = get_primitive_structure(atoms, no_idealize=True, symprec=symprec)
    return HostLattice(primitive=primitive, mobile_species=mobile_species, source=name)


def enumerate_orderings(host: HostLattice, max_size: int, max_structures: int = 0) -> list[Atoms]:
    """Symmetry-distinct orderings of mobile species and vacancies in supercells of 1..max_size.

    Each structure keeps its vacancies as ``"X"`` atoms (the cluster expansion needs the full
    lattice) and carries ``info`` keys ``ordering_id``, ``li_fraction``, ``n_sites`` and
    ``supercell_size`` (primitive cells). Both end members (x = 0, x = 1) are always included.

    Parameters
    ----------
    host:
        The lattice.
    max_size:
        Largest supercell, in primitive cells.
    max_structures:
        If > 0, keep at most this many (both end members, then the smallest cells first).
    """
    from icet.tools import enumerate_structures

    if max_size < 1:
        raise ValueError(f"max_size must be ≥ 1, got {max_size}")
    out = []
    for k, atoms in enumerate(
        enumerate_structures(host.primitive, range(1, max_size + 1), host.allowed_symbols())
    ):
        n_sites = host.n_sites_in(atoms)
        atoms.info.update(
            ordering_id=f"ord{k:05d}",
            li_fraction=host.li_fraction(atoms),
            n_sites=n_sites,
            supercell_size=n_sites // host.n_sites,
        )
        out.append(atoms)
    if max_structures and len(out) > max_structures:
        ends = [
            a
            for a in out
            if a.info["li_fraction"] in (0.0, 1.0) and a.info["n_sites"] == host.n_sites
        ]
        rest = [a for a in out if not any(a is e for e in ends)]
        out = ends + rest[: max(0, max_structures - len(ends))]
    return out


def strip_vacancies(atoms: Atoms) -> Atoms:
    """A copy without the vacancy pseudo-atoms (what the potential sees)."""
    keep = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s != VACANCY]
    out = atoms[keep]
    out.info = dict(atoms.info)
    return out


def bcc_metal(symbol: str = "Li", lattice_constant_A: float = 3.44) -> Atoms:
    """Conventional 2-atom bcc cell of the metal reference (Å)."""
    from ase.build import bulk

    return bulk(symbol, "bcc", a=lattice_constant_A, cubic=True)


def framework_formula_units(atoms: Atoms, host: HostLattice, what: str) -> float:
    """How many framework formula units of one sublattice site ``atoms`` holds (graphite: C6
    per Li site, so a 4-atom AB graphite cell holds 4/6).

    Raises
    ------
    HostStructureError
        ``atoms`` holds the mobile species, or its elements or their proportions differ from the
        lithiated host's framework (naming both compositions).
    """
    from collections import Counter

    per_site = Counter(s for s in host.primitive.get_chemical_symbols() if s != host.mobile_species)
    counts = Counter(atoms.get_chemical_symbols())
    framework = ", ".join(f"{el}{n / host.n_sites:g}" for el, n in sorted(per_site.items()))
    if host.mobile_species in counts:
        raise HostStructureError(
            f"{what}: the empty host must hold no {host.mobile_species}; it has "
            f"{atoms.get_chemical_formula()}"
        )
    ratios = {el: counts[el] * host.n_sites / per_site[el] for el in per_site}
    if set(counts) != set(per_site) or max(ratios.values()) - min(ratios.values()) > 1e-9:
        raise HostStructureError(
            f"{what}: {atoms.get_chemical_formula()} is not the framework of the lithiated host "
            f"{host.source} ({framework} per {host.mobile_species} site): the x = 0 reference "
            "must be the same framework without the mobile species"
        )
    return float(next(iter(ratios.values())))


def layer_count(atoms: Atoms, symbols: list[str], tolerance_A: float = 0.3) -> int:
    """Layers of the atoms ``symbols`` (the framework) along z in a cell whose a and b lie in the
    xy plane: distinct heights within ``tolerance_A``, periodic in the cell's height c_z."""
    c_z = float(atoms.cell[2, 2])
    mine = np.isin(atoms.get_chemical_symbols(), symbols)
    z = np.sort(np.mod(atoms.positions[mine, 2], c_z))
    if not len(z):
        raise ValueError("no framework atoms to count layers of")
    gaps = np.diff(np.append(z, z[0] + c_z))
    return max(1, int(np.sum(gaps > tolerance_A)))


def gallery_spacing_A(reference: Atoms, relaxed: Atoms, spacing_reference_A: float) -> float:
    """The spacing of the layers (normal z in ``reference``) after the cell deformed from
    ``reference``'s to ``relaxed``'s: planes z = k·d map to planes of normal M⁻¹ẑ with spacing
    d / |M⁻¹ẑ|, M = reference.cell⁻¹ · relaxed.cell (cell vectors as rows). Positions inside
    the cell do not enter: this is the mean spacing over the cell's galleries."""
    m = np.linalg.solve(np.asarray(reference.cell), np.asarray(relaxed.cell))
    normal = np.linalg.solve(m, np.array([0.0, 0.0, 1.0]))
    return float(spacing_reference_A / np.linalg.norm(normal))
