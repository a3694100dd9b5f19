"""The fem stage's operating cases and solver settings (``fem.cases``, ``fem.solver``).

Plain dataclasses with checks that need no handoff file; every error is a
:class:`FemInputError` naming the config key, so the Snakefile can check a config before any
case runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ionscale.settings import default, from_section

DIRECTIONS = ("lithiation", "delithiation")


class FemInputError(ValueError):
    """A fem case, its settings or its handoff file cannot be used; the message names the key."""


# -- operating case -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParticleCase:
    """One operating point of a spherical particle under galvanostatic (dis)charge.

    Parameters
    ----------
    name:
        Case name (results in ``fem/{name}/``).
    c_rate:
        Current in 1/h: 1 C fills the particle from x = 0 to x = 1 in one hour.
    radius_um:
        Particle radius, µm.
    temperature_K:
        Temperature, K (must lie in the handoff's thermo temperature range).
    exchange_current_density_A_m2:
        i₀,ref, the exchange current density at x_s = 1/2, A/m².
    direction:
        ``"lithiation"`` (Li in, x rises, voltage falls) or ``"delithiation"``.
    initial_li_fraction:
        Uniform x at t = 0 (stress-free reference state).
    final_li_fraction:
        Mean x at which the particle counts as full (empty for delithiation); a stop criterion.
    cutoff_voltage_V:
        Terminal voltage (V vs Li/Li⁺) that ends the run; ``None`` = no voltage cut-off.
    charge_transfer_coefficient:
        α = α_c (cathodic); α_a = 1 − α.
    """

    name: str
    c_rate: float = 1.0
    radius_um: float = 5.0
    temperature_K: float = 300.0
    exchange_current_density_A_m2: float = 1.0
    direction: str = "lithiation"
    initial_li_fraction: float = 0.03
    final_li_fraction: float = 0.97
    cutoff_voltage_V: float | None = None
    charge_transfer_coefficient: float = 0.5

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> ParticleCase:
        key = f"fem.cases[{entry.get('name', '?')}]"
        if "name" not in entry:
            raise FemInputError("fem.cases[]: every case needs a 'name'")
        return from_section(cls, entry, key, error=FemInputError)

    @property
    def key(self) -> str:
        """Config path of this case, for error messages."""
        return f"fem.cases[{self.name}]"

    @property
    def sign(self) -> int:
        """+1 for lithiation (x rises), −1 for delithiation."""
        return 1 if self.direction == "lithiation" else -1

    def validate(self) -> None:
        """Checks that need no handoff file; each error names the key."""
        k = self.key
        for attr in ("c_rate", "radius_um", "temperature_K", "exchange_current_density_A_m2"):
            value = getattr(self, attr)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise FemInputError(f"{k}.{attr} = {value!r}: must be a positive number")
        if self.direction not in DIRECTIONS:
            raise FemInputError(f"{k}.direction = {self.direction!r}: expected one of {DIRECTIONS}")
        if not 0 < self.charge_transfer_coefficient < 1:
            raise FemInputError(
                f"{k}.charge_transfer_coefficient = {self.charge_transfer_coefficient}: "
                "must lie in (0, 1)"
            )
        for attr in ("initial_li_fraction", "final_li_fraction"):
            value = getattr(self, attr)
            if not 0 < value < 1:
                raise FemInputError(f"{k}.{attr} = {value}: must lie in (0, 1)")
        if self.sign * (self.final_li_fraction - self.initial_li_fraction) <= 0:
            raise FemInputError(
                f"{k}: final_li_fraction {self.final_li_fraction} must be "
                f"{'above' if self.sign > 0 else 'below'} initial_li_fraction "
                f"{self.initial_li_fraction} for {self.direction}"
            )
        if self.cutoff_voltage_V is not None and not math.isfinite(self.cutoff_voltage_V):
            raise FemInputError(f"{k}.cutoff_voltage_V = {self.cutoff_voltage_V}: not finite")


def cases_by_name(entries: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Config case entries keyed by name; clear errors for duplicates and bad values."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        case = ParticleCase.from_config(entry)
        if case.name in out:
            raise FemInputError(f"fem.cases: case name '{case.name}' appears more than once")
        case.validate()
        out[case.name] = dict(entry)
    return out


# -- solver settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SolverSettings:
    """Discretisation and solver settings shared by all cases.

    Parameters
    ----------
    mesh_cells:
        Cells of the radial mesh on [0, R].
    mesh_grading:
        p ≥ 1 in r/R = 1 − (1 − s)^p (s uniform): p > 1 refines towards the surface, where the
        concentration gradient is steepest.
    element_degree:
        Lagrange degree of the concentration (1 or 2).
    displacement_degree:
        Lagrange degree of the radial displacement (stress is one degree lower).
    time_step_tolerance:
        Local error per step (max norm, in Li fraction): one backward-Euler step against two
        half steps; their Richardson extrapolation is the state kept
        (:meth:`ionscale.fem.transport.RadialDiffusion.advance`).
    max_steps:
        Accepted steps after which the run stops with an error.
    output_frames:
        Snapshots of the fields written to solution.bp (besides t = 0 and the end).
    min_thermodynamic_factor:
        Θ_min in D = D(T)·max(Θ, Θ_min).
    fit_tolerance:
        Largest error of the Chebyshev representation of Θ(x), relative to max|Θ|.
    snes_rtol, snes_atol:
        Newton (PETSc SNES) relative and absolute residual tolerances.
    """

    mesh_cells: int = default("fem.solver.mesh_cells")
    mesh_grading: float = default("fem.solver.mesh_grading")
    element_degree: int = default("fem.solver.element_degree")
    displacement_degree: int = default("fem.solver.displacement_degree")
    time_step_tolerance: float = default("fem.solver.time_step_tolerance")
    max_steps: int = default("fem.solver.max_steps")
    output_frames: int = default("fem.solver.output_frames")
    min_thermodynamic_factor: float = default("fem.solver.min_thermodynamic_factor")
    fit_tolerance: float = default("fem.solver.fit_tolerance")
    snes_rtol: float = default("fem.solver.snes_rtol")
    snes_atol: float = default("fem.solver.snes_atol")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> SolverSettings:
        return from_section(cls, cfg, "fem.solver", error=FemInputError)

    def validate(self) -> None:
        k = "fem.solver"
        if self.mesh_cells < 2:
            raise FemInputError(f"{k}.mesh_cells = {self.mesh_cells}: need at least 2")
        if self.mesh_grading < 1:
            raise FemInputError(f"{k}.mesh_grading = {self.mesh_grading}: must be >= 1")
        if self.element_degree not in (1, 2) or self.displacement_degree not in (1, 2, 3):
            raise FemInputError(f"{k}: element_degree must be 1 or 2, displacement_degree 1-3")
        for attr in ("time_step_tolerance", "min_thermodynamic_factor", "fit_tolerance"):
            if not getattr(self, attr) > 0:
                raise FemInputError(f"{k}.{attr} = {getattr(self, attr)}: must be positive")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
