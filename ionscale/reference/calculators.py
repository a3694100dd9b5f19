"""A registry of named DFT calculators, built from one set of physical settings.

The config names a calculator (``gpaw``, ``vasp``, ``espresso``, ``cp2k``) and gives the
physics once: plane-wave cutoff, k-point density, exchange-correlation functional, spin,
smearing, SCF limits and dispersion. Each registry entry translates these into its code's own
keywords (units included: Quantum ESPRESSO wants Rydberg, CP2K an electronic temperature), so
switching codes does not silently switch physics. Code-specific keywords that have no generic
counterpart (pseudopotential files, basis sets, a run command) pass through
``calculator.parameters`` verbatim.

- k-points: a Γ-centred Monkhorst–Pack grid with ``n_i = ceil(2π |b_i| ρ)`` points along
  reciprocal vector ``b_i`` (ρ in points per Å⁻¹; ASE's ``kptdensity2monkhorstpack``), the same
  rule for every code.
- Dispersion: Grimme's D3 (Grimme et al., J. Chem. Phys. 132, 154104 (2010); Becke–Johnson
  damping: Grimme et al., J. Comput. Chem. 32, 1456 (2011)) from the ``dftd3`` library, added
  to any code's energies, forces and stress by ASE's ``SumCalculator``. Graphite needs it: plain
  GGA hardly binds its layers. One implementation for every code keeps data from different
  codes comparable.

An unknown name is a :class:`~ionscale.config.ConfigError` that lists the known ones.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.units import Rydberg, kB

from ionscale.config import ConfigError
from ionscale.settings import default, default_factory, from_section

SMEARINGS = ("fermi-dirac", "marzari-vanderbilt", "methfessel-paxton")
DISPERSIONS = ("none", "d3-bj", "d3-zero")


@dataclass(frozen=True)
class CalculatorSettings:
    """Physical settings of the reference DFT calculations.

    Parameters
    ----------
    name:
        Registry name of the calculator (:data:`CALCULATORS`).
    cutoff_eV:
        Plane-wave kinetic-energy cutoff, eV (CP2K: cutoff of the finest density grid, eV).
    kpoint_density_per_A:
        k-point density, points per Å⁻¹ of reciprocal-vector length (Γ-centred grid).
    xc:
        Exchange-correlation functional (e.g. ``"PBE"``).
    spin_polarized:
        Spin-polarised calculation; atoms without initial moments start from 1 μB each.
    smearing:
        Occupation smearing: one of :data:`SMEARINGS`.
    smearing_width_eV:
        Smearing width, eV.
    dispersion:
        ``"none"``, ``"d3-bj"`` or ``"d3-zero"`` (DFT-D3 with BJ or zero damping).
    scf_max_iterations:
        SCF iteration limit; a frame that needs more is recorded as a failure.
    scf_energy_tolerance_eV:
        SCF energy convergence, eV per atom (GPAW applies it per valence electron, which is at
        least as strict for the setups used here).
    command:
        Command that runs an external code (VASP, pw.x, cp2k_shell); empty: the code's default.
    parameters:
        Extra code-specific keyword arguments passed verbatim to the ASE calculator.
    """

    name: str = default("reference.calculator.name")
    cutoff_eV: float = default("reference.calculator.cutoff_eV")
    kpoint_density_per_A: float = default("reference.calculator.kpoint_density_per_A")
    xc: str = default("reference.calculator.xc")
    spin_polarized: bool = default("reference.calculator.spin_polarized")
    smearing: str = default("reference.calculator.smearing")
    smearing_width_eV: float = default("reference.calculator.smearing_width_eV")
    dispersion: str = default("reference.calculator.dispersion")
    scf_max_iterations: int = default("reference.calculator.scf_max_iterations")
    scf_energy_tolerance_eV: float = default("reference.calculator.scf_energy_tolerance_eV")
    command: str = default("reference.calculator.command")
    parameters: Mapping[str, Any] = field(
        default_factory=default_factory("reference.calculator.parameters")
    )

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CalculatorSettings:
        """From the ``reference.calculator`` config section (keys as in the schema)."""
        return from_section(cls, cfg, "reference.calculator")


def kpoint_grid(atoms: Atoms, density_per_A: float) -> tuple[int, int, int]:
    """Γ-centred Monkhorst–Pack grid for a k-point density (points per Å⁻¹)."""
    from ase.calculators.calculator import kptdensity2monkhorstpack

    grid = kptdensity2monkhorstpack(atoms, kptdensity=density_per_A, even=False)
    return tuple(int(max(1, n)) for n in grid)


def _gpaw_parameters(s: CalculatorSettings, atoms: Atoms) -> dict[str, Any]:
    occupations: dict[str, Any] = {"name": s.smearing, "width": s.smearing_width_eV}
    if s.smearing == "methfessel-paxton":
        occupations["order"] = 1
    params = {
        "mode": {"name": "pw", "ecut": s.cutoff_eV},
        "xc": s.xc,
        "kpts": {"size": kpoint_grid(atoms, s.kpoint_density_per_A), "gamma": True},
        "occupations": occupations,
        "spinpol": s.spin_polarized,
        "maxiter": s.scf_max_iterations,
        "convergence": {"energy": s.scf_energy_tolerance_eV},
    }
    return {**params, **copy.deepcopy(dict(s.parameters))}


def _build_gpaw(s: CalculatorSettings, atoms: Atoms, directory: Path, txt: Any) -> Any:
    from gpaw import GPAW, PW

    params = _gpaw_parameters(s, atoms)
    mode = params.pop("mode")
    if isinstance(mode, dict) and mode.get("name") == "pw":
        mode = PW(mode["ecut"])
    return GPAW(mode=mode, txt=txt, **params)


_VASP_ISMEAR = {"fermi-dirac": -1, "methfessel-paxton": 1}


def _vasp_parameters(s: CalculatorSettings, atoms: Atoms) -> dict[str, Any]:
    if s.smearing not in _VASP_ISMEAR:
        raise ConfigError(
            f"reference.calculator.smearing: {s.smearing!r} has no VASP ISMEAR; use one of "
            f"{sorted(_VASP_ISMEAR)} with vasp"
        )
    params = {
        "xc": s.xc,
        "encut": s.cutoff_eV,
        "kpts": kpoint_grid(atoms, s.kpoint_density_per_A),
        "gamma": True,
        "ismear": _VASP_ISMEAR[s.smearing],
        "sigma": s.smearing_width_eV,
        "ispin": 2 if s.spin_polarized else 1,
        "nelm": s.scf_max_iterations,
        "ediff": s.scf_energy_tolerance_eV * len(atoms),
        "prec": "Accurate",
        "lreal": False,
        "ibrion": -1,
        "nsw": 0,
        "isif": 2,  # ISIF=2 still computes the stress tensor of a single point
        "lwave": False,
        "lcharg": False,
    }
    return {**params, **copy.deepcopy(dict(s.parameters))}


def _build_vasp(s: CalculatorSettings, atoms: Atoms, directory: Path, txt: Any) -> Any:
    from ase.calculators.vasp import Vasp

    return Vasp(directory=str(directory), command=s.command or None, **_vasp_parameters(s, atoms))


_QE_SMEARING = {"fermi-dirac": "fd", "marzari-vanderbilt": "mv", "methfessel-paxton": "mp"}


def _espresso_parameters(s: CalculatorSettings, atoms: Atoms) -> dict[str, Any]:
    extra = copy.deepcopy(dict(s.parameters))
    pseudos = extra.pop("pseudopotentials", None)
    missing = sorted(set(atoms.get_chemical_symbols()) - set(pseudos or {}))
    if missing:
        raise ConfigError(
            "reference.calculator.parameters.pseudopotentials: Quantum ESPRESSO needs a "
            f"pseudopotential file for each element; none given for {missing}"
        )
    input_data: dict[str, dict[str, Any]] = {
        "control": {"calculation": "scf", "tprnfor": True, "tstress": True},
        "system": {
            "ecutwfc": s.cutoff_eV / Rydberg,
            "occupations": "smearing",
            "smearing": _QE_SMEARING[s.smearing],
            "degauss": s.smearing_width_eV / Rydberg,
            "nspin": 2 if s.spin_polarized else 1,
            "input_dft": s.xc,
        },
        "electrons": {
            "electron_maxstep": s.scf_max_iterations,
            "conv_thr": s.scf_energy_tolerance_eV * len(atoms) / Rydberg,
        },
    }
    for section, values in extra.pop("input_data", {}).items():
        input_data.setdefault(section, {}).update(values)
    return {
        "input_data": input_data,
        "pseudopotentials": pseudos,
        "kpts": kpoint_grid(atoms, s.kpoint_density_per_A),
        "koffset": (0, 0, 0),
        **extra,
    }


def _build_espresso(s: CalculatorSettings, atoms: Atoms, directory: Path, txt: Any) -> Any:
    from ase.calculators.espresso import Espresso, EspressoProfile

    params = _espresso_parameters(s, atoms)
    pseudo_dir = params.pop("pseudo_dir", None)
    if not pseudo_dir:
        raise ConfigError(
            "reference.calculator.parameters.pseudo_dir: Quantum ESPRESSO needs the directory "
            "of its pseudopotential files"
        )
    profile = EspressoProfile(command=s.command or "pw.x", pseudo_dir=pseudo_dir)
    return Espresso(profile=profile, directory=str(directory), **params)


def _cp2k_parameters(s: CalculatorSettings, atoms: Atoms) -> dict[str, Any]:
    if s.smearing != "fermi-dirac":
        raise ConfigError(
            f"reference.calculator.smearing: CP2K smears with Fermi-Dirac only, got {s.smearing!r}"
        )
    extra = copy.deepcopy(dict(s.parameters))
    nk = kpoint_grid(atoms, s.kpoint_density_per_A)
    temperature_K = s.smearing_width_eV / kB  # Fermi-Dirac width kT (eV) -> electron temperature
    inp = (
        "&FORCE_EVAL\n &DFT\n"
        f"  &KPOINTS\n   SCHEME MONKHORST-PACK {nk[0]} {nk[1]} {nk[2]}\n  &END KPOINTS\n"
        "  &SCF\n   ADDED_MOS 20\n"
        "   &SMEAR ON\n    METHOD FERMI_DIRAC\n"
        f"    ELECTRONIC_TEMPERATURE [K] {temperature_K:.1f}\n"
        "   &END SMEAR\n  &END SCF\n &END DFT\n&END FORCE_EVAL\n"
    )
    params = {
        "xc": s.xc,
        "cutoff": s.cutoff_eV,
        "uks": s.spin_polarized,
        "max_scf": s.scf_max_iterations,
        "stress_tensor": True,
        "basis_set": "DZVP-MOLOPT-SR-GTH",
        "pseudo_potential": "auto",
        "inp": inp + extra.pop("inp", ""),
    }
    return {**params, **extra}


def _build_cp2k(s: CalculatorSettings, atoms: Atoms, directory: Path, txt: Any) -> Any:
    from ase.calculators.cp2k import CP2K

    return CP2K(directory=str(directory), command=s.command or None, **_cp2k_parameters(s, atoms))


@dataclass(frozen=True)
class CalculatorSpec:
    """One registry entry: how to turn :class:`CalculatorSettings` into an ASE calculator."""

    name: str
    description: str
    parameters: Callable[[CalculatorSettings, Atoms], dict[str, Any]]
    build: Callable[[CalculatorSettings, Atoms, Path, Any], Any]
    needs_directory: bool


#: The known calculators, by config name.
CALCULATORS: dict[str, CalculatorSpec] = {
    "gpaw": CalculatorSpec(
        "gpaw", "GPAW plane-wave mode (embedded, serial)", _gpaw_parameters, _build_gpaw, False
    ),
    "vasp": CalculatorSpec(
        "vasp", "VASP through ase.calculators.vasp (cluster)", _vasp_parameters, _build_vasp, True
    ),
    "espresso": CalculatorSpec(
        "espresso", "Quantum ESPRESSO pw.x (cluster)", _espresso_parameters, _build_espresso, True
    ),
    "cp2k": CalculatorSpec(
        "cp2k", "CP2K Quickstep via cp2k_shell (cluster)", _cp2k_parameters, _build_cp2k, True
    ),
}


def get_calculator_spec(name: str) -> CalculatorSpec:
    """The registry entry for ``name``; a ConfigError listing the known names otherwise."""
    if name not in CALCULATORS:
        raise ConfigError(
            f"reference.calculator.name: unknown calculator {name!r}; known: "
            f"{', '.join(CALCULATORS)}"
        )
    return CALCULATORS[name]


def validate_calculator_settings(settings: CalculatorSettings, atoms: Atoms) -> None:
    """Check the settings against the registry on a sample structure before any DFT runs.

    Builds the code's parameter set (which checks smearing, pseudopotentials, ...) without
    starting the code.
    """
    spec = get_calculator_spec(settings.name)
    if settings.smearing not in SMEARINGS:
        raise ConfigError(
            f"reference.calculator.smearing: unknown {settings.smearing!r}; known: "
            f"{', '.join(SMEARINGS)}"
        )
    if settings.dispersion not in DISPERSIONS:
        raise ConfigError(
            f"reference.calculator.dispersion: unknown {settings.dispersion!r}; known: "
            f"{', '.join(DISPERSIONS)}"
        )
    check_dispersion(settings)
    spec.parameters(settings, atoms)


def check_dispersion(settings: CalculatorSettings) -> None:
    """A nonlocal vdW functional carries its own dispersion: D3 on top is a ConfigError."""
    if "vdw" in settings.xc.lower() and settings.dispersion != "none":
        raise ConfigError(
            f"reference.calculator.dispersion: {settings.dispersion!r} with the nonlocal vdW "
            f"functional {settings.xc!r} counts dispersion twice; set dispersion: none"
        )


def dispersion_calculator(settings: CalculatorSettings) -> Any | None:
    """The DFT-D3 correction for ``settings.xc`` (None for ``dispersion: none``)."""
    if settings.dispersion == "none":
        return None
    from dftd3.ase import DFTD3

    damping = {"d3-bj": "d3bj", "d3-zero": "d3zero"}[settings.dispersion]
    return DFTD3(method=settings.xc, damping=damping)


def build_calculator(
    settings: CalculatorSettings, atoms: Atoms, directory: str | Path, txt: Any = None
) -> Any:
    """A fresh ASE calculator for one frame: the DFT code, plus D3 through ``SumCalculator``.

    Parameters
    ----------
    settings:
        The physical settings and the calculator name.
    atoms:
        The frame (its cell sets the k-point grid).
    directory:
        Working directory for file-based codes (VASP, QE, CP2K); unused by GPAW.
    txt:
        GPAW's text output (a path or an open file).
    """
    spec = get_calculator_spec(settings.name)
    directory = Path(directory)
    if spec.needs_directory:
        directory.mkdir(parents=True, exist_ok=True)
    dft = spec.build(settings, atoms, directory, txt)
    d3 = dispersion_calculator(settings)
    if d3 is None:
        return dft
    from ase.calculators.mixing import SumCalculator

    return SumCalculator([dft, d3])


def force_consistent_energy(calc: Any, atoms: Atoms) -> float:
    """The energy whose negative gradient is the force: the free energy with smearing.

    With a smeared Fermi surface the forces are derivatives of the Mermin free energy, not of
    the σ→0 extrapolated energy that ``get_potential_energy()`` returns by default, so training
    data must pair forces with the free energy. D3 has no smearing: its energy is its free
    energy. ``SumCalculator`` does not expose ``free_energy`` when one part lacks it, hence the
    sum over its parts here.
    """
    from ase.calculators.mixing import LinearCombinationCalculator

    if isinstance(calc, LinearCombinationCalculator):
        return float(
            sum(
                w * force_consistent_energy(c, atoms)
                for c, w in zip(calc.mixer.calcs, calc.mixer.weights, strict=True)
            )
        )
    if "free_energy" in calc.implemented_properties:
        return float(calc.get_property("free_energy", atoms))
    return float(calc.get_property("energy", atoms))


def scf_converged(calc: Any) -> bool:
    """False when a code reports a finished but unconverged SCF instead of raising.

    GPAW raises ``KohnShamConvergenceError`` itself; ASE's VASP calculator only sets
    ``converged``.
    """
    from ase.calculators.mixing import LinearCombinationCalculator

    if isinstance(calc, LinearCombinationCalculator):
        return all(scf_converged(c) for c in calc.mixer.calcs)
    return getattr(calc, "converged", True) is not False


def classify_failure(exc: BaseException) -> str:
    """``"scf_not_converged"`` for SCF convergence errors, else ``"calculator_error"``."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    message = str(exc).lower()
    if (
        {"ConvergenceError", "KohnShamConvergenceError", "SCFError"} & names
        or "convergence not achieved" in message
        or "scf not converged" in message
    ):
        return "scf_not_converged"
    return "calculator_error"


def finite(*arrays: Any) -> bool:
    """True if every value of every array is finite."""
    return all(np.all(np.isfinite(np.asarray(a, dtype=float))) for a in arrays)
