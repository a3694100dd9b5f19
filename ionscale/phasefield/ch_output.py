"""Output contract of a Cahn–Hilliard case.

- ``summary.json``: :data:`SUMMARY_SCALARS` lists every scalar it holds (besides the solver
  settings); the summary itself is built by :mod:`ionscale.phasefield.cahn_hilliard`.
- ``fields.h5``: group ``snapshots`` (c on the grid and the snapshot times, streamed by
  :class:`ionscale.phasefield.core.FieldRecorder` during the run), group ``history`` (one row
  per accepted step, :data:`HISTORY_UNITS`), group ``grid`` and the case's attributes
  (:func:`write_fields_metadata`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.phasefield.ch_model import MOBILITY_LAW, SCHEME, Array, LENGTH_SCALE_nm
from ionscale.phasefield.core import SpectralGrid, write_history

if TYPE_CHECKING:
    import h5py

    from ionscale.phasefield.ch_settings import CahnHilliardCase

#: The output contract of a case's summary.json: every scalar it holds (dotted paths; a value
#: may be null, e.g. ``outcome.time_to_phase_separation_s`` when the case never separates),
#: besides the solver settings. Surrogate targets and optimisation outputs are checked against
#: it before any job; the end-to-end test checks the writer against it.
SUMMARY_SCALARS: tuple[str, ...] = (
    "temperature_K",
    "mean_composition",
    "kappa_eV_nm2",
    "dx_nm",
    "seed",
    "noise_amplitude",
    "diffusivity_cm2_s",
    "kT_eV",
    "time_unit_t0_s",
    "final_time_t0",
    "final_time_s",
    "thermodynamics.d2f_dc2_at_mean_composition_eV",
    "thermodynamics.fastest_growing_wavelength_nm",
    "thermodynamics.interface_width_nm",
    "thermodynamics.interface_energy_J_m2",
    "thermodynamics.grid_points_per_interface_width",
    "outcome.time_to_phase_separation_s",
    "outcome.time_to_phase_separation_t0",
    "outcome.domain_length_nm",
    "outcome.phase_fractions.li_poor",
    "outcome.phase_fractions.li_rich",
    "outcome.phase_fractions.threshold_composition",
    "outcome.lever_rule_fraction_li_rich",
    "outcome.final_composition_std",
    "outcome.equilibrium_composition_std",
    "conservation.mean_composition_initial",
    "conservation.mean_composition_final",
    "conservation.relative_mass_drift",
    "conservation.free_energy_initial_eV_per_site",
    "conservation.free_energy_final_eV_per_site",
    "conservation.max_free_energy_increase_eV_per_site",
    "solver.n_steps",
    "solver.n_rejected_error",
    "solver.n_rejected_energy",
    "solver.n_rejected_admissible",
    "solver.wall_time_s",
    "solver.steps_per_second",
)

HISTORY_UNITS = {
    "time_s": "s",
    "dt_s": "s",
    "free_energy_eV_per_site": "eV/site",
    "mean_composition": "1",
    "composition_std": "1",
    "composition_min": "1",
    "composition_max": "1",
    "domain_length_nm": "nm",
}
HISTORY_DESCRIPTIONS = {
    "time_s": "time after each accepted step",
    "dt_s": "step that led to this time",
    "free_energy_eV_per_site": "box average of f(c) + kappa/2 |grad c|^2",
    "mean_composition": "box average of c (conserved)",
    "composition_std": "standard deviation of c over the box",
    "composition_min": "smallest c on the grid",
    "composition_max": "largest c on the grid",
    "domain_length_nm": "2 pi / <k>, first moment of the structure factor",
}


def write_fields_metadata(
    h5: h5py.Group,
    case: CahnHilliardCase,
    grid: SpectralGrid,
    history: dict[str, Array],
    summary: dict[str, Any],
    t0_s: float,
    c0: float,
) -> None:
    """fields.h5 besides the snapshots: the history, the grid and the case's attributes."""
    from ionscale.io import add_dataset

    write_history(h5.create_group("history"), history, HISTORY_UNITS, HISTORY_DESCRIPTIONS)
    g = h5.create_group("grid")
    add_dataset(g, "spacing_nm", grid.spacing * LENGTH_SCALE_nm, "nm", "grid spacing per axis")
    add_dataset(g, "shape", np.asarray(grid.shape), "1", "points per axis")
    h5.attrs["case"] = case.name
    h5.attrs["temperature_K"] = case.temperature_K
    h5.attrs["mean_composition"] = c0
    h5.attrs["kappa_eV_nm2"] = case.kappa_eV_nm2
    h5.attrs["time_unit_t0_s"] = t0_s
    h5.attrs["mobility"] = MOBILITY_LAW
    h5.attrs["scheme"] = SCHEME
