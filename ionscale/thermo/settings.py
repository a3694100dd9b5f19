"""The thermo stage's settings built from the config, as every thermo job builds them.

The ``thermo`` config section gives :class:`~ionscale.thermo.atomistic.RelaxSettings`,
:class:`~ionscale.thermo.cluster_expansion.CESettings`,
:class:`~ionscale.thermo.montecarlo.MCSettings`, :class:`~ionscale.thermo.network.NetworkSettings`,
the gates' :class:`~ionscale.thermo.gates.DFTCheckSettings` and
:class:`~ionscale.thermo.gates.OCVIdentitySettings` and the output x grid; the reference
stage's keys (``reference.structure``, ``reference.mobile_species``) give the host lattice.
:func:`check_settings` builds them all before any job runs, so a bad value is an error naming
its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ionscale.thermo.atomistic import RelaxSettings
from ionscale.thermo.cluster_expansion import CESettings
from ionscale.thermo.gates import DFTCheckSettings, OCVIdentitySettings
from ionscale.thermo.io import temperature_label
from ionscale.thermo.montecarlo import MCSettings
from ionscale.thermo.network import NetworkSettings
from ionscale.thermo.structures import HostLattice, HostStructureError, load_host

__all__ = [
    "check_settings",
    "host_from_config",
    "host_reference_from_config",
    "mc_settings",
    "network_settings",
    "ocv_identity_settings",
    "relax_settings",
    "structure_file",
    "temperature_label",
    "x_grid",
]


def structure_file(reference: Mapping[str, Any]) -> str:
    """``reference.structure.file`` resolved as every stage resolves it (working directory,
    then the project; a ConfigError naming the key if neither); empty for a prototype."""
    from ionscale.provenance import PROJECT_ROOT
    from ionscale.reference.stage import structure_path

    path = structure_path(reference, PROJECT_ROOT)
    return "" if path is None else str(path)


def host_from_config(reference: Mapping[str, Any]) -> HostLattice:
    """The host named by the reference stage's keys ``structure.file`` or
    ``structure.prototype`` and ``mobile_species`` (the ``reference`` section)."""
    return load_host(
        structure_file(reference),
        reference["structure"]["prototype"],
        reference["mobile_species"],
    )


def host_reference_from_config(reference: Mapping[str, Any]) -> Any | None:
    """The empty host end member (``reference.host``: a file, resolved as every stage resolves
    it, or a prototype), the x = 0 reference of the thermo stage's formation energies; None when
    ``reference.host.enabled`` is false or neither a file nor a prototype is given (the thermo
    stage then refers to the empty lattice cell). Its framework is checked against the lithiated
    host's by :func:`ionscale.thermo.structures.framework_formula_units`."""
    from ionscale.provenance import PROJECT_ROOT
    from ionscale.reference.stage import resolve_path
    from ionscale.reference.structures import StructureError, load_structure

    h = reference["host"]
    if not h["enabled"] or not (h["file"] or h["prototype"]):
        return None
    file = resolve_path(h["file"], "reference.host.file", PROJECT_ROOT) if h["file"] else None
    try:
        atoms = load_structure(file=file, prototype=h["prototype"] or None)
    except StructureError as exc:
        raise HostStructureError(f"reference.host: {exc}") from None
    atoms.info["source"] = str(file) if file else f"prototype {h['prototype']}"
    return atoms


def check_settings(thermo: Mapping[str, Any]) -> None:
    """Build every settings object of the ``thermo`` section as the jobs do (cross-field rules:
    x ranges, temperatures in whole kelvin); raises ValueError listing every problem, each
    naming its key."""
    builds = {
        "thermo.temperatures_K": lambda: [
            temperature_label(float(t)) for t in thermo["temperatures_K"]
        ],
        "thermo.relax": lambda: relax_settings(thermo),
        "thermo.dft_check": lambda: DFTCheckSettings.from_config(thermo["dft_check"]),
        "thermo.energies": lambda: _energy_settings(thermo),
        "thermo.ocv_identity": lambda: ocv_identity_settings(thermo),
        "thermo.ocv_check": lambda: _ocv_check_settings(thermo),
        "thermo.cluster_expansion": lambda: CESettings(**thermo["cluster_expansion"]),
        "thermo.monte_carlo": lambda: mc_settings(thermo, seed=0),
        "thermo.network": lambda: network_settings(thermo, seed=0),
        "thermo.grid": lambda: x_grid(thermo),
    }
    problems = []
    for key, build in builds.items():
        try:
            build()
        except (ValueError, TypeError) as exc:
            text = str(exc)
            problems.append(text if text.startswith(key) else f"{key}: {text}")
    if problems:
        raise ValueError("\n".join(problems))


def _ocv_check_settings(thermo: Mapping[str, Any]) -> Any:
    """``thermo.ocv_check``, its temperature one of ``thermo.temperatures_K`` when enabled."""
    from ionscale.thermo.gates import OCVCheckSettings

    s = OCVCheckSettings.from_config(thermo["ocv_check"])
    temps = [float(t) for t in thermo["temperatures_K"]]
    if s.enabled and not any(abs(s.temperature_K - t) < 1e-6 for t in temps):
        raise ValueError(
            f"thermo.ocv_check.temperature_K = {s.temperature_K:g} K is not one of "
            f"thermo.temperatures_K = {temps} (the check reads the table at that temperature)"
        )
    return s


def _energy_settings(thermo: Mapping[str, Any]) -> Any:
    from ionscale.thermo.dft_energies import DFTEnergySettings

    return DFTEnergySettings.from_config(thermo["energies"])


def relax_settings(cfg: Mapping[str, Any]) -> RelaxSettings:
    return RelaxSettings(**cfg["relax"])


def mc_settings(cfg: Mapping[str, Any], seed: int) -> MCSettings:
    m = dict(cfg["monte_carlo"])
    return MCSettings(**m, seed=seed)


def network_settings(cfg: Mapping[str, Any], seed: int) -> NetworkSettings:
    return NetworkSettings(**cfg["network"], seed=seed)


def ocv_identity_settings(cfg: Mapping[str, Any]) -> OCVIdentitySettings:
    return OCVIdentitySettings.from_config(cfg["ocv_identity"])


def x_grid(cfg: Mapping[str, Any]) -> np.ndarray:
    g = cfg["grid"]
    if not 0 < g["x_min"] < g["x_max"] < 1:
        raise ValueError(f"thermo.grid: need 0 < x_min < x_max < 1, got {g['x_min']}, {g['x_max']}")
    return np.linspace(g["x_min"], g["x_max"], g["n_points"])
