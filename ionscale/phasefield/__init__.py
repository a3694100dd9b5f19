"""Phase-field models on periodic grids, fed by the handoff file.

- :mod:`ionscale.phasefield.core`: the model-independent solver (spectral grid, stabilised
  semi-implicit stepper with step-doubling error control, streamed HDF5 snapshots).
- :mod:`ionscale.phasefield.cahn_hilliard`: Cahn–Hilliard for the Li site fraction with f(c, T)
  and D(T) from ``handoff/parameters.h5`` (runs a case and builds its summary); the model and
  scheme are in :mod:`~ionscale.phasefield.ch_model`, cases and settings in
  :mod:`~ionscale.phasefield.ch_settings`, the output contract in
  :mod:`~ionscale.phasefield.ch_output`.
- :mod:`ionscale.phasefield.analysis`: miscibility gaps, spinodals, interface width and energy,
  structure-factor domain size.
- :mod:`ionscale.phasefield.plots`: snapshot images and history plots.
"""

from ionscale.phasefield.cahn_hilliard import (
    CahnHilliardCase,
    CahnHilliardModel,
    CahnHilliardResult,
    FreeEnergy,
    SolverSettings,
    cases_by_name,
    darken_mobility,
    run_case,
    simulate,
)
from ionscale.phasefield.core import (
    FieldRecorder,
    PhaseFieldError,
    RunHistory,
    SpectralGrid,
    StepControl,
    integrate,
)

__all__ = [
    "CahnHilliardCase",
    "CahnHilliardModel",
    "CahnHilliardResult",
    "FieldRecorder",
    "FreeEnergy",
    "PhaseFieldError",
    "RunHistory",
    "SolverSettings",
    "SpectralGrid",
    "StepControl",
    "cases_by_name",
    "darken_mobility",
    "integrate",
    "run_case",
    "simulate",
]
