"""The thermo stage's steps as the workflow runs them: settings from the config, results to disk.

Each ``run_*`` function is one Snakemake rule (scripts/thermo_*.py only pass paths and config):

- :func:`run_orderings`: enumerate, relax with DP model 0, energies with every ensemble member,
  formation energies, convex hull → ``orderings.h5`` (+ the lattice decorations and the relaxed
  structures as extxyz).
- :func:`run_cluster_expansion`: icet cluster expansion with k-fold CV → ``cluster_expansion.ce``
  and ``cluster_expansion.json``.
- :func:`run_monte_carlo`: one temperature → ``mc/T{T}K.h5``.
- :func:`run_free_energy`: integrable networks per temperature, tables, spinodal, two-phase
  regions and OCV → ``free_energy.h5``.
- :func:`plot_ocv_file` and :func:`run_dft_check`: the OCV plot and the DFT spot check.
- :func:`run_ocv_check`: the learned OCV against measurement → ``ocv_check.json``.

Three of them are gates (:mod:`~ionscale.thermo.gates`): the DFT check (MAE of the DP formation
energies against DFT), the OCV identity ∫₀¹ OCV dx = −ΔE_f(1)/e checked by
:func:`run_free_energy` and the OCV against measurement (:func:`run_ocv_check`); a failure
stops the chain unless the config allows it.

The code lives by responsibility, and every name stays importable from here:

- :mod:`~ionscale.thermo.settings`: settings objects from the config, the host lattice;
- :mod:`~ionscale.thermo.results`: what the rules compute, in memory (orderings, free energy);
- :mod:`~ionscale.thermo.io`: the product contract of orderings.h5, mc/T{T}K.h5 and
  free_energy.h5 (dataset names, units, writers and readers);
- :mod:`~ionscale.thermo.energies`: the rules at T = 0 (orderings and hull, cluster
  expansion, DFT spot check);
- :mod:`~ionscale.thermo.free_energy`: the rules at finite temperature (Monte Carlo, the
  learned free energy, the OCV plot);
- :mod:`~ionscale.thermo.gates`: the checks that stop the chain (DFT check, OCV identity).
"""

from __future__ import annotations

from ionscale.thermo.atomistic import RelaxSettings
from ionscale.thermo.cluster_expansion import CESettings
from ionscale.thermo.energies import (
    compute_orderings,
    log,
    run_cluster_expansion,
    run_dft_check,
    run_orderings,
)
from ionscale.thermo.free_energy import (
    EXTRAPOLATION_TOLERANCE,
    check_grid_within_data,
    check_ocv_identity,
    learn_free_energy,
    plot_ocv_file,
    run_free_energy,
    run_monte_carlo,
    run_ocv_check,
)
from ionscale.thermo.gates import (
    DFTCheckSettings,
    OCVIdentitySettings,
    ThermoGateError,
    judge_dft_check,
    ocv_identity,
)
from ionscale.thermo.io import (
    OCVCurves,
    free_energy_datasets,
    read_mc,
    read_network,
    read_ocv_curves,
    read_orderings_for_fit,
    temperature_label,
    write_free_energy,
    write_mc,
    write_orderings,
)
from ionscale.thermo.montecarlo import MCResult, MCSettings, MonteCarloDataError
from ionscale.thermo.network import FitResult, IntegrableFreeEnergy, NetworkSettings
from ionscale.thermo.results import FreeEnergyResult, Orderings
from ionscale.thermo.settings import (
    check_settings,
    host_from_config,
    mc_settings,
    network_settings,
    ocv_identity_settings,
    relax_settings,
    structure_file,
    x_grid,
)
from ionscale.thermo.structures import HostLattice

__all__ = [
    "EXTRAPOLATION_TOLERANCE",
    "CESettings",
    "DFTCheckSettings",
    "FitResult",
    "FreeEnergyResult",
    "HostLattice",
    "IntegrableFreeEnergy",
    "MCResult",
    "MCSettings",
    "MonteCarloDataError",
    "NetworkSettings",
    "OCVCurves",
    "OCVIdentitySettings",
    "Orderings",
    "RelaxSettings",
    "ThermoGateError",
    "check_grid_within_data",
    "check_ocv_identity",
    "check_settings",
    "compute_orderings",
    "free_energy_datasets",
    "host_from_config",
    "judge_dft_check",
    "learn_free_energy",
    "log",
    "mc_settings",
    "network_settings",
    "ocv_identity",
    "ocv_identity_settings",
    "plot_ocv_file",
    "read_mc",
    "read_network",
    "read_ocv_curves",
    "read_orderings_for_fit",
    "relax_settings",
    "run_cluster_expansion",
    "run_dft_check",
    "run_free_energy",
    "run_monte_carlo",
    "run_ocv_check",
    "run_orderings",
    "structure_file",
    "temperature_label",
    "write_free_energy",
    "write_mc",
    "write_orderings",
    "x_grid",
]
