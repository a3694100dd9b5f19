"""Cahn–Hilliard cases and solver settings, as in the config (``phasefield.cases``,
``phasefield.solver``); dimensional (K, nm, eV, units of t₀).

Defaults of :class:`SolverSettings` come from the config schema
(:func:`ionscale.settings.default`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ionscale.phasefield.core import StepControl
from ionscale.settings import default, from_section

#: mean_composition keyword: the middle of the widest spinodal interval of f at T.
SPINODAL_CENTER = "spinodal_center"


@dataclass(frozen=True)
class CahnHilliardCase:
    """One phase-field case (an element of config ``phasefield.cases``).

    Parameters
    ----------
    name:
        Case name; results go to phasefield/{name}/.
    temperature_K:
        Temperature (K): selects f(c, T) and D(T).
    mean_composition:
        Mean Li site fraction c₀, or ``"spinodal_center"`` (middle of the widest spinodal).
    kappa_eV_nm2:
        Gradient-energy coefficient κ (eV·nm² per site).
    grid:
        Points per dimension (2 or 3 in the workflow; 1 allowed in the package).
    dx_nm:
        Grid spacing (nm).
    final_time_t0:
        Duration in units of t₀ = (1 nm)²/D(T).
    seed:
        Seed of the initial noise (combined with the master seed).
    noise_amplitude:
        Initial c = c₀ + uniform noise in [−a, a], shifted to mean c₀ exactly.
    """

    name: str = "case"
    temperature_K: float = 300.0
    mean_composition: float | str = SPINODAL_CENTER
    kappa_eV_nm2: float = 0.25
    grid: tuple[int, ...] = (128, 128)
    dx_nm: float = 1.0
    final_time_t0: float = 1e4
    seed: int = 0
    noise_amplitude: float = 0.01

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> CahnHilliardCase:
        return from_section(cls, entry, f"phasefield.cases[{entry.get('name', '?')}]")

    def validate(self) -> None:
        """Check every field, naming the key; called before any time stepping."""
        where = f"phasefield case '{self.name}'"
        grid = self.grid
        if (
            not isinstance(grid, tuple | list)
            or not 1 <= len(grid) <= 3
            or any(isinstance(n, bool) or not isinstance(n, int | np.integer) for n in grid)
            or any(n < 1 for n in grid)
        ):
            raise ValueError(f"{where}: grid = {grid!r} must be 1-3 positive integers")
        _positive(where, "temperature_K", self.temperature_K)
        _positive(where, "dx_nm", self.dx_nm)
        _positive(where, "final_time_t0", self.final_time_t0)
        if not (np.isfinite(self.kappa_eV_nm2) and self.kappa_eV_nm2 >= 0):
            raise ValueError(f"{where}: kappa_eV_nm2 = {self.kappa_eV_nm2} must be >= 0")
        if not (0 <= self.noise_amplitude < 0.5):
            raise ValueError(f"{where}: noise_amplitude = {self.noise_amplitude} not in [0, 0.5)")
        if isinstance(self.mean_composition, str):
            if self.mean_composition != SPINODAL_CENTER:
                raise ValueError(
                    f"{where}: mean_composition = {self.mean_composition!r}: expected a number "
                    f"or '{SPINODAL_CENTER}'"
                )
        elif not np.isfinite(self.mean_composition):
            raise ValueError(f"{where}: mean_composition must be finite")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"{where}: seed = {self.seed!r} must be an integer >= 0")


def _positive(where: str, key: str, value: float) -> None:
    if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
        raise ValueError(f"{where}: {key} = {value!r} must be a positive number")


@dataclass(frozen=True)
class SolverSettings:
    """Numerical settings shared by all cases (config ``phasefield.solver``).

    Parameters
    ----------
    rtol, atol:
        Step-doubling error tolerance (see :mod:`ionscale.phasefield.core`), relative to the
        fluctuation amplitude of c and absolute (site fraction). Spinodal decomposition
        amplifies any perturbation, so runs at different tolerances differ point by point;
        their statistics converge. The defaults (rtol 2e-3, no absolute floor) resolve the
        linear stage: every unstable mode of a noisy homogeneous state grows at the analytic
        rate within 1.5 % (tests/test_phasefield.py holds them to 2 %); rtol 1e-2 gave 6 %,
        and an absolute floor above rtol × the noise amplitude (1e-4 with noise 1e-4) 57 %.
        On a 96² coarsening run to t = 2000 they cost 3.5× the steps of rtol 1e-2 / atol
        1e-4, whose free energy and domain length were 5 % and 4 % off a converged run
        (2e-3: 0.3 %).
    max_steps:
        Accepted steps before a run stops with an error.
    stabilisation:
        s in S = s · max|f''|/2 (≥ 1: Shen–Yang energy bound; the default 0.25 is more
        accurate per step, the controller's energy check keeps F non-increasing).
    n_snapshots:
        Snapshots of c stored, including t = 0 and the final time (≥ 2).
    snapshot_spacing:
        ``"log"``: t = 0 and geometric from 1e-3 of the final time; ``"linear"``: uniform.
    """

    rtol: float = default("phasefield.solver.rtol")
    atol: float = default("phasefield.solver.atol")
    max_steps: int = default("phasefield.solver.max_steps")
    stabilisation: float = default("phasefield.solver.stabilisation")
    n_snapshots: int = default("phasefield.solver.n_snapshots")
    snapshot_spacing: str = default("phasefield.solver.snapshot_spacing")

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> SolverSettings:
        return from_section(cls, entry, "phasefield.solver")

    def control(self) -> StepControl:
        return StepControl(rtol=self.rtol, atol=self.atol, max_steps=self.max_steps)

    def output_times(self, t_final: float) -> np.ndarray:
        if self.n_snapshots < 2:
            raise ValueError(f"n_snapshots = {self.n_snapshots} must be >= 2")
        if self.snapshot_spacing == "linear":
            return np.linspace(0.0, t_final, self.n_snapshots)
        if self.snapshot_spacing == "log":
            return np.concatenate([[0.0], np.geomspace(1e-3, 1.0, self.n_snapshots - 1)]) * t_final
        raise ValueError(f"snapshot_spacing = {self.snapshot_spacing!r}: expected log or linear")


def cases_by_name(entries: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Config case entries keyed by name; a clear error for duplicate names."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        name = entry["name"]
        if name in out:
            raise ValueError(f"phasefield.cases: case name '{name}' appears more than once")
        out[name] = dict(entry)
    return out
