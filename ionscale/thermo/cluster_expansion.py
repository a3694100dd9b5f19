"""A cluster expansion of the formation energies on the Li sublattice (icet + trainstation).

The energy of a decoration σ of the lattice is expanded in cluster functions,
E(σ)/N = Σ_α m_α J_α ⟨Π_α(σ)⟩ (Sanchez, Ducastelle & Gratias, Physica A 128, 334 (1984)), with
the effective cluster interactions J fitted by (regularised) least squares to the potential's
formation energies and judged by k-fold cross-validation (icet: Ångqvist et al., Adv. Theory
Simul. 2, 1900015 (2019)). icet normalises per atom of the lattice structure (framework atoms and
vacancies included), so a property per atom is stored and the errors are reported per
sublattice site, the unit of f(x).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.settings import default, default_factory
from ionscale.thermo.structures import HostLattice


@dataclass
class CESettings:
    """Cluster expansion and its fit.

    Parameters
    ----------
    cutoffs_A:
        Cluster radii (Å): pairs, triplets, ... (icet's ``cutoffs``).
    fit_method:
        trainstation fit method (``least-squares``, ``ardr``, ``lasso``, ``bayesian-ridge``, ...).
    n_splits:
        Folds of the k-fold cross-validation (capped at the number of structures).
    seed:
        Seed of the fold assignment.
    """

    cutoffs_A: list[float] = field(
        default_factory=default_factory("thermo.cluster_expansion.cutoffs_A")
    )
    fit_method: str = default("thermo.cluster_expansion.fit_method")
    n_splits: int = default("thermo.cluster_expansion.n_splits")
    seed: int = 0


def cluster_space(host: HostLattice, cutoffs_A: Sequence[float]) -> Any:
    """icet ClusterSpace of the host lattice: mobile species or vacancy on the sublattice."""
    from icet import ClusterSpace

    return ClusterSpace(host.primitive, list(cutoffs_A), host.allowed_symbols())


def atoms_per_site(host: HostLattice) -> float:
    """Atoms (lattice positions, framework included) per sublattice site."""
    return len(host.primitive) / host.n_sites


def fit_cluster_expansion(
    host: HostLattice,
    structures: Sequence[Atoms],
    formation_energy_eV_per_site: np.ndarray,
    settings: CESettings,
) -> tuple[Any, dict[str, Any]]:
    """Fit ECIs to formation energies of decorated lattice structures (vacancies as ``X``).

    Returns the icet ClusterExpansion (its per-atom property is the formation energy per atom of
    the lattice structure) and a summary: cross-validated and training RMSE (eV/site), number of
    structures and parameters, the ECIs.

    Raises
    ------
    ValueError
        Fewer structures than parameters for a least-squares fit, or fewer than 3 structures.
    """
    from icet import ClusterExpansion, StructureContainer
    from trainstation import CrossValidationEstimator

    energies = np.asarray(formation_energy_eV_per_site, dtype=float)
    if len(structures) != len(energies):
        raise ValueError(f"{len(structures)} structures but {len(energies)} energies")
    cs = cluster_space(host, settings.cutoffs_A)
    n_params = len(cs)
    if len(structures) < 3:
        raise ValueError(f"cluster expansion needs at least 3 structures, got {len(structures)}")
    if settings.fit_method.startswith("least-squares") and len(structures) <= n_params:
        raise ValueError(
            f"cluster expansion: {len(structures)} structures for {n_params} parameters "
            f"(cutoffs {settings.cutoffs_A} Å): use smaller thermo.cluster_expansion.cutoffs_A, "
            "more orderings (thermo.orderings.max_supercell_size) or a regularised fit_method"
        )
    sc = StructureContainer(cs)
    for atoms, e_site in zip(structures, energies, strict=True):
        n_sites = host.n_sites_in(atoms)
        per_atom = e_site * n_sites / len(atoms)
        sc.add_structure(
            atoms,
            user_tag=str(atoms.info.get("ordering_id", "")),
            properties={"formation_energy": per_atom},
        )
    A, y = sc.get_fit_data(key="formation_energy")
    n_splits = int(min(settings.n_splits, len(y)))
    cve = CrossValidationEstimator(
        (A, y),
        fit_method=settings.fit_method,
        validation_method="k-fold",
        n_splits=n_splits,
        seed=settings.seed,
    )
    cve.validate()
    cve.train()
    scale = atoms_per_site(host)  # per-atom → per-site errors
    ce = ClusterExpansion(cs, cve.parameters, metadata={"fit_method": settings.fit_method})
    predicted = A @ cve.parameters * scale
    summary = {
        "n_structures": len(y),
        "n_parameters": int(n_params),
        "cutoffs_A": list(settings.cutoffs_A),
        "fit_method": settings.fit_method,
        "n_splits": n_splits,
        "rmse_validation_eV_per_site": float(cve.rmse_validation * scale),
        "rmse_train_eV_per_site": float(np.sqrt(np.mean((predicted - energies) ** 2))),
        "max_abs_error_train_eV_per_site": float(np.max(np.abs(predicted - energies))),
        "parameters": np.asarray(cve.parameters).tolist(),
        "orbit_radii_A": [float(o.radius) for o in cs.orbit_list.orbits],
        "orbit_orders": [int(o.order) for o in cs.orbit_list.orbits],
        "predicted_formation_energy_eV_per_site": predicted.tolist(),
    }
    return ce, summary


def zero_interaction_expansion(host: HostLattice, cutoffs_A: Sequence[float]) -> Any:
    """A cluster expansion with every ECI zero: an ideal lattice gas (used as a known answer)."""
    from icet import ClusterExpansion

    cs = cluster_space(host, cutoffs_A)
    return ClusterExpansion(cs, np.zeros(len(cs)))
