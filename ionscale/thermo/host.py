"""Host mechanics with the potential: elastic constants, molar volume, chemical strain.

- Elastic constants (relaxed-ion, T = 0) from stress–strain: each of the six Voigt strains
  (engineering shear strains γ = 2ε) is applied at a few amplitudes, the ions are relaxed at
  fixed cell, and C_ij is the least-squares slope of stress σ_i against strain ε_j (ASE stress,
  positive in tension; Le Page & Saxe, Phys. Rev. B 65, 104104 (2002)). The tensor is
  symmetrised; its asymmetry is reported as a check. Each ensemble member gives its own tensor,
  and their spread is the stated uncertainty.
- Isotropic moduli by the Voigt–Reuss–Hill average (Hill, Proc. Phys. Soc. A 65, 349 (1952);
  pymatgen's ElasticTensor): E = 9KG/(3K + G), ν = (3K − 2G)/(2(3K + G)). For a layered host
  such as graphite this isotropic average is a crude stand-in for a polycrystalline particle.
- c_max and molar volume from the relaxed cell at x = 1 (Li sites per volume); the partial molar
  volume of Li, Ω = N_A dv/dx (v: volume per site), from a straight-line fit of the relaxed
  orderings' volumes against x (Vegard-like chemical strain: ΔV/V = Ω Δc), with the fit's
  standard error. With a separate empty host end member (orderings.h5 ``reference/host``, e.g.
  AB graphite) its volume per site formula unit (per C6) is the x = 0 point instead of the empty
  lattice cell's. Ω is non-zero only when the orderings relax their cell
  (``thermo.relax.relax_cell``: ``"c"`` or true); at fixed cell every ordering has one volume
  per site.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.units import A3_TO_M3, EV_PER_A3_TO_GPA, AVOGADRO_per_mol

log = logging.getLogger(__name__)


@dataclass
class ElasticResult:
    """Elastic constants (GPa, 6×6 Voigt) and their isotropic averages."""

    C_GPa: np.ndarray
    asymmetry_GPa: float
    bulk_modulus_vrh_GPa: float
    shear_modulus_vrh_GPa: float
    youngs_modulus_GPa: float
    poisson_ratio: float
    eigenvalues_GPa: np.ndarray
    strains: np.ndarray
    stresses_GPa: np.ndarray  # (6, n_strains, 6): applied component j, amplitude, σ_i


def voigt_strain_tensor(component: int, amplitude: float) -> np.ndarray:
    """Symmetric strain tensor of one Voigt component (shear: engineering strain γ = 2ε_ij)."""
    pairs = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    i, j = pairs[component]
    eps = np.zeros((3, 3))
    if i == j:
        eps[i, i] = amplitude
    else:
        eps[i, j] = eps[j, i] = amplitude / 2
    return eps


def strained(atoms: Atoms, eps: np.ndarray) -> Atoms:
    """A copy with the cell (and atoms, in fractional coordinates) deformed by I + ε."""
    out = atoms.copy()
    out.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
    return out


def _relaxed_stress(atoms: Atoms, calc: Any, fmax: float, steps: int) -> np.ndarray:
    from ase.optimize import BFGS

    a = atoms.copy()
    a.calc = calc
    if steps > 0:
        BFGS(a, logfile=None).run(fmax=fmax, steps=steps)
    return a.get_stress(voigt=True) * EV_PER_A3_TO_GPA


def isotropic_moduli(C_GPa: np.ndarray) -> tuple[float, float, float, float]:
    """(K_VRH, G_VRH, E, ν) of a 6×6 Voigt stiffness (GPa) via pymatgen's ElasticTensor."""
    from pymatgen.core.elasticity.elastic import ElasticTensor

    et = ElasticTensor.from_voigt(np.asarray(C_GPa, dtype=float))
    k, g = float(et.k_vrh), float(et.g_vrh)
    return k, g, 9 * k * g / (3 * k + g), (3 * k - 2 * g) / (2 * (3 * k + g))


def elastic_constants(
    atoms: Atoms,
    calc: Any,
    strains: Sequence[float] = (-0.01, -0.005, 0.005, 0.01),
    fmax_eV_A: float = 0.01,
    max_steps: int = 100,
) -> ElasticResult:
    """Relaxed-ion elastic constants of ``atoms`` (assumed relaxed) by stress–strain fits."""
    strains = np.asarray(strains, dtype=float)
    if len(strains) < 2 or np.any(strains == 0):
        raise ValueError(f"need ≥ 2 non-zero strain amplitudes, got {strains.tolist()}")
    stresses = np.empty((6, len(strains), 6))
    for j in range(6):
        for k, amp in enumerate(strains):
            deformed = strained(atoms, voigt_strain_tensor(j, amp))
            stresses[j, k] = _relaxed_stress(deformed, calc, fmax_eV_A, max_steps)
    C = np.empty((6, 6))
    for j in range(6):
        # slope of each stress component against the applied strain (intercept: residual stress)
        C[:, j] = np.polyfit(strains, stresses[j], 1)[0]
    asym = float(np.max(np.abs(C - C.T)))
    C = 0.5 * (C + C.T)
    eig = np.linalg.eigvalsh(C)
    if eig.min() <= 0:
        warnings.warn(
            f"elastic constants are not positive definite (eigenvalues {np.round(eig, 2)} GPa): "
            "the structure is mechanically unstable under the potential; its isotropic moduli "
            "are not meaningful",
            stacklevel=2,
        )
    k, g, e, nu = isotropic_moduli(C)
    return ElasticResult(C, asym, k, g, e, nu, eig, strains, stresses)


def energy_curvature_modulus(
    atoms: Atoms,
    calc: Any,
    component: int,
    amplitude: float,
    fmax_eV_A: float = 0.01,
    max_steps: int = 100,
) -> float:
    """(1/V) ∂²E/∂ε² (GPa) for one normal Voigt strain by central differences of the relaxed-ion
    energy: equals C_jj of the stress–strain fit (the identity the tests check)."""
    from ase.optimize import BFGS

    energies = []
    for s in (-amplitude, 0.0, amplitude):
        a = strained(atoms, voigt_strain_tensor(component, s))
        a.calc = calc
        if max_steps > 0:
            BFGS(a, logfile=None).run(fmax=fmax_eV_A, steps=max_steps)
        energies.append(a.get_potential_energy())
    d2 = (energies[0] - 2 * energies[1] + energies[2]) / amplitude**2
    return float(d2 / atoms.get_volume() * EV_PER_A3_TO_GPA)


@dataclass
class ChemicalStrain:
    """Volume per site vs x: straight-line fit v = v0 + (dv/dx)·x (Å³/site)."""

    v0_A3: float
    dv_dx_A3: float
    dv_dx_uncertainty_A3: float

    @property
    def partial_molar_volume_m3_mol(self) -> float:
        """Ω_Li = N_A dv/dx (m³/mol)."""
        return self.dv_dx_A3 * A3_TO_M3 * AVOGADRO_per_mol

    @property
    def partial_molar_volume_uncertainty_m3_mol(self) -> float:
        return self.dv_dx_uncertainty_A3 * A3_TO_M3 * AVOGADRO_per_mol


def chemical_strain(x: np.ndarray, volume_A3_per_site: np.ndarray) -> ChemicalStrain:
    """Least-squares line through (x, v); the slope's standard error from the residuals."""
    x, v = np.asarray(x, dtype=float), np.asarray(volume_A3_per_site, dtype=float)
    if len(np.unique(x)) < 2:
        raise ValueError("the chemical strain needs volumes at two or more Li fractions")
    coef, cov = np.polyfit(x, v, 1, cov=True) if len(x) > 3 else (np.polyfit(x, v, 1), None)
    err = float(np.sqrt(cov[0, 0])) if cov is not None else float("nan")
    return ChemicalStrain(float(coef[1]), float(coef[0]), err)


def chemical_strain_points(
    x: np.ndarray,
    volume_A3_per_site: np.ndarray,
    ok: np.ndarray,
    host_volume_A3_per_site: float | None = None,
    on_hull: np.ndarray | None = None,
    other_phases: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(x, v) the chemical strain is fitted to, sorted by x: the relaxed orderings, with the
    empty host end member (when given) as the x = 0 point in place of the empty lattice cell.

    With ``on_hull`` only the phases on the T = 0 hull count (and ``other_phases``, (x, v) of
    other hull phases such as staged compounds): at equilibrium a composition between two hull
    vertices is a lever-rule mixture of them, so its volume is linear between theirs, and
    that is what an intercalating particle swells by. The orderings above the hull are not
    phases of the material; in a layered host's lattice model their empty galleries also keep
    the lithiated cell's stacking (AA in LiC6, 0.17 Å wider than AB graphite's in DFT), which
    the real host avoids, so their volumes would bias the slope.
    """
    x, v, ok = (np.asarray(a) for a in (x, volume_A3_per_site, ok))
    keep = ok.astype(bool) if on_hull is None else ok.astype(bool) & np.asarray(on_hull, bool)
    if host_volume_A3_per_site is not None:
        keep &= x > 0
    fx, fv = x[keep].astype(float), v[keep].astype(float)
    if host_volume_A3_per_site is not None:
        fx, fv = np.r_[0.0, fx], np.r_[float(host_volume_A3_per_site), fv]
    if other_phases is not None:
        fx = np.r_[fx, np.asarray(other_phases[0], dtype=float)]
        fv = np.r_[fv, np.asarray(other_phases[1], dtype=float)]
    order = np.argsort(fx, kind="stable")
    return fx[order], fv[order]


def site_density(volume_A3_per_site: float) -> tuple[float, float]:
    """(c_max mol/m³, molar volume m³ per mol of sites) of a cell with given volume per site."""
    vm = volume_A3_per_site * A3_TO_M3 * AVOGADRO_per_mol
    return 1.0 / vm, vm


def host_properties(
    models: Sequence[str],
    li_fraction: np.ndarray,
    n_sites: np.ndarray,
    failed: np.ndarray,
    relaxed: Sequence[Atoms],
    strains: Sequence[float],
    fmax_eV_A: float,
    max_steps: int,
    elastic_li_fraction: float,
    host_volume_A3_per_site: float | None = None,
    gallery_spacing_A: np.ndarray | None = None,
    on_hull: np.ndarray | None = None,
    other_phases: tuple[np.ndarray, np.ndarray] | None = None,
    dispersion: Any = None,
) -> dict[str, Any]:
    """host.h5 datasets (name → Quantity) from the relaxed orderings and the DP ensemble.

    ``host_volume_A3_per_site``: the relaxed empty host end member's volume per site formula
    unit, the x = 0 point of the chemical strain and of ``c_max_host_volume_mol_m3`` in place of
    the empty lattice cell (None: the empty lattice cell). ``gallery_spacing_A``: the relaxed
    orderings' layer spacing c(x), recorded beside their volumes. ``on_hull`` (and
    ``other_phases``, (x, v) of the hull's staged compounds): the chemical strain is fitted to
    the hull phases only (:func:`chemical_strain_points`); None: every relaxed ordering.

    The end members (x = 0, 1) are the size-1 orderings. Elastic constants are computed for the
    end member ``elastic_li_fraction`` with every model (uncertainty: the ensemble's spread) and
    become ``elastic_constants_GPa`` / ``youngs_modulus_GPa`` / ``poisson_ratio``; the details
    (tensor, VRH moduli, eigenvalues, stress–strain data) are under ``elastic/x{0,1}/``.
    """
    from ionscale.io import Quantity
    from ionscale.thermo.atomistic import dp_calculator

    if elastic_li_fraction not in (0.0, 1.0):
        raise ValueError(f"elastic_li_fraction must be 0 or 1, got {elastic_li_fraction}")
    x = np.asarray(li_fraction, dtype=float)
    n_sites = np.asarray(n_sites, dtype=int)
    ok = ~np.asarray(failed, dtype=bool)
    vol = np.array([a.get_volume() for a in relaxed]) / n_sites
    ends = {}
    for v in (0.0, 1.0):
        idx = np.flatnonzero((x == v) & (n_sites == n_sites.min()) & ok)
        if not len(idx):
            raise ValueError(f"no relaxed end member at x = {v:g} for the host properties")
        ends[v] = int(idx[0])
    fit_x, fit_v = chemical_strain_points(
        x, vol, ok, host_volume_A3_per_site, on_hull, other_phases
    )
    strain = chemical_strain(fit_x, fit_v)
    c_max, vm = site_density(vol[ends[1.0]])
    v_empty = vol[ends[0.0]] if host_volume_A3_per_site is None else host_volume_A3_per_site
    c_max_host, _ = site_density(v_empty)
    d: dict[str, Any] = {
        "c_max_mol_m3": Quantity(c_max, "mol/m³", "Li sites per volume of the x = 1 cell"),
        "molar_volume_m3_mol": Quantity(vm, "m³/mol", "x = 1 cell volume per mole of Li sites"),
        "c_max_host_volume_mol_m3": Quantity(
            c_max_host, "mol/m³", "Li sites per volume of the x = 0 cell"
        ),
        "partial_molar_volume_Li_m3_mol": Quantity(
            strain.partial_molar_volume_m3_mol,
            "m³/mol",
            "N_A dv/dx (chemical strain)",
            strain.partial_molar_volume_uncertainty_m3_mol,
        ),
        "chemical_strain/li_fraction": Quantity(
            fit_x,
            "1",
            "fitted points: the hull phases (or every relaxed ordering), the host end member "
            "at x = 0",
        ),
        "chemical_strain/volume_A3_per_site": Quantity(
            fit_v, "Å³/site", "thermo stage's relaxed cells (DP model 0, or DFT: thermo.energies)"
        ),
        "chemical_strain/x0_is_host_structure": Quantity(
            np.int8(host_volume_A3_per_site is not None),
            "1",
            "1: x = 0 is the empty host end member, 0: the empty lattice cell",
        ),
        "chemical_strain/v0_A3_per_site": Quantity(strain.v0_A3, "Å³/site", "fit at x = 0"),
        "chemical_strain/dv_dx_A3_per_site": Quantity(
            strain.dv_dx_A3, "Å³/site", "fit slope", strain.dv_dx_uncertainty_A3
        ),
    }
    if gallery_spacing_A is not None:
        d["chemical_strain/ordering_li_fraction"] = Quantity(x[ok], "1", "relaxed orderings")
        d["chemical_strain/gallery_spacing_A"] = Quantity(
            np.asarray(gallery_spacing_A, dtype=float)[ok],
            "Å",
            "c(x): layer spacing of the thermo stage's relaxed cells (DP model 0, or DFT)",
        )
    log.info(
        "chemical strain: v = %.3f + %.3f x Å³/site, partial molar volume %.3g m³/mol",
        strain.v0_A3,
        strain.dv_dx_A3,
        strain.partial_molar_volume_m3_mol,
    )
    calcs = [dp_calculator(m, dispersion) for m in models]
    spread = len(calcs) > 1

    def std(values: list[Any]) -> Any:
        return np.std(np.array(values), axis=0, ddof=1) if spread else None

    for v in (elastic_li_fraction,):
        i = ends[v]
        results = [elastic_constants(relaxed[i], c, strains, fmax_eV_A, max_steps) for c in calcs]
        r0 = results[0]
        g = f"elastic/x{int(v)}"
        d.update(
            {
                f"{g}/C_GPa": Quantity(
                    r0.C_GPa,
                    "GPa",
                    "relaxed-ion, Voigt, DP model 0",
                    std([r.C_GPa for r in results]),
                ),
                f"{g}/bulk_modulus_vrh_GPa": Quantity(
                    r0.bulk_modulus_vrh_GPa,
                    "GPa",
                    "",
                    std([r.bulk_modulus_vrh_GPa for r in results]),
                ),
                f"{g}/shear_modulus_vrh_GPa": Quantity(
                    r0.shear_modulus_vrh_GPa,
                    "GPa",
                    "",
                    std([r.shear_modulus_vrh_GPa for r in results]),
                ),
                f"{g}/youngs_modulus_GPa": Quantity(
                    r0.youngs_modulus_GPa,
                    "GPa",
                    "VRH",
                    std([r.youngs_modulus_GPa for r in results]),
                ),
                f"{g}/poisson_ratio": Quantity(
                    r0.poisson_ratio, "1", "VRH", std([r.poisson_ratio for r in results])
                ),
                f"{g}/eigenvalues_GPa": Quantity(r0.eigenvalues_GPa, "GPa", "of C (stability)"),
                f"{g}/asymmetry_GPa": Quantity(r0.asymmetry_GPa, "GPa", "max |C − Cᵀ| before sym."),
                f"{g}/strains": Quantity(r0.strains, "1", "applied amplitudes"),
                f"{g}/stresses_GPa": Quantity(
                    r0.stresses_GPa, "GPa", "(component, amplitude, σ_i)"
                ),
            }
        )
        log.info(
            "elastic constants at x = %g (GPa):\n%s\nE = %.1f GPa, nu = %.3f",
            v,
            np.round(r0.C_GPa, 1),
            r0.youngs_modulus_GPa,
            r0.poisson_ratio,
        )
    g = f"elastic/x{int(elastic_li_fraction)}"
    for name, src in (
        ("elastic_constants_GPa", "C_GPa"),
        ("youngs_modulus_GPa", "youngs_modulus_GPa"),
        ("poisson_ratio", "poisson_ratio"),
    ):
        q = d[f"{g}/{src}"]
        d[name] = Quantity(
            q.value, q.units, f"{q.description} (x = {elastic_li_fraction:g})", q.uncertainty
        )
    return d
