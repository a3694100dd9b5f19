r"""Cahn–Hilliard model of Li phase separation in a host, fed by the learned free energy.

This module runs a case (:func:`simulate`, :func:`run_case`) and builds its summary; the pieces
live in

- :mod:`ionscale.phasefield.ch_model`: the physics (free energy, Darken mobility), the
  nondimensionalisation and the numerical scheme (:class:`CahnHilliardModel`);
- :mod:`ionscale.phasefield.ch_settings`: :class:`CahnHilliardCase`, :class:`SolverSettings`,
  :func:`cases_by_name`;
- :mod:`ionscale.phasefield.ch_output`: the output contract (:data:`SUMMARY_SCALARS`, the
  fields.h5 layout).

Every name of those modules that was importable from here still is.

Physical meaning of κ: a flat interface between the coexisting compositions a < b of a
miscibility gap has width w = (b − a) √(κ / (2 Δf_max)) and energy σ = n_s ∫ₐᵇ √(2κ Δf) dc,
with Δf(c) the height of f above the common tangent (Δf_max its largest value); the fastest
growing spinodal wavelength at mean composition c₀ is λ_m = 2π √(2κ / |f''(c₀)|). Both are
computed for each run (:mod:`ionscale.phasefield.analysis`) and written to its summary, with the
number of grid points per interface width (≥ 3 resolves it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.config import derive_seed
from ionscale.phasefield import analysis
from ionscale.phasefield.ch_model import (
    CM2_TO_NM2,
    MOBILITY_LAW,
    SCHEME,
    Array,
    CahnHilliardModel,
    FreeEnergy,
    LENGTH_SCALE_nm,
    ScalarFunction,
    darken_mobility,
)
from ionscale.phasefield.ch_output import (
    HISTORY_DESCRIPTIONS,
    HISTORY_UNITS,
    SUMMARY_SCALARS,
    write_fields_metadata,
)
from ionscale.phasefield.ch_settings import (
    SPINODAL_CENTER,
    CahnHilliardCase,
    SolverSettings,
    cases_by_name,
)
from ionscale.phasefield.core import (
    FieldRecorder,
    RunHistory,
    SpectralGrid,
    StepControl,
    integrate,
)
from ionscale.units import ELEMENTARY_CHARGE_C, AVOGADRO_per_mol, BOLTZMANN_eV_K

if TYPE_CHECKING:
    import h5py

    from ionscale.handoff import ContinuumParameters
    from ionscale.provenance import Provenance

__all__ = [
    "CM2_TO_NM2",
    "HISTORY_DESCRIPTIONS",
    "HISTORY_UNITS",
    "MOBILITY_LAW",
    "SCHEME",
    "SEPARATION_THRESHOLD",
    "SPINODAL_CENTER",
    "SUMMARY_SCALARS",
    "Array",
    "CahnHilliardCase",
    "CahnHilliardModel",
    "CahnHilliardResult",
    "FreeEnergy",
    "LENGTH_SCALE_nm",
    "ScalarFunction",
    "SolverSettings",
    "StepControl",
    "cases_by_name",
    "darken_mobility",
    "initial_field",
    "integrate",
    "resolve_mean_composition",
    "run_case",
    "simulate",
    "thermodynamics",
]

#: separated when std(c) reaches this fraction of its two-phase equilibrium value.
SEPARATION_THRESHOLD = 0.5


# --------------------------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------------------------
@dataclass
class CahnHilliardResult:
    """A finished run: final field, dimensional history and the summary."""

    final_field: Array
    history: dict[str, Array]
    summary: dict[str, Any]
    raw: RunHistory


def resolve_mean_composition(case: CahnHilliardCase, free_energy: FreeEnergy) -> float:
    """c₀ of the case (resolving ``spinodal_center``), checked against the domain of f."""
    if isinstance(case.mean_composition, str):
        c0 = free_energy.spinodal_center()
    else:
        c0 = float(case.mean_composition)
    lo, hi = free_energy.c_range
    a = case.noise_amplitude
    if not (lo < c0 - a and c0 + a < hi):
        raise ValueError(
            f"phasefield case '{case.name}': mean_composition {c0:.6g} ± noise {a} leaves "
            f"({lo:.6g}, {hi:.6g}), the range where f is defined"
        )
    return c0


def initial_field(shape: tuple[int, ...], c0: float, amplitude: float, seed: int) -> Array:
    """c₀ + uniform noise in [−a, a] with its mean removed (so ⟨c⟩ = c₀ to round-off)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-amplitude, amplitude, size=shape)
    return c0 + (noise - noise.mean())


def simulate(
    case: CahnHilliardCase,
    free_energy: FreeEnergy,
    diffusivity_cm2_s: float,
    solver: SolverSettings | None = None,
    master_seed: int = 0,
    h5: h5py.Group | None = None,
    threads: int = 1,
    site_density_per_m3: float | None = None,
    control: StepControl | None = None,
) -> CahnHilliardResult:
    """Run one case; stream snapshots to ``h5`` (group ``snapshots``) and its history.

    Every check of the inputs happens before the first step. ``control`` overrides the step
    control that ``solver`` implies (tests use it).
    """
    solver = solver or SolverSettings()
    case.validate()
    where = f"phasefield case '{case.name}'"
    if not (np.isfinite(diffusivity_cm2_s) and diffusivity_cm2_s > 0):
        raise ValueError(
            f"{where}: diffusivity D({case.temperature_K} K) = {diffusivity_cm2_s} cm²/s must be "
            "positive (the mobility M = D c(1-c)/kT would not be)"
        )
    if not math.isclose(free_energy.temperature_K, case.temperature_K, rel_tol=1e-12):
        raise ValueError(
            f"{where}: free energy is for {free_energy.temperature_K} K, case for "
            f"{case.temperature_K} K"
        )
    output_times = solver.output_times(case.final_time_t0)
    step_control = control or solver.control()
    c0 = resolve_mean_composition(case, free_energy)

    kt = BOLTZMANN_eV_K * case.temperature_K
    t0_s = LENGTH_SCALE_nm**2 / (diffusivity_cm2_s * CM2_TO_NM2)
    grid = SpectralGrid(case.grid, case.dx_nm / LENGTH_SCALE_nm, workers=threads)
    model = CahnHilliardModel(
        grid,
        f=lambda c: free_energy.f_eV(c) / kt,
        dfdc=lambda c: free_energy.dfdc_eV(c) / kt,
        d2fdc2=lambda c: free_energy.d2fdc2_eV(c) / kt,
        kappa=case.kappa_eV_nm2 / (kt * LENGTH_SCALE_nm**2),
        mobility=darken_mobility,
        c_range=free_energy.c_range,
        stabilisation=solver.stabilisation,
    )
    thermo = thermodynamics(free_energy, c0, case.kappa_eV_nm2, case.dx_nm, site_density_per_m3)
    u0 = initial_field(
        grid.shape, c0, case.noise_amplitude, derive_seed(master_seed, "phasefield", case.seed)
    )

    recorder = None
    if h5 is not None:
        recorder = FieldRecorder(
            h5.create_group("snapshots"),
            "c",
            grid.shape,
            "1",
            time_units="s",
            time_scale=t0_s,
            description="Li site fraction c on the grid (axis order x, y[, z])",
        )
    u, raw = integrate(model, u0, case.final_time_t0, step_control, output_times, recorder)

    history = {
        "time_s": raw.array("time") * t0_s,
        "dt_s": raw.array("dt") * t0_s,
        "free_energy_eV_per_site": raw.array("energy") * kt,
        "mean_composition": raw.array("mean"),
        "composition_std": raw.array("std"),
        "composition_min": raw.array("min"),
        "composition_max": raw.array("max"),
        "domain_length_nm": raw.array("domain_length") * LENGTH_SCALE_nm,
    }
    summary = _summary(case, c0, u, grid, history, raw, thermo, diffusivity_cm2_s, t0_s, kt)
    summary["free_energy_source"] = free_energy.source
    if h5 is not None:
        write_fields_metadata(h5, case, grid, history, summary, t0_s, c0)
    return CahnHilliardResult(final_field=u, history=history, summary=summary, raw=raw)


def thermodynamics(
    free_energy: FreeEnergy,
    c0: float,
    kappa_eV_nm2: float,
    dx_nm: float,
    site_density_per_m3: float | None = None,
) -> dict[str, Any]:
    """Gaps, spinodals, interface width and energy of f at the case's temperature."""
    kt = BOLTZMANN_eV_K * free_energy.temperature_K
    gaps = analysis.miscibility_gaps(
        free_energy.f_eV, free_energy.sample_range, 1e-4 * kt, dfdc=free_energy.dfdc_eV
    )
    spinodals = analysis.spinodal_intervals(free_energy.d2fdc2_eV, free_energy.sample_range)
    gap = next((g for g in gaps if g.contains(c0)), None)
    d2f0 = float(np.asarray(free_energy.d2fdc2_eV(np.array([c0])))[0])
    spinodal_wave = d2f0 < 0 and kappa_eV_nm2 > 0
    out: dict[str, Any] = {
        "miscibility_gaps": [[g.low, g.high] for g in gaps],
        "spinodal_intervals": [list(s) for s in spinodals],
        "gap_at_mean_composition": [gap.low, gap.high] if gap else None,
        "d2f_dc2_at_mean_composition_eV": d2f0,
        "inside_spinodal": d2f0 < 0,
        "fastest_growing_wavelength_nm": (
            2 * np.pi * math.sqrt(2 * kappa_eV_nm2 / -d2f0) if spinodal_wave else None
        ),
        "interface_width_nm": None,
        "interface_energy_J_m2": None,
        "grid_points_per_interface_width": None,
    }
    if gap is not None and kappa_eV_nm2 > 0:
        props = analysis.interface_properties(free_energy.f_eV, gap, kappa_eV_nm2)
        out["interface_width_nm"] = props["width"]
        out["grid_points_per_interface_width"] = props["width"] / dx_nm
        if site_density_per_m3 is not None:
            # eV·nm per site × sites/m³ → J/m²
            out["interface_energy_J_m2"] = (
                props["energy_per_site_density"] * ELEMENTARY_CHARGE_C * 1e-9 * site_density_per_m3
            )
    out["_gap"] = gap
    return out


def _summary(
    case: CahnHilliardCase,
    c0: float,
    u: Array,
    grid: SpectralGrid,
    history: dict[str, Array],
    raw: RunHistory,
    thermo: dict[str, Any],
    diffusivity_cm2_s: float,
    t0_s: float,
    kt: float,
) -> dict[str, Any]:
    gap: analysis.MiscibilityGap | None = thermo.pop("_gap")
    times, std = history["time_s"], history["composition_std"]
    outcome: dict[str, Any] = {
        "phase_separated": False,
        "time_to_phase_separation_s": None,
        "time_to_phase_separation_t0": None,
        "domain_length_nm": None,
        "phase_fractions": None,
        "lever_rule_fraction_li_rich": None,
        "final_composition_std": float(u.std()),
        "equilibrium_composition_std": None,
        "separation_criterion": (
            f"std(c) >= {SEPARATION_THRESHOLD} x its two-phase equilibrium value "
            "(b - a) sqrt(v (1 - v)), v the lever-rule fraction"
        ),
    }
    if gap is not None:
        v = gap.lever_fraction_high(c0)
        std_eq = (gap.high - gap.low) * math.sqrt(v * (1 - v))
        threshold = 0.5 * (gap.low + gap.high)
        rich = float(np.mean(u > threshold))
        t_sep = analysis.separation_time(times, std, SEPARATION_THRESHOLD * std_eq)
        separated = bool(u.std() >= SEPARATION_THRESHOLD * std_eq)
        outcome.update(
            phase_separated=separated,
            time_to_phase_separation_s=t_sep,
            time_to_phase_separation_t0=None if t_sep is None else t_sep / t0_s,
            domain_length_nm=float(history["domain_length_nm"][-1]) if separated else None,
            phase_fractions=(
                {"li_poor": 1.0 - rich, "li_rich": rich, "threshold_composition": threshold}
                if separated
                else None
            ),
            lever_rule_fraction_li_rich=v,
            equilibrium_composition_std=std_eq,
        )
    energy = history["free_energy_eV_per_site"]
    mean = history["mean_composition"]
    increases = np.diff(energy)
    return {
        "case": case.name,
        "temperature_K": case.temperature_K,
        "mean_composition": c0,
        "mean_composition_from": (
            SPINODAL_CENTER if isinstance(case.mean_composition, str) else "config"
        ),
        "kappa_eV_nm2": case.kappa_eV_nm2,
        "grid": list(case.grid),
        "dx_nm": case.dx_nm,
        "box_nm": (grid.lengths * LENGTH_SCALE_nm).tolist(),
        "seed": case.seed,
        "noise_amplitude": case.noise_amplitude,
        "mobility": MOBILITY_LAW,
        "diffusivity_cm2_s": diffusivity_cm2_s,
        "kT_eV": kt,
        "time_unit_t0_s": t0_s,
        "final_time_t0": case.final_time_t0,
        "final_time_s": case.final_time_t0 * t0_s,
        "thermodynamics": thermo,
        "outcome": outcome,
        "conservation": {
            "mean_composition_initial": float(mean[0]),
            "mean_composition_final": float(mean[-1]),
            "relative_mass_drift": float(abs(mean[-1] - mean[0]) / abs(mean[0])),
            "free_energy_initial_eV_per_site": float(energy[0]),
            "free_energy_final_eV_per_site": float(energy[-1]),
            "max_free_energy_increase_eV_per_site": float(max(increases.max(initial=0.0), 0.0)),
        },
        "solver": {
            "scheme": SCHEME,
            "n_steps": raw.n_steps,
            "n_rejected_error": raw.n_rejected_error,
            "n_rejected_energy": raw.n_rejected_energy,
            "n_rejected_admissible": raw.n_rejected_admissible,
            "wall_time_s": raw.wall_time_s,
            "steps_per_second": raw.n_steps / raw.wall_time_s if raw.wall_time_s > 0 else None,
        },
    }


def run_case(
    case: CahnHilliardCase,
    solver: SolverSettings,
    parameters: ContinuumParameters,
    fields_path: str | Path,
    summary_path: str | Path,
    provenance: Provenance,
    master_seed: int,
    threads: int = 1,
) -> dict[str, Any]:
    """Run a case with f and D from the handoff; write fields.h5 and summary.json."""
    from ionscale.io import open_result_h5, write_json

    case.validate()
    free_energy = FreeEnergy.from_handoff(parameters, case.temperature_K)
    diffusivity = float(parameters.diffusivity_cm2_s_at(case.temperature_K))
    site_density = parameters.c_max_mol_m3 * AVOGADRO_per_mol
    with open_result_h5(fields_path, provenance) as h5:
        result = simulate(
            case,
            free_energy,
            diffusivity,
            solver,
            master_seed=master_seed,
            h5=h5,
            threads=threads,
            site_density_per_m3=site_density,
        )
    summary = {**result.summary, "solver_settings": asdict(solver)}
    write_json(summary_path, summary, provenance)
    return summary
