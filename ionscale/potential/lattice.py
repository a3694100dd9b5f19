"""The potential's lattice check: the layer spacing every ensemble member relaxes a layered
host to, against the measured one (rule potential_lattice_check, a gate).

A potential whose energies and forces pass their RMSE gates can still put the minimum of the
binding curve along the stacking axis in the wrong place (the vdW well of graphite is a
feature of ~25 meV/atom): MD in NPT would then swell or squeeze the host, the elastic
constants at the experimental cell would be taken far from the potential's own equilibrium,
and the chemical strain the continuum sees would be wrong. Each configured structure
(``reference.structure``, the lithiated host; ``reference.host``, the empty one) is relaxed
by every member (positions and the strain along z, BFGS in a FrechetCellFilter, as the thermo
stage's ``relax_cell: "c"``); its layer spacing (:func:`ionscale.thermo.structures.
gallery_spacing_A`) must lie within ``tolerance_A`` of ``measured_spacing_A`` for the ensemble
mean. Graphite's defaults: AB graphite 3.354 Å, LiC6 3.706 Å, ± 0.07 Å (2 %).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.gates import GateError, GateVerdict, check_action, enforce, verdict_of
from ionscale.settings import default, from_section

log = logging.getLogger("ionscale.potential.lattice")

#: the reference stage's structure roles a check may name
ROLES = ("structure", "host")


class LatticeCheckError(GateError):
    """A relaxed layer spacing is outside its measured window and the config does not allow it."""


@dataclass(frozen=True)
class LatticeTarget:
    """A measured layer spacing: ``reference.<role>`` relaxes to ``measured_spacing_A`` ±
    ``tolerance_A``."""

    role: str
    measured_spacing_A: float
    tolerance_A: float

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(
                f"potential.lattice_check.structures: role {self.role!r} is not one of {ROLES} "
                "(reference.structure: the lithiated host; reference.host: the empty one)"
            )
        if not (self.measured_spacing_A > 0 and self.tolerance_A > 0):
            raise ValueError(
                "potential.lattice_check.structures: measured_spacing_A and tolerance_A must be "
                f"> 0 Å, got {self.measured_spacing_A}, {self.tolerance_A}"
            )


@dataclass(frozen=True)
class LatticeCheckSettings:
    """``potential.lattice_check``.

    Parameters
    ----------
    enabled:
        Run the check (MD and the handoff wait for it).
    structures:
        The measured spacings (mappings with role, measured_spacing_A, tolerance_A).
    fmax_eV_A:
        Force (and cell-force) convergence of the relaxations, eV/Å.
    max_steps:
        BFGS steps per relaxation at most (an unconverged one is recorded as such).
    action:
        ``error`` stops the chain on a spacing outside its window; ``warn`` logs, records and
        goes on.
    """

    enabled: bool = default("potential.lattice_check.enabled")
    structures: tuple[Any, ...] = default("potential.lattice_check.structures")
    fmax_eV_A: float = default("potential.lattice_check.fmax_eV_A")
    max_steps: int = default("potential.lattice_check.max_steps")
    action: str = default("potential.lattice_check.action")

    def __post_init__(self) -> None:
        check_action("potential.lattice_check.action", self.action)
        object.__setattr__(
            self,
            "structures",
            tuple(
                t if isinstance(t, LatticeTarget) else LatticeTarget(**dict(t))
                for t in self.structures
            ),
        )

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> LatticeCheckSettings:
        return from_section(cls, section, "potential.lattice_check", error=ValueError)


def relaxed_layer_spacing(
    atoms: Atoms, calc: Any, host_symbols: Sequence[str], fmax_eV_A: float, max_steps: int
) -> dict[str, Any]:
    """Relax ``atoms`` (positions and the strain along z) with ``calc``; its mean layer spacing
    before and after (Å), whether BFGS converged, and the energy (eV).

    The spacing is the framework's (``host_symbols``) layer period: the cell height over the
    number of layers, carried through the deformation by
    :func:`ionscale.thermo.structures.gallery_spacing_A`.
    """
    from ionscale.thermo.atomistic import RelaxSettings, check_layers_in_xy, relax
    from ionscale.thermo.structures import gallery_spacing_A, layer_count

    check_layers_in_xy(atoms, "potential.lattice_check")
    n_layers = layer_count(atoms, list(host_symbols))
    start = float(atoms.cell[2, 2]) / n_layers
    r = relax(atoms, calc, RelaxSettings(fmax_eV_A, max_steps, "c", 0.5))
    spacing = gallery_spacing_A(atoms, r.atoms, start)
    return {
        "start_spacing_A": start,
        "spacing_A": spacing if np.isfinite(r.energy_eV) and not r.failure else float("nan"),
        "converged": r.converged,
        "steps": r.steps,
        "energy_eV": r.energy_eV,
        "failure": r.failure,
    }


def judge_lattice(
    spacings_A: Mapping[str, Sequence[float]], settings: LatticeCheckSettings
) -> GateVerdict:
    """Per configured role, the ensemble mean of the members' relaxed spacings (Å) against
    the measured one; every number in the verdict (mean, spread, members, measured,
    tolerance), failed or not. A non-finite member spacing (a relaxation that collapsed) is a
    failure by itself."""
    problems: list[str] = []
    rows = []
    for t in settings.structures:
        s = np.asarray(spacings_A[t.role], dtype=float)
        mean = float(np.mean(s)) if np.all(np.isfinite(s)) else float("nan")
        row = {
            "role": t.role,
            "measured_spacing_A": t.measured_spacing_A,
            "tolerance_A": t.tolerance_A,
            "member_spacing_A": s.tolist(),
            "mean_spacing_A": mean,
            "std_spacing_A": float(np.std(s, ddof=1)) if len(s) > 1 else None,
            "difference_A": mean - t.measured_spacing_A,
        }
        rows.append(row)
        if not abs(mean - t.measured_spacing_A) <= t.tolerance_A:
            problems.append(
                f"reference.{t.role}: the potential relaxes its layer spacing to {mean:.3f} Å "
                f"(members {np.round(s, 3).tolist()}), measured {t.measured_spacing_A:g} ± "
                f"{t.tolerance_A:g} Å (potential.lattice_check.structures)"
            )
    return GateVerdict(
        verdict_of(problems, settings.action),
        problems,
        {"structures": rows, "action": settings.action},
    )


def run_lattice_check(
    cfg: Mapping[str, Any],
    models: Sequence[str | Path],
    structure_files: Mapping[str, str | Path | None],
    out_json: str | Path,
    provenance: Any,
) -> dict[str, Any]:
    """Rule potential_lattice_check: every member relaxes every configured structure
    (:func:`relaxed_layer_spacing`), the verdict (:func:`judge_lattice`) goes to
    lattice_check.json with each relaxation's numbers. A failure with ``action: error``
    raises :class:`LatticeCheckError` without writing it."""
    from ionscale.io import write_json
    from ionscale.reference.stage import role_structure
    from ionscale.thermo.atomistic import check_species, dp_calculator

    settings = LatticeCheckSettings.from_config(cfg["potential"]["lattice_check"])
    ref = cfg["reference"]
    mobile = ref["mobile_species"]
    structures = {
        t.role: role_structure(
            structure_files.get(t.role), ref[t.role]["prototype"], f"reference.{t.role}"
        )
        for t in settings.structures
    }
    from ionscale.potential.dispersion import DispersionSettings

    dispersion = DispersionSettings.from_config(cfg)
    calcs = [dp_calculator(m, dispersion) for m in models]
    relaxations: dict[str, list[dict[str, Any]]] = {}
    for role, atoms in structures.items():
        framework = sorted(set(atoms.get_chemical_symbols()) - {mobile})
        relaxations[role] = []
        for k, calc in enumerate(calcs):
            check_species(atoms, calc, f"reference.{role}")
            r = relaxed_layer_spacing(
                atoms, calc, framework, settings.fmax_eV_A, settings.max_steps
            )
            log.info(
                "reference.%s (%s): member %d relaxes the layer spacing %.3f -> %.3f Å (%s, "
                "%d steps)",
                role,
                atoms.get_chemical_formula(),
                k,
                r["start_spacing_A"],
                r["spacing_A"],
                "converged" if r["converged"] else "NOT converged",
                r["steps"],
            )
            relaxations[role].append({"member": k, **r})
    verdict = judge_lattice(
        {role: [r["spacing_A"] for r in rs] for role, rs in relaxations.items()}, settings
    )
    summary = {
        "method": (
            "layer spacing after relaxing positions and the strain along z with each ensemble "
            "member (BFGS, FrechetCellFilter), ensemble mean against the measured spacing"
        ),
        **verdict.numbers,
        "relaxations": relaxations,
        "fmax_eV_A": settings.fmax_eV_A,
        "max_steps": settings.max_steps,
        "verdict": verdict.verdict,
        "problems": verdict.problems,
    }
    enforce(
        verdict, "potential lattice check", "potential.lattice_check.action: warn",
        error=LatticeCheckError, logger=log,
    )  # fmt: skip
    write_json(out_json, summary, provenance)
    return summary
