"""Molecular dynamics with the DeePMD ensemble in LAMMPS: one run per temperature (md stage).

LAMMPS runs with ``pair_style deepmd`` through the engine layer below the stages,
:mod:`ionscale.engines.lammps` (the ensemble and its model deviation as DP-GEN defines it, the
blow-up checks, the optional ZBL overlay). The stage's modules:

- :mod:`ionscale.md.settings`: :class:`MDSettings` (config key ``md``) and the errors;
- :mod:`ionscale.md.cell`: :func:`build_md_cell`, the host structure repeated, with vacancies,
  and :func:`md_stage_cell`, the md stage's own cell from the config;
- :mod:`ionscale.md.run`: :func:`run_md`, the protocol (set-up, equilibration, production) and
  the trust levels;
- :mod:`ionscale.md.io`: the ``md/T{T}K/trajectory.h5`` contract (names, units, writer).

Threads: DeePMD-kit and OpenMP thread pools are set by the caller (scripts/_common.py). Under MPI
(more than one rank) LAMMPS decomposes the box; only rank 0 writes files.
"""

from ionscale.engines.lammps import pair_commands, read_model_deviation
from ionscale.md.cell import build_md_cell, md_stage_cell
from ionscale.md.io import FAILED_TRAJECTORY_NAME, MDSummary
from ionscale.md.run import run_md
from ionscale.md.settings import (
    MDBlowUpError,
    MDExtrapolationError,
    MDInputError,
    MDRunError,
    MDSettings,
    MDWarning,
)

__all__ = [
    "FAILED_TRAJECTORY_NAME",
    "MDBlowUpError",
    "MDExtrapolationError",
    "MDInputError",
    "MDRunError",
    "MDSettings",
    "MDSummary",
    "MDWarning",
    "build_md_cell",
    "md_stage_cell",
    "pair_commands",
    "read_model_deviation",
    "run_md",
]
