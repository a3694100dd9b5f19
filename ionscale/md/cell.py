"""The md stage's cell: the host structure (reference stage) repeated, with mobile-ion vacancies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ionscale.md.settings import MDInputError


def build_md_cell(
    host,
    supercell: Sequence[int],
    mobile_species: str,
    mobile_vacancies: int = 0,
    seed: int = 0,
    min_distance_A: float = 0.5,
    name: str = "host structure",
):
    """The MD cell: the host structure (reference stage) repeated, with mobile-ion vacancies.

    Parameters
    ----------
    host:
        Fully occupied host with the mobile species (ase.Atoms, e.g. LiC6), from
        :func:`ionscale.reference.structures.load_structure` (config ``reference.structure``).
    supercell:
        Repetitions along the three cell vectors (``md.supercell``).
    mobile_species:
        Element that diffuses (``reference.mobile_species``); must be in the host.
    mobile_vacancies:
        Mobile atoms removed, chosen at random with ``seed`` (``md.mobile_vacancies``), so that
        vacancy-mediated hops can happen in a stoichiometric host.
    min_distance_A:
        Atoms closer than this in the starting cell are an error.
    name:
        Named in errors.

    Returns
    -------
    ase.Atoms
    """
    from ionscale.reference.structures import (
        StructureError,
        make_supercell,
        sublattice_indices,
        validate_structure,
    )

    try:
        validate_structure(host, name, min_distance_A, mobile_species)
        atoms = make_supercell(host, supercell)
    except StructureError as exc:
        raise MDInputError(f"md: {exc} (reference.structure, md.supercell)") from None
    mobile = sublattice_indices(atoms, mobile_species)
    if mobile_vacancies >= len(mobile):
        raise MDInputError(
            f"md.mobile_vacancies = {mobile_vacancies} would remove every one of the "
            f"{len(mobile)} {mobile_species} atoms of the {list(supercell)} supercell"
        )
    if mobile_vacancies > 0:
        rng = np.random.default_rng(seed)
        del atoms[sorted(rng.choice(mobile, size=mobile_vacancies, replace=False).tolist())]
    atoms.info.clear()
    atoms.info["mobile_vacancies"] = int(mobile_vacancies)  # recorded in trajectory.h5
    atoms.calc = None
    return atoms


def md_stage_cell(cfg: Mapping[str, Any], structure_file: str | None):
    """The md stage's cell from the config, as every rule that runs where the MD runs builds it.

    The host of ``reference.structure`` (``structure_file``, the resolved file, else the
    prototype) repeated by ``md.supercell`` with ``md.mobile_vacancies`` vacancies drawn with the
    md stage's seed, so the md runs and active learning's convergence check share one cell.
    ``cfg`` holds ``seed``, ``reference`` (structure prototype, mobile species) and ``md``.
    """
    from ionscale.config import derive_seed
    from ionscale.reference.stage import role_structure

    ref, md = cfg["reference"], cfg["md"]
    prototype = ref["structure"]["prototype"]
    host = role_structure(structure_file, prototype, "reference.structure")
    return build_md_cell(
        host,
        md["supercell"],
        ref["mobile_species"],
        md["mobile_vacancies"],
        seed=derive_seed(cfg["seed"], "md", "vacancies"),
        min_distance_A=md["min_distance_A"],
        name=structure_file or prototype,
    )
