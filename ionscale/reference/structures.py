"""Structures in: files or named prototypes, supercells, the mobile-ion sublattice, validation.

A structure comes from a file that ASE reads (CIF, POSCAR, extxyz, ...; pymatgen is tried when
ASE fails) or from a named prototype built here from experimental lattice parameters:

- ``LiC6``: stage-1 LiC6, AA-stacked graphene layers with Li above every hexagon centre of
  every gallery, P6/mmm, a = 4.305 Å, c = 3.706 Å (Guérard and Hérold, Carbon 13, 337 (1975)).
- ``graphite-AB``: Bernal (AB) graphite, P6₃/mmc, a = 2.464 Å, c = 6.711 Å (Trucano and Chen,
  Nature 258, 136 (1975)); the empty host.
- ``Li-bcc``: bcc lithium, Im-3m, a = 3.51004 Å at 25 °C (Nadler and Kempter, Anal. Chem. 31,
  2109 (1959)); the Li-metal reference of voltages.

The files under ``resources/`` are these prototypes written out (resources/README.md).

The mobile-ion sublattice is the set of sites the mobile species occupies in the fully
occupied structure; its site fraction ``x = n_mobile / (n_host * sites_per_host_atom)`` (x of
Li_xC6) is defined relative to the number of host atoms, so it is the same for every
supercell and for frames with vacancies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms


class StructureError(ValueError):
    """A structure file or prototype is missing, unreadable or physically unusable."""


#: Experimental lattice parameters, Å (see the module docstring for sources).
LIC6_A_A = 4.305
LIC6_C_A = 3.706
GRAPHITE_A_A = 2.464
GRAPHITE_C_A = 6.711
LI_BCC_A_A = 3.51004


def _hexagonal_cell(a: float, c: float) -> np.ndarray:
    return np.array([[a, 0.0, 0.0], [-a / 2, a * np.sqrt(3) / 2, 0.0], [0.0, 0.0, c]])


def lic6_aa(a: float = LIC6_A_A, c: float = LIC6_C_A) -> Atoms:
    """Stage-1 LiC6 (P6/mmm): Li at 1a (0, 0, 0), C at 6k (1/3, 0, 1/2) and equivalents.

    The six C atoms form the hexagon around the Li column (C–C = a/3 = 1.435 Å); 7 atoms.
    """
    carbon = [(1 / 3, 0), (0, 1 / 3), (2 / 3, 2 / 3), (2 / 3, 0), (0, 2 / 3), (1 / 3, 1 / 3)]
    frac = [(0.0, 0.0, 0.0)] + [(x, y, 0.5) for x, y in carbon]
    return Atoms("LiC6", scaled_positions=frac, cell=_hexagonal_cell(a, c), pbc=True)


def graphite_ab(a: float = GRAPHITE_A_A, c: float = GRAPHITE_C_A) -> Atoms:
    """Bernal graphite (P6₃/mmc): C at 2b (0, 0, 1/4) and 2c (1/3, 2/3, 1/4); 4 atoms."""
    frac = [(0, 0, 0.25), (0, 0, 0.75), (1 / 3, 2 / 3, 0.25), (2 / 3, 1 / 3, 0.75)]
    return Atoms("C4", scaled_positions=frac, cell=_hexagonal_cell(a, c), pbc=True)


def li_bcc(a: float = LI_BCC_A_A) -> Atoms:
    """Conventional cubic cell of bcc Li; 2 atoms."""
    from ase.build import bulk

    return bulk("Li", "bcc", a=a, cubic=True)


#: Named prototypes (name -> builder with experimental defaults).
PROTOTYPES: dict[str, Callable[[], Atoms]] = {
    "LiC6": lic6_aa,
    "graphite-AB": graphite_ab,
    "Li-bcc": li_bcc,
}


def load_structure(file: str | Path | None = None, prototype: str | None = None) -> Atoms:
    """Read a structure file or build a named prototype (exactly one of the two).

    Raises
    ------
    StructureError
        Neither or both given; an unknown prototype; a missing or unreadable file (the message
        names the file and what the readers said); a structure that is not periodic in 3D.
    """
    if bool(file) == bool(prototype):
        raise StructureError(
            f"give exactly one of a structure file or a prototype (got file={file!r}, "
            f"prototype={prototype!r}); prototypes: {', '.join(PROTOTYPES)}"
        )
    if prototype:
        if prototype not in PROTOTYPES:
            raise StructureError(f"unknown prototype {prototype!r}; known: {', '.join(PROTOTYPES)}")
        atoms = PROTOTYPES[prototype]()
        name = f"prototype {prototype}"
    else:
        path = Path(file)
        if not path.is_file():
            raise StructureError(f"structure file {path} does not exist")
        atoms = _read_any(path)
        name = str(path)
        _refuse_partial_occupancy(atoms, name)
    if not all(atoms.pbc) or abs(atoms.get_volume()) < 1e-6:
        raise StructureError(f"{name}: not a 3D-periodic crystal (pbc={atoms.pbc.tolist()})")
    atoms.info = {}
    return atoms


def _refuse_partial_occupancy(atoms: Atoms, name: str) -> None:
    """A site with occupancy below 1 (a disordered CIF) is not a structure DFT or MD can take:
    reading it as fully occupied would silently change the composition. Order it first (e.g.
    pymatgen's ``OrderDisorderedStructureTransformation``) and give the ordered cell."""
    occupancy = atoms.info.get("occupancy") or {}
    partial = [
        f"site {site} {sym} {occ:g}"
        for site, species in occupancy.items()
        for sym, occ in species.items()
        if occ < 1 - 1e-6
    ]
    if partial:
        raise StructureError(
            f"{name}: partial occupancies ({', '.join(partial[:5])}"
            f"{', ...' if len(partial) > 5 else ''}); give an ordered structure with every "
            "site fully occupied (e.g. ordered with pymatgen's "
            "OrderDisorderedStructureTransformation)"
        )


def _read_any(path: Path) -> Atoms:
    """ASE's readers first; pymatgen's as a fallback (it reads some CIFs ASE rejects)."""
    import ase.io

    errors = []
    try:
        atoms = ase.io.read(path, index=0)
        if len(atoms):
            return atoms
        errors.append("ase.io: no atoms in file")
    except Exception as exc:  # ASE raises many exception types for malformed input
        errors.append(f"ase.io: {type(exc).__name__}: {exc}")
    try:
        from pymatgen.core import Structure
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_atoms(Structure.from_file(str(path)))
    except Exception as exc:
        errors.append(f"pymatgen: {type(exc).__name__}: {exc}")
    raise StructureError(f"cannot read structure file {path}: " + "; ".join(errors))


def closest_pair(atoms: Atoms, cutoff_A: float = 4.0) -> tuple[float, int, int]:
    """Shortest interatomic distance (Å) under periodic boundary conditions, and its pair.

    Pairs farther apart than ``cutoff_A`` are not searched: the result is ``(inf, -1, -1)``
    when there are none. An atom's distance to its own periodic image counts.
    """
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, cutoff_A)
    if len(d) == 0:
        return float("inf"), -1, -1
    k = int(np.argmin(d))
    return float(d[k]), int(i[k]), int(j[k])


def validate_structure(
    atoms: Atoms,
    name: str,
    min_distance_A: float,
    mobile_species: str | None = None,
) -> None:
    """Stop before any DFT on a structure without the mobile species or with overlapping atoms.

    Raises
    ------
    StructureError
        Names the structure, the missing species or the offending atom pair and distance.
    """
    if mobile_species is not None and mobile_species not in atoms.get_chemical_symbols():
        raise StructureError(
            f"{name}: contains no {mobile_species} (the mobile species); it has "
            f"{atoms.get_chemical_formula()}"
        )
    d, i, j = closest_pair(atoms, cutoff_A=max(min_distance_A, 1e-3) * 1.001)
    if d < min_distance_A:
        sym = atoms.get_chemical_symbols()
        raise StructureError(
            f"{name}: atoms {i} ({sym[i]}) and {j} ({sym[j]}) are {d:.3f} Å apart, closer than "
            f"the minimum distance {min_distance_A} Å (overlapping atoms)"
        )


def make_supercell(atoms: Atoms, repeats: Sequence[int]) -> Atoms:
    """Repeat the cell ``repeats`` times along its three lattice vectors."""
    reps = tuple(int(r) for r in repeats)
    if len(reps) != 3 or min(reps) < 1:
        raise StructureError(f"supercell repeats must be three integers >= 1, got {list(repeats)}")
    return atoms.repeat(reps)


def sublattice_indices(atoms: Atoms, species: str) -> np.ndarray:
    """Indices of the atoms of ``species`` (the sites of its sublattice when fully occupied)."""
    return np.flatnonzero(np.asarray(atoms.get_chemical_symbols()) == species)


def sites_per_host_atom(atoms: Atoms, mobile_species: str) -> float:
    """Mobile-ion sites per host atom in a fully occupied structure (1/6 for LiC6)."""
    n_mobile = len(sublattice_indices(atoms, mobile_species))
    n_host = len(atoms) - n_mobile
    if n_mobile == 0 or n_host == 0:
        raise StructureError(
            f"{atoms.get_chemical_formula()}: needs both {mobile_species} sites and host atoms to "
            "define a site fraction"
        )
    return n_mobile / n_host


def site_fraction(atoms: Atoms, mobile_species: str, sites_per_host: float) -> float:
    """Occupied fraction x of the mobile-ion sites; NaN for a frame without host atoms.

    ``x = n_mobile / (n_host * sites_per_host)``: x of Li_xC6 for graphite. Li metal has no
    host and no site fraction (NaN, as the data contract requires).
    """
    n_mobile = len(sublattice_indices(atoms, mobile_species))
    n_host = len(atoms) - n_mobile
    if n_host == 0:
        return float("nan")
    return float(n_mobile / (n_host * sites_per_host))


def staged_structure(
    lithiated: Atoms,
    stage: int,
    mobile_species: str = "Li",
    empty_gallery_A: float = GRAPHITE_C_A / 2,
) -> Atoms:
    """A stage-``n`` intercalation compound of a layered host: the mobile species in every
    ``n``-th gallery, the empty galleries AB (Bernal) stacked, the filled ones AA.

    ``lithiated`` is the fully occupied primitive cell of a layered host with one framework
    layer per cell (stage 1, e.g. LiC6: one graphene layer, one Li layer, third cell vector
    along the stacking normal). The stage-``n`` cell holds ``n`` framework layers and one layer
    of the mobile species (x = 1/n: LiC12 is stage 2). Successive layers across an empty gallery
    are shifted by one nearest-neighbour framework bond (which puts half the atoms over the
    other layer's atoms and half over its ring centres: AB stacking); across the filled gallery
    the layers are eclipsed (AA, the Li sits between two ring centres, as in LiC6). The cell
    closes by tilting its third vector by the sum of the shifts, the smallest cell that allows
    both (the staging sequence beyond nearest layers, ABC-like, costs meV at most). Galleries
    start at the stage-1 height (filled) and ``empty_gallery_A`` (empty; graphite's 3.355 Å):
    relax the cell to get the compound's own.

    Raises
    ------
    StructureError
        ``stage`` < 1, or the host is not one planar framework layer plus one mobile layer
        per cell with the third vector along the normal.
    """
    if stage < 1:
        raise StructureError(f"stage must be ≥ 1, got {stage}")
    a1, a2, a3 = (np.array(v, dtype=float) for v in lithiated.cell)
    normal = np.cross(a1, a2)
    normal /= np.linalg.norm(normal)
    height = float(a3 @ normal)
    symbols = np.array(lithiated.get_chemical_symbols())
    mobile = symbols == mobile_species
    z = lithiated.positions @ normal
    if (
        not mobile.any()
        or mobile.all()
        or np.linalg.norm(a3 - height * normal) > 1e-6
        or np.ptp(z[~mobile]) > 0.1
        or np.ptp(z[mobile]) > 0.1
    ):
        raise StructureError(
            "staging needs a layered host with one planar framework layer and one layer of "
            f"{mobile_species} per cell, the third cell vector along the layer normal; got "
            f"{lithiated.get_chemical_formula()} with framework z-spread "
            f"{np.ptp(z[~mobile]) if (~mobile).any() else 0:.2f} Å"
        )
    if stage == 1:
        return lithiated.copy()
    layer = lithiated[~mobile]
    ions = lithiated[mobile]
    # nearest-neighbour bond of the framework layer (minimum image, in-plane)
    from ase.neighborlist import neighbor_list

    dvec = neighbor_list("D", layer, 2.0 * float(np.min(layer.cell.lengths()[:2])))
    bond = dvec[np.argmin(np.linalg.norm(dvec, axis=1))]
    bond = bond - (bond @ normal) * normal
    gallery = [empty_gallery_A] * (stage - 1) + [height]
    z_layer0 = float(layer.positions[0] @ normal)
    z_ion_above = (float(ions.positions[0] @ normal) - z_layer0) % height  # ion above its layer
    atoms = Atoms(cell=[a1, a2, (stage - 1) * bond + sum(gallery) * normal], pbc=True)
    z = 0.0
    for k in range(stage):
        shifted = layer.copy()
        shifted.positions += k * bond + (z - z_layer0) * normal
        atoms += shifted
        if k < stage - 1:
            z += gallery[k]
    top = ions.copy()  # the filled gallery, above the last layer, laterally with it
    top.positions += (stage - 1) * bond + (
        z + z_ion_above - float(ions.positions[0] @ normal)
    ) * normal
    atoms += top
    atoms.wrap()
    return atoms
