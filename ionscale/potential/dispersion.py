r"""Dispersion outside the network: the potential learns the reference labels minus DFT-D3, and
every use of it adds DFT-D3 back in closed form (the "DP + D3" form of DeePMD-kit users).

Why. Graphite's layers are bound by dispersion: the PBE-D3(BJ) binding curve along c is a
feature of ~0.5 meV/atom within ±0.07 Å of the minimum (C33 ≈ 37 GPa), and D3's pair sum
reaches tens of Å, far beyond the network's 6 Å cutoff, whose descriptors cannot see it. A
network trained on the total labels has to imitate a long-ranged, coordination-dependent term
with short-ranged features; with the demo's budget its relaxed layer spacing of AB graphite
spread over 3.24–3.61 Å between seeds (measured 3.354 Å). D3 is an analytic function of the
positions: subtracting it from the labels leaves the network the short-ranged part, which it
can learn, and the lattice's vdW minimum comes from D3 exactly.

How. The same D3 as the reference's (``reference.calculator``: the functional's D3(BJ) or
D3(0) parameters from the ``dftd3`` library, two-body, which is what the reference adds),
truncated at ``potential.dispersion.cutoff_A`` (pairs) and ``cn_cutoff_A`` (coordination
numbers), in both places where it appears:

- before training, D3 energy, forces and virial are subtracted from every labelled frame
  (:func:`subtract_dispersion`);
- afterwards, ASE users get ``SumCalculator([DP, D3])`` (:func:`with_dispersion`) and LAMMPS
  runs ``pair_style hybrid/overlay deepmd … dispersion/d3`` (:func:`lammps_pair_style`, the
  EXTRA-PAIR implementation, which reproduces ``dftd3`` to 1e-6 eV per cell at equal cutoffs:
  tests/test_dispersion.py).

The truncation is the same in both, so the labels are reproduced exactly; what the cutoff leaves
out (the tail beyond it) is in the network's part, a near-constant ~1 meV/atom beyond 12 Å.
The cutoff sets the cost: LAMMPS's D3 for a 126-atom LiC6 cell took 30 ms per evaluation at
12 Å and 0.5 s at the library's default 31.75 Å.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ase import Atoms

from ionscale.settings import default

#: ``reference.calculator.dispersion`` → (dftd3 damping, LAMMPS dispersion/d3 damping)
DAMPINGS = {"d3-bj": ("d3bj", "bj"), "d3-zero": ("d3zero", "zero")}
TREATMENTS = ("analytic", "learned")


class DispersionError(ValueError):
    """Inconsistent dispersion settings (named by key)."""


@dataclass(frozen=True)
class DispersionSettings:
    """How the potential treats the reference's dispersion (config ``potential.dispersion``).

    Parameters
    ----------
    treatment:
        ``"analytic"``: D3 is subtracted from the labels and added back in closed form at every
        use; ``"learned"``: the network learns the total labels (dispersion included).
    cutoff_A, cn_cutoff_A:
        Real-space cutoffs (Å) of D3's pair sum and of its coordination numbers.
    damping:
        The reference's dispersion (``reference.calculator.dispersion``): ``d3-bj``,
        ``d3-zero`` or ``none``.
    functional:
        The reference's exchange-correlation functional (selects D3's parameters).
    """

    treatment: str = default("potential.dispersion.treatment")
    cutoff_A: float = default("potential.dispersion.cutoff_A")
    cn_cutoff_A: float = default("potential.dispersion.cn_cutoff_A")
    damping: str = "none"
    functional: str = "PBE"

    def __post_init__(self) -> None:
        if self.treatment not in TREATMENTS:
            raise DispersionError(
                f"potential.dispersion.treatment = {self.treatment!r}: expected one of "
                f"{list(TREATMENTS)}"
            )
        if self.damping != "none" and self.damping not in DAMPINGS:
            raise DispersionError(
                f"reference.calculator.dispersion = {self.damping!r}: the potential knows "
                f"{['none', *DAMPINGS]}"
            )
        if not (0 < self.cn_cutoff_A <= self.cutoff_A):
            raise DispersionError(
                f"potential.dispersion: cn_cutoff_A = {self.cn_cutoff_A} must be positive and at "
                f"most cutoff_A = {self.cutoff_A}"
            )

    @property
    def analytic(self) -> bool:
        """True when D3 is outside the network (there is a D3 and the treatment says so)."""
        return self.treatment == "analytic" and self.damping != "none"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> DispersionSettings:
        """From ``potential.dispersion`` and the reference calculator's dispersion and xc."""
        section = dict(cfg.get("potential", {}).get("dispersion", {}) or {})
        calc = cfg.get("reference", {}).get("calculator", {}) or {}
        unknown = sorted(set(section) - {"treatment", "cutoff_A", "cn_cutoff_A"})
        if unknown:
            raise DispersionError(f"potential.dispersion: unknown key(s) {unknown}")
        return cls(
            damping=str(calc.get("dispersion", default("reference.calculator.dispersion"))),
            functional=str(calc.get("xc", default("reference.calculator.xc"))),
            **section,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "treatment": self.treatment if self.damping != "none" else "none",
            "damping": self.damping,
            "functional": self.functional,
            "cutoff_A": self.cutoff_A,
            "cn_cutoff_A": self.cn_cutoff_A,
        }


def d3_calculator(settings: DispersionSettings) -> Any:
    """The ``dftd3`` ASE calculator of the reference's D3, truncated at the settings' cutoffs."""
    from dftd3.ase import DFTD3

    if settings.damping == "none":
        raise DispersionError("no D3: reference.calculator.dispersion is none")
    return DFTD3(
        method=settings.functional,
        damping=DAMPINGS[settings.damping][0],
        realspace_cutoff={"disp2": settings.cutoff_A, "cn": settings.cn_cutoff_A},
    )


def subtract_dispersion(frames: Sequence[Atoms], settings: DispersionSettings) -> list[Atoms]:
    """Copies of labelled ``frames`` whose energy, forces and stress are the labels minus D3
    (the frames themselves are left as they are); the frames unchanged when not analytic."""
    from ase.calculators.singlepoint import SinglePointCalculator

    if not settings.analytic:
        return list(frames)
    d3 = d3_calculator(settings)
    out = []
    for atoms in frames:
        label = atoms.calc
        probe = atoms.copy()
        probe.calc = d3
        results = {
            "energy": label.get_potential_energy() - probe.get_potential_energy(),
            "forces": label.get_forces() - probe.get_forces(),
        }
        if "stress" in label.results:
            results["stress"] = label.get_stress() - probe.get_stress()
        new = atoms.copy()
        new.info = dict(atoms.info)
        new.calc = SinglePointCalculator(new, **results)
        out.append(new)
    return out


def with_dispersion(calc: Any, settings: DispersionSettings) -> Any:
    """``calc`` plus D3 (ASE's SumCalculator) when the potential leaves D3 outside; else
    ``calc``. The sum keeps the DeePMD calculator's ``type_dict`` for species checks."""
    if not settings.analytic:
        return calc
    from ase.calculators.mixing import SumCalculator

    total = SumCalculator([calc, d3_calculator(settings)])
    total.type_dict = getattr(calc, "type_dict", {})
    return total


def lammps_pair_style(settings: DispersionSettings) -> str:
    """The ``pair_style`` word list of LAMMPS's D3 (EXTRA-PAIR ``dispersion/d3``)."""
    damping = DAMPINGS[settings.damping][1]
    return (
        f"dispersion/d3 {damping} {settings.functional.lower()} {settings.cutoff_A:g} "
        f"{settings.cn_cutoff_A:g}"
    )


def md_pair_style(settings: DispersionSettings) -> str:
    """The LAMMPS D3 overlay for MD with this potential; empty when D3 is in the network."""
    return lammps_pair_style(settings) if settings.analytic else ""


def per_atom_energy_eV(atoms: Atoms, settings: DispersionSettings) -> float:
    """D3 energy per atom (eV) of a structure (0 when not analytic): for reports."""
    if not settings.analytic:
        return 0.0
    probe = atoms.copy()
    probe.calc = d3_calculator(settings)
    return float(probe.get_potential_energy()) / len(atoms)


__all__ = [
    "DAMPINGS",
    "TREATMENTS",
    "DispersionError",
    "DispersionSettings",
    "d3_calculator",
    "lammps_pair_style",
    "md_pair_style",
    "per_atom_energy_eV",
    "subtract_dispersion",
    "with_dispersion",
]
