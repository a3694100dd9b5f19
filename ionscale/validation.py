"""The one pre-run check of a run config: what ``ionscale validate-config`` and the workflow run.

:func:`check_run_config` is called by the Snakefile (workflow/rules/common.smk) before any rule
is defined and by ``ionscale validate-config``; both therefore accept and reject exactly the
same configs. It runs, in order:

1. the JSON schema (types, ranges, unknown keys; defaults filled in), see :mod:`ionscale.config`;
2. each stage's own settings built from its section exactly as its jobs build them, so every
   cross-field rule a job would apply (``rcut_smth_A < rcut_A``, ``decay_steps < numb_steps``,
   trust windows, ranges given as min/max pairs, case lists) fails here, before any job;
3. cross-stage rules: the Arrhenius fit has enough MD temperatures, continuum cases lie inside
   the temperatures the thermo stage tabulates (the handoff does not extrapolate in T), the MD
   and active-learning cells have the vacancies they ask for, the surrogate targets are outputs
   the solvers write;
4. input files: structure and import files exist and parse, structures are 3D-periodic, hold the
   species their role needs, have no overlapping atoms and no partial occupancies.

Every problem is reported at once, one line each, naming the dotted key (or the file) and what
was expected.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from ionscale.config import ConfigError, validate_config

Check = Callable[[Mapping[str, Any], Path], None]


def check_run_config(config: Mapping[str, Any], project_dir: str | Path | None = None) -> dict:
    """Validate ``config`` completely; return the default-filled config.

    Parameters
    ----------
    config:
        The run config as read from YAML (defaults are filled in a copy).
    project_dir:
        Where relative input paths are looked up when they do not exist in the working
        directory (the project root by default).

    Raises
    ------
    ConfigError
        Listing every problem, each naming its key or file and what was expected.
    """
    from ionscale.provenance import PROJECT_ROOT

    filled = validate_config(config)  # schema errors first: later checks need a full config
    root = Path(project_dir) if project_dir is not None else PROJECT_ROOT
    problems: list[str] = []
    seen: set[str] = set()  # one bad input file fails several stages: report it once
    for key, check in CHECKS:
        try:
            check(filled, root)
        except ValueError as exc:  # every input error of the package is a ValueError
            for line in _lines(exc):
                if line not in seen:
                    seen.add(line)
                    problems.append(_with_key(key, line))
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return filled


def _lines(exc: ValueError) -> list[str]:
    """One problem a line, without a stage's own "invalid ... config:" heading."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if lines and lines[0].startswith("invalid") and lines[0].endswith(":"):
        lines = lines[1:]
    return lines


def _with_key(key: str, line: str) -> str:
    """Prefix the stage key unless the message already names a key of it (or a file)."""
    head = line.split(":", 1)[0]
    if head.startswith(key.split(".")[0]) or "/" in head or head.startswith("key '"):
        return line
    return f"{key}: {line}"


# -- stage rules: each stage's settings, built as its jobs build them --------------------------


def _reference(cfg: Mapping[str, Any], root: Path) -> None:
    from ionscale.reference.stage import plan_workflow

    plan_workflow(cfg["reference"], root)


def _reference_labels(cfg: Mapping[str, Any], root: Path) -> None:
    from ionscale.reference.stage import check_label_settings

    check_label_settings(cfg["reference"], root)


def _fingerprint(cfg: Mapping[str, Any], root: Path) -> None:
    from ionscale.fingerprint import FingerprintSettings

    FingerprintSettings.from_config(cfg["fingerprint"])


def _potential(cfg: Mapping[str, Any], root: Path) -> None:
    from ionscale.potential.settings import PotentialSettings

    PotentialSettings.from_config(cfg["potential"])
    _lattice_check(cfg)


def _lattice_check(cfg: Mapping[str, Any]) -> None:
    """``potential.lattice_check``: its structures name roles the reference stage has."""
    from ionscale.potential.lattice import LatticeCheckSettings

    s = LatticeCheckSettings.from_config(cfg["potential"]["lattice_check"])
    if not s.enabled:
        return
    for t in s.structures:
        role = cfg["reference"][t.role]
        if not (role.get("file") or role.get("prototype")):
            raise ConfigError(
                f"potential.lattice_check.structures: role {t.role!r} needs reference.{t.role}"
                ".file or .prototype (none is set)"
            )


def _md(cfg: Mapping[str, Any], root: Path) -> None:
    from ionscale.md import MDSettings

    for t in cfg["md"]["temperatures_K"]:
        MDSettings.from_config(
            cfg["md"], t, seed=0, mobile_species=cfg["reference"]["mobile_species"]
        )


def _active(cfg: Mapping[str, Any], root: Path) -> None:
    from ionscale.active import ActiveSettings

    ActiveSettings.from_config(cfg["active_learning"])


def _active_rounds(cfg: Mapping[str, Any], root: Path) -> None:
    """Rules that matter only when active learning runs."""
    al = cfg["active_learning"]
    if al["max_rounds"] == 0:
        return
    _vacancies(cfg, root, key="active_learning")
    md_temps, al_temps = cfg["md"]["temperatures_K"], al["temperatures_K"]
    if max(al_temps) < max(md_temps):
        raise ConfigError(
            f"active_learning.temperatures_K = {list(al_temps)} must reach the highest of "
            f"md.temperatures_K = {list(md_temps)}: the potential fails first at the hottest "
            "temperature of the sweep, so the exploration has to go there (the convergence "
            "check runs at every md temperature)"
        )
    numb, decay = (
        cfg["potential"]["training"]["numb_steps"],
        cfg["potential"]["learning_rate"]["decay_steps"],
    )
    steps = al["training_steps"] if al["training_steps"] is not None else numb
    if steps <= decay:
        raise ConfigError(
            f"active_learning.training_steps = {steps} (retraining steps per round) must exceed "
            f"potential.learning_rate.decay_steps = {decay}, else the learning rate never decays"
        )


def _diffusion(cfg: Mapping[str, Any], root: Path) -> None:
    from ionscale.diffusion import ArrheniusSettings, MSDSettings

    MSDSettings.from_config(cfg["diffusion"])
    ArrheniusSettings.from_config(cfg["diffusion"])


def _diffusion_temperatures(cfg: Mapping[str, Any], root: Path) -> None:
    need, have = cfg["diffusion"]["min_temperatures"], len(cfg["md"]["temperatures_K"])
    if need > have:
        raise ConfigError(
            f"diffusion.min_temperatures = {need}: the Arrhenius fit can never have that many; "
            f"md.temperatures_K lists {have}"
        )
    temps = cfg["md"]["temperatures_K"]
    span = cfg["diffusion"]["min_temperature_span_K"]
    if max(temps) - min(temps) < span:
        raise ConfigError(
            f"diffusion.min_temperature_span_K = {span:g}: md.temperatures_K = {list(temps)} "
            f"span {max(temps) - min(temps):g} K, so the Arrhenius fit can never have it"
        )


def _thermo(cfg: Mapping[str, Any], root: Path) -> None:
    from ionscale.thermo.stage import check_settings

    check_settings(cfg["thermo"])


def _named(key: str, build: Callable[[], Any]) -> Any:
    """``build()``, its ValueError prefixed with ``key``."""
    try:
        return build()
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def _thermo_structures(cfg: Mapping[str, Any], root: Path) -> None:
    """The x = 0 reference (``reference.host``) is the lithiated host's framework without the
    mobile species, and ``thermo.relax.relax_cell: "c"`` has layers in the xy plane to strain
    along z. Structures that do not load are the reference check's to report."""
    from ionscale.thermo.atomistic import check_layers_in_xy
    from ionscale.thermo.settings import host_from_config, host_reference_from_config
    from ionscale.thermo.structures import framework_formula_units

    try:
        host = host_from_config(cfg["reference"])
        empty = host_reference_from_config(cfg["reference"])
    except ValueError:
        return
    mode = cfg["thermo"]["relax"]["relax_cell"]
    checks = []
    if mode == "c":
        name = f"reference.structure ({host.source})"
        checks.append(lambda: check_layers_in_xy(host.primitive, name))
    for n in cfg["thermo"]["orderings"].get("stages", ()):
        from ionscale.reference.structures import staged_structure

        checks.append(
            lambda n=n: _named(
                "thermo.orderings.stages",
                lambda: staged_structure(host.primitive, int(n), host.mobile_species),
            )
        )
    if cfg["thermo"]["energies"]["source"] == "dft":
        from ionscale.reference.calculators import CalculatorSettings
        from ionscale.thermo.dft_energies import thermo_calculator_config

        checks.append(
            lambda: _named(
                "thermo.energies.calculator",
                lambda: CalculatorSettings.from_config(thermo_calculator_config(cfg)),
            )
        )
    if empty is not None:
        name_empty = f"reference.host ({empty.info['source']})"
        checks.append(lambda: framework_formula_units(empty, host, name_empty))
        if mode is not True:  # the empty host relaxes at least along c
            checks.append(lambda: check_layers_in_xy(empty, name_empty))
    problems = []
    for check in checks:
        try:
            check()
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))


def _phasefield(cfg: Mapping[str, Any], root: Path) -> None:
    from ionscale.phasefield.cahn_hilliard import CahnHilliardCase, SolverSettings, cases_by_name

    SolverSettings.from_config(cfg["phasefield"]["solver"])
    for entry in cases_by_name(cfg["phasefield"]["cases"]).values():
        CahnHilliardCase.from_config(entry)


def _fem(cfg: Mapping[str, Any], root: Path) -> None:
    from ionscale.fem.model import SolverSettings, cases_by_name

    SolverSettings.from_config(cfg["fem"]["solver"]).validate()
    cases_by_name(cfg["fem"]["cases"])


def _surrogate(cfg: Mapping[str, Any], root: Path) -> None:
    from ionscale.surrogate.study import check_config

    check_config(cfg)


# -- cross-stage helpers ------------------------------------------------------------------------


def _case_temperatures(cfg: Mapping[str, Any], root: Path, *, stage: str) -> None:
    """Continuum cases run at temperatures the thermo stage tabulates f(x, T) for (the handoff
    interpolates between tabulated temperatures and never extrapolates)."""
    temps = sorted(cfg["thermo"]["temperatures_K"])
    lo, hi = temps[0], temps[-1]
    bad = [
        f"{stage}.cases[{e['name']}].temperature_K = {e['temperature_K']} K: outside the "
        f"temperatures thermo.temperatures_K tabulates f(x, T) for ([{lo}, {hi}] K; the handoff "
        "does not extrapolate in T)"
        for e in cfg[stage]["cases"]
        if not lo - 1e-6 <= float(e["temperature_K"]) <= hi + 1e-6
    ]
    sweeps = cfg["surrogate"][stage]
    if sweeps["n_samples"] > 0:
        for i, p in enumerate(sweeps["parameters"]):
            if p["name"] == "temperature_K" and not (lo <= p["low"] and p["high"] <= hi):
                bad.append(
                    f"surrogate.{stage}.parameters[{i}]: temperature_K swept over "
                    f"[{p['low']}, {p['high']}] K, outside thermo.temperatures_K [{lo}, {hi}] K"
                )
    if bad:
        raise ConfigError("\n".join(bad))


def _vacancies(cfg: Mapping[str, Any], root: Path, *, key: str) -> None:
    """The cell of ``key`` (md or active_learning) keeps at least one mobile ion."""
    from ionscale.reference.stage import host_structure
    from ionscale.reference.structures import sublattice_indices

    host = host_structure(cfg["reference"], root)
    section = cfg[key]
    sites = len(sublattice_indices(host, cfg["reference"]["mobile_species"])) * math.prod(
        section["supercell"]
    )
    if section["mobile_vacancies"] >= sites:
        raise ConfigError(
            f"{key}.mobile_vacancies = {section['mobile_vacancies']}: the "
            f"{'×'.join(map(str, section['supercell']))} cell ({key}.supercell) has {sites} "
            f"{cfg['reference']['mobile_species']} sites; leave at least one occupied"
        )


#: (key named in errors, check) in the order of the chain; independent rules are separate
#: checks, so one problem does not hide another.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("reference", _reference),
    ("reference", _reference_labels),
    ("fingerprint", _fingerprint),
    ("potential", _potential),
    ("md", _md),
    ("md", partial(_vacancies, key="md")),
    ("active_learning", _active),
    ("active_learning", _active_rounds),
    ("diffusion", _diffusion),
    ("diffusion", _diffusion_temperatures),
    ("thermo", _thermo),
    ("thermo", _thermo_structures),
    ("phasefield", _phasefield),
    ("phasefield", partial(_case_temperatures, stage="phasefield")),
    ("fem", _fem),
    ("fem", partial(_case_temperatures, stage="fem")),
    ("surrogate", _surrogate),
)
