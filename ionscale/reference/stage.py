"""The reference stage's steps as plain functions: sample, label one batch, import, gather.

Each step reads and writes files (so it runs the same under Snakemake, from a notebook or on a
cluster node) and takes exactly the config subset it uses. Snakemake's ``script:`` files in
``scripts/reference_*.py`` only unpack ``snakemake.input/output/params`` and call these.

Outputs:

- ``sampled.extxyz`` + ``sampling.json``: candidate frames (positions only) and what sampling
  left out (near-duplicates, rejected candidates) with reasons.
- ``batches/batch_NNNN.extxyz`` + ``.json``: the labelled frames of one batch and its failure
  records and timings.
- ``imported.extxyz`` + ``imported.json``: frames imported from existing DFT data.
- ``labelled.extxyz``, ``failed.json``, ``summary.json``: every frame that was labelled and passed
  the checks; every frame that failed (DFT or check) with its reason; counts, timings and the
  ideal reference energies. Every sampled frame is in exactly one of labelled and failed.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from ionscale.config import ConfigError
from ionscale.io import atomic_path, write_json
from ionscale.provenance import Provenance

log = logging.getLogger(__name__)


class ReferenceStageError(RuntimeError):
    """The stage cannot produce trustworthy data (too many failures, frames unaccounted for)."""


def read_frames(path: str | Path) -> list[Atoms]:
    """All frames of an extxyz file; an empty file is an empty list (an empty batch)."""
    import ase.io

    path = Path(path)
    if path.stat().st_size == 0:
        return []
    return list(ase.io.read(path, index=":", format="extxyz"))


def write_frames(path: str | Path, frames: Sequence[Atoms]) -> Path:
    """Write frames (with their labels and info) to extxyz atomically; none: an empty file."""
    import ase.io

    with atomic_path(path) as tmp:
        if frames:
            ase.io.write(tmp, list(frames), format="extxyz")
        else:
            tmp.write_text("")
    return Path(path)


def resolve_path(path: str | Path, key: str, project_dir: str | Path) -> Path:
    """A path from the config: as given if it exists (absolute, or relative to the working
    directory), else relative to the project directory; a ConfigError naming the key if neither.
    """
    p = Path(path)
    found = p if (p.is_absolute() or p.exists()) else Path(project_dir) / p
    if not found.exists():
        raise ConfigError(
            f"{key}: file {path} does not exist (looked in the working directory and in "
            f"{project_dir})"
        )
    return found


@dataclass(frozen=True)
class WorkflowPlan:
    """What the workflow needs to know at parse time.

    Parameters
    ----------
    batches:
        Batch labels ``"0000"``, ``"0001"``, ... (one labelling job each).
    files:
        Resolved structure files by role (``structure``, ``li_metal``, ``host``).
    imports:
        Resolved import files, in config order.
    planned_frames:
        Upper bound of the number of sampled frames.
    """

    batches: list[str]
    files: dict[str, str]
    imports: list[str]
    planned_frames: int


def plan_workflow(reference: Mapping[str, Any], project_dir: str | Path) -> WorkflowPlan:
    """Check the reference config and its input files, and plan the labelling batches.

    Runs when the workflow is parsed, so bad input stops the run before any job: a missing or
    unreadable structure file, a structure without the mobile species or with overlapping atoms,
    an unknown calculator, a batch size below 1, a missing import file, a Li-metal end member
    that is not pure mobile species, a host end member that contains it, partial occupancies.

    Raises
    ------
    ConfigError, StructureError
        Naming the key or the file and what was expected.
    """
    from ionscale.reference.calculators import CalculatorSettings, get_calculator_spec
    from ionscale.reference.sampling import SamplingSettings, batch_count, planned_frame_count
    from ionscale.reference.structures import sublattice_indices, validate_structure

    files = structure_files(reference, project_dir)
    imports = [
        str(resolve_path(item["file"], f"reference.imports[{i}].file", project_dir))
        for i, item in enumerate(reference["imports"])
    ]
    if not reference["sampling"]["enabled"] and not imports:
        raise ConfigError(
            "reference.sampling.enabled: false leaves no reference data: list your DFT data "
            "in reference.imports (or enable sampling)"
        )
    get_calculator_spec(CalculatorSettings.from_config(reference["calculator"]).name)
    settings = SamplingSettings.from_config(reference)
    host = role_structure(
        files.get("structure"), reference["structure"]["prototype"], "reference.structure"
    )
    name = files.get("structure", f"prototype {reference['structure']['prototype']}")
    validate_structure(host, name, settings.min_distance_A, settings.mobile_species)
    for role in ("li_metal", "host"):
        if reference[role]["enabled"]:
            _check_end_member(
                role_structure(files.get(role), reference[role]["prototype"], f"reference.{role}"),
                role,
                files.get(role, f"prototype {reference[role]['prototype']}"),
                settings.min_distance_A,
                settings.mobile_species,
            )
    for n in settings.stages:
        from ionscale.reference.structures import StructureError, staged_structure

        try:
            staged_structure(host, n, settings.mobile_species)
        except StructureError as exc:
            raise ConfigError(f"reference.sampling.stages: {name}: {exc}") from None
    planned = planned_frame_count(settings, len(sublattice_indices(host, settings.mobile_species)))
    n_batches = batch_count(planned, int(reference["batch_size"]))
    return WorkflowPlan([f"{i:04d}" for i in range(n_batches)], files, imports, planned)


def structure_files(reference: Mapping[str, Any], project_dir: str | Path) -> dict[str, str]:
    """The resolved structure files by role (``structure``, ``li_metal``, ``host``; a role
    given as a prototype or disabled has none)."""
    files: dict[str, str] = {}
    if (path := structure_path(reference, project_dir)) is not None:
        files["structure"] = str(path)
    for role in ("li_metal", "host"):
        if reference[role]["enabled"] and reference[role]["file"]:
            key = f"reference.{role}.file"
            files[role] = str(resolve_path(reference[role]["file"], key, project_dir))
    return files


def check_label_settings(reference: Mapping[str, Any], project_dir: str | Path) -> None:
    """The Pulay correction and the convergence gate as their rules build them: a plane-wave
    code, a valid step, calibration cells that separate every species, tight settings at least
    the configured ones (ConfigError naming the key)."""
    from ionscale.reference.calculators import CalculatorSettings, check_dispersion
    from ionscale.reference.convergence import ConvergenceSettings
    from ionscale.reference.pulay import PulaySettings, check_calibration_cells, check_settings

    calc = CalculatorSettings.from_config(reference["calculator"])
    check_dispersion(calc)
    pulay = PulaySettings.from_config(reference["pulay_correction"])
    check_settings(calc, pulay)
    if pulay.enabled:
        check_calibration_cells(
            calibration_cells(reference, structure_files(reference, project_dir))
        )
    convergence = ConvergenceSettings.from_config(reference["convergence"])
    if convergence.enabled:
        convergence.tight(calc)


def structure_path(reference: Mapping[str, Any], project_dir: str | Path) -> Path | None:
    """``reference.structure.file`` resolved as :func:`resolve_path` does (the one place every
    stage resolves it); None when the host is a prototype."""
    file = reference["structure"]["file"]
    return resolve_path(file, "reference.structure.file", project_dir) if file else None


def host_structure(reference: Mapping[str, Any], project_dir: str | Path) -> Atoms:
    """The host structure of the run (``reference.structure``: a file, see
    :func:`structure_path`, or a prototype)."""
    return role_structure(
        structure_path(reference, project_dir),
        reference["structure"]["prototype"],
        "reference.structure",
    )


def _check_end_member(
    atoms: Atoms, role: str, name: str, min_distance_A: float, mobile_species: str
) -> None:
    """The Li-metal end member is the pure mobile species; the host holds none of it."""
    from ionscale.reference.structures import StructureError, validate_structure

    symbols = set(atoms.get_chemical_symbols())
    key = f"reference.{role}"
    if role == "li_metal" and symbols != {mobile_species}:
        raise StructureError(
            f"{key}: {name} is the metal end member and must contain only {mobile_species} "
            f"(the mobile species); it has {atoms.get_chemical_formula()}"
        )
    if role == "host" and mobile_species in symbols:
        raise StructureError(
            f"{key}: {name} is the empty host end member and must contain no {mobile_species} "
            f"(the mobile species); it has {atoms.get_chemical_formula()}"
        )
    try:
        validate_structure(atoms, name, min_distance_A)
    except StructureError as exc:
        raise StructureError(f"{key}: {exc}") from None


def role_structure(file: str | Path | None, prototype: str, what: str) -> Atoms:
    """A structure role of the config (``what``, e.g. ``reference.structure``): its resolved
    file, else its prototype; a StructureError names ``what``."""
    from ionscale.reference.structures import StructureError, load_structure

    try:
        return load_structure(file=file or None, prototype=prototype or None)
    except StructureError as exc:
        raise StructureError(f"{what}: {exc}") from None


def sample(
    config: Mapping[str, Any],
    structure_file: str | Path | None,
    li_metal_file: str | Path | None,
    host_file: str | Path | None,
    out_frames: str | Path,
    out_summary: str | Path,
    provenance: Provenance,
    md_txt: Any = None,
) -> Any:
    """Sample the candidate frames and write ``sampled.extxyz`` and ``sampling.json``.

    ``config`` is nested and holds ``seed`` and the ``reference`` keys the sampler uses;
    structure files are the resolved paths (None where the config names a prototype).
    """
    from ionscale.reference.sampling import SamplingSettings, sample_frames

    ref = config["reference"]
    settings = SamplingSettings.from_config(ref)
    files = {"structure": structure_file, "li_metal": li_metal_file, "host": host_file}
    cells = calibration_cells(ref, files)
    result = sample_frames(
        cells["structure"],
        settings,
        int(config["seed"]),
        cells.get("li_metal"),
        cells.get("host"),
        md_txt,
    )
    write_frames(out_frames, result.frames)
    write_json(out_summary, result.summary(), provenance)
    log.info("sampled %d frames (bound %d)", len(result.frames), result.planned)
    return result


def label_batch(
    frames_file: str | Path,
    batch_index: int,
    batch_size: int,
    calculator_config: Mapping[str, Any],
    out_frames: str | Path,
    out_report: str | Path,
    workdir: str | Path,
    provenance: Provenance,
    txt: Any = None,
    pulay: str | Path | None = None,
) -> Any:
    """Label frames ``[i*batch_size, (i+1)*batch_size)`` of ``frames_file``.

    Writes the labelled frames (extxyz) and a JSON report with the batch's frame ids, failure
    records and per-frame wall times. The settings are validated before the first SCF. With a
    Pulay calibration file (``pulay.json`` of :func:`calibrate_pulay`) every labelled frame's
    stress is corrected (:class:`~ionscale.reference.pulay.PulayCorrection`); the calibration
    must be for this cutoff.
    """
    from ionscale.reference.calculators import CalculatorSettings, validate_calculator_settings
    from ionscale.reference.labelling import label_frames
    from ionscale.reference.pulay import PulayCorrection
    from ionscale.reference.sampling import batch_slice

    settings = CalculatorSettings.from_config(calculator_config)
    frames = read_frames(frames_file)[batch_slice(batch_index, batch_size)]
    correction = None if pulay is None else PulayCorrection.read(pulay)
    if correction is not None and correction.enabled and correction.cutoff_eV != settings.cutoff_eV:
        raise ValueError(
            f"{pulay}: calibrated at {correction.cutoff_eV:g} eV, labels at "
            f"reference.calculator.cutoff_eV = {settings.cutoff_eV:g} eV; rerun reference_pulay"
        )
    for atoms in frames:
        validate_calculator_settings(settings, atoms)
        if correction is not None:
            correction.check_species(atoms, f"frame {atoms.info.get('frame_id')}")
    result = label_frames(frames, settings, workdir, txt)
    if correction is not None:
        result.labelled = [correction.apply(a) for a in result.labelled]
    write_frames(out_frames, result.labelled)
    report = {
        "batch": batch_index,
        "frame_ids": [str(a.info["frame_id"]) for a in frames],
        "n_labelled": len(result.labelled),
        "failures": [f.as_dict() for f in result.failures],
        "seconds_per_frame": result.seconds,
        "cpu_seconds_per_frame": result.cpu_seconds,
        "atoms_per_frame": {str(a.info["frame_id"]): len(a) for a in frames},
    }
    write_json(out_report, report, provenance)
    return result


def calibration_cells(
    reference: Mapping[str, Any], files: Mapping[str, str | Path | None]
) -> dict[str, Atoms]:
    """The run's structures as given (experimental cells): the host structure
    (``structure``) and the enabled end members (``host``, ``li_metal``); what the sampler
    starts from and the Pulay calibration cells. ``files`` maps roles to resolved files (None
    or absent: the role's prototype)."""
    cells = {
        "structure": role_structure(
            files.get("structure"), reference["structure"]["prototype"], "reference.structure"
        )
    }
    for role in ("host", "li_metal"):
        if reference[role]["enabled"]:
            cells[role] = role_structure(
                files.get(role), reference[role]["prototype"], f"reference.{role}"
            )
    return cells


def calibrate_pulay(
    reference: Mapping[str, Any],
    files: Mapping[str, str | Path],
    out_json: str | Path,
    out_cells: str | Path,
    workdir: str | Path,
    provenance: Provenance,
    txt: Any = None,
) -> Any:
    """Rule reference_pulay: measure the per-species Pulay terms on the calibration cells (or
    write a disabled correction) → ``pulay.json`` and the cells' labels ``pulay_cells.extxyz``
    (analytic stress, uncorrected) for the convergence check."""
    from ionscale.reference.calculators import CalculatorSettings
    from ionscale.reference.pulay import PulayCorrection, PulaySettings, calibrate

    calc = CalculatorSettings.from_config(reference["calculator"])
    settings = PulaySettings.from_config(reference["pulay_correction"])
    cells = calibration_cells(reference, files)
    if settings.enabled:
        correction, report, at_cutoff = calibrate(cells, calc, settings, workdir, txt)
        labelled = []
        for name, a in at_cutoff.items():
            a.info.update(frame_id=name, config_type="pulay_calibration")
            labelled.append(a)
    else:
        correction = PulayCorrection(calc.cutoff_eV, {}, enabled=False)
        report = {"correction": correction.as_dict(), "cells": {}}
        labelled = []
    write_frames(out_cells, labelled)
    write_json(out_json, report, provenance)
    return correction


def check_label_convergence(
    reference: Mapping[str, Any],
    labelled_file: str | Path,
    cells_file: str | Path,
    pulay_file: str | Path,
    out_json: str | Path,
    workdir: str | Path,
    provenance: Provenance,
    txt: Any = None,
) -> dict[str, Any]:
    """Rule reference_convergence: relabel the calibration cells and a few of the stage's own
    labelled frames (imports are someone else's settings) at the tight settings; write
    ``convergence.json``; raise :class:`~ionscale.reference.convergence.ConvergenceError`
    (after logging every number) when a tolerance is exceeded and ``action`` is ``error``."""
    from ionscale.gates import GateVerdict, enforce
    from ionscale.reference.calculators import CalculatorSettings
    from ionscale.reference.convergence import (
        ConvergenceError,
        ConvergenceSettings,
        check_convergence,
    )
    from ionscale.reference.pulay import PulayCorrection

    settings = ConvergenceSettings.from_config(reference["convergence"])
    calc = CalculatorSettings.from_config(reference["calculator"])
    correction = PulayCorrection.read(pulay_file)
    cells = {str(a.info["frame_id"]): a for a in read_frames(cells_file)}
    labelled = [a for a in read_frames(labelled_file) if a.info.get("config_type") != "import"]
    report = check_convergence(cells, correction, labelled, calc, settings, workdir, txt)
    for row in report["frames"]:
        log.info(
            "%s: ΔE %.2f meV/atom, max |ΔF| %.1f meV/Å, max |Δσ| %.2f GPa (σ %s vs tight %s GPa)",
            row["frame"],
            row["energy_diff_meV_atom"],
            row["max_force_diff_meV_A"],
            row["max_stress_diff_GPa"],
            np.round(row["stress_GPa"][:3], 2).tolist(),
            np.round(row["stress_tight_GPa"][:3], 2).tolist(),
        )
    what = (
        f"reference convergence (reference.calculator: {calc.cutoff_eV:g} eV, "
        f"kpoint_density_per_A {calc.kpoint_density_per_A:g}; tight: "
        f"{report['tight']['cutoff_eV']:g} eV, {report['tight']['kpoint_density_per_A']:g})"
    )
    verdict = GateVerdict(report["verdict"], report["problems"], report["tolerances"])
    enforce(
        verdict,
        what,
        "reference.convergence.action: warn (or tighten reference.calculator)",
        error=ConvergenceError,
        logger=log,
    )
    write_json(out_json, report, provenance)
    return report


def import_data(
    imports: Sequence[Mapping[str, str]],
    resolved_files: Sequence[str | Path],
    structure_file: str | Path | None,
    structure_prototype: str,
    mobile_species: str,
    out_frames: str | Path,
    out_report: str | Path,
    provenance: Provenance,
) -> list[Atoms]:
    """Import every configured file (in config order) and write ``imported.extxyz`` + report.

    ``li_fraction`` of imported frames uses the site count of the host structure.
    """
    from ionscale.reference.importing import import_frames
    from ionscale.reference.structures import sites_per_host_atom

    host = role_structure(structure_file, structure_prototype, "reference.structure")
    per_host = sites_per_host_atom(host, mobile_species)
    frames: list[Atoms] = []
    counts = {}
    for item, path in zip(imports, resolved_files, strict=True):
        got = import_frames(path, item["format"], mobile_species, per_host, label=item["file"])
        counts[item["file"]] = len(got)
        frames.extend(got)
    write_frames(out_frames, frames)
    write_json(out_report, {"frames_per_file": counts, "n_frames": len(frames)}, provenance)
    return frames


def _reference_energies(frames: Sequence[Atoms]) -> dict[str, Any]:
    """Energies per atom of the ideal reference frames, for later stages' convenience."""
    out = {}
    for atoms in frames:
        fid = str(atoms.info["frame_id"])
        if fid in ("li_metal-ideal", "host-ideal") or (
            atoms.info["config_type"] == "ordering" and fid.startswith("1x1x1-")
        ):
            out[fid] = {
                "energy_per_atom_eV": atoms.get_potential_energy() / len(atoms),
                "formula": atoms.get_chemical_formula(),
            }
    return out


def gather(
    sampled_file: str | Path,
    batch_frames: Sequence[str | Path],
    batch_reports: Sequence[str | Path],
    imported_file: str | Path | None,
    checks_config: Mapping[str, Any],
    max_failed_fraction: float,
    out_labelled: str | Path,
    out_failed: str | Path,
    out_summary: str | Path,
    provenance: Provenance,
) -> dict[str, Any]:
    """Merge batches and imports, run the checks, write labelled/failed/summary.

    Raises
    ------
    ReferenceStageError
        A sampled frame is neither labelled nor failed, or the failed fraction exceeds
        ``max_failed_fraction`` (the message gives counts by reason and examples).
    """
    from ionscale.reference.checks import CheckSettings, split_by_checks
    from ionscale.reference.labelling import FailureRecord

    if not 0.0 <= max_failed_fraction <= 1.0:
        raise ConfigError(
            "reference.max_failed_fraction: expected a fraction in [0, 1], got "
            f"{max_failed_fraction}"
        )
    sampled_ids = [str(a.info["frame_id"]) for a in read_frames(sampled_file)]
    labelled: list[Atoms] = []
    failures: list[dict[str, Any]] = []
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    atoms_per_frame: list[int] = []
    for frames_path, report_path in zip(batch_frames, batch_reports, strict=True):
        labelled.extend(read_frames(frames_path))
        report = json.loads(Path(report_path).read_text())
        failures.extend(report["failures"])
        seconds.extend(report["seconds_per_frame"].values())
        cpu_seconds.extend(report["cpu_seconds_per_frame"].values())
        atoms_per_frame.extend(report["atoms_per_frame"].values())
    imported = read_frames(imported_file) if imported_file else []

    accounted = [str(a.info["frame_id"]) for a in labelled] + [f["frame_id"] for f in failures]
    missing = sorted(set(sampled_ids) - set(accounted))
    if missing or len(accounted) != len(set(accounted)):
        raise ReferenceStageError(
            f"{len(missing)} sampled frame(s) are neither labelled nor failed (e.g. "
            f"{missing[:5]}), or a frame appears twice: the batches do not match sampled.extxyz"
        )

    checks = CheckSettings.from_config(checks_config)
    passed, rejected = split_by_checks(labelled + imported, checks)
    for atoms, problems in rejected:
        x = float(atoms.info.get("li_fraction", float("nan")))
        failures.append(
            FailureRecord(
                frame_id=str(atoms.info["frame_id"]),
                config_type=str(atoms.info["config_type"]),
                li_fraction=x,
                reason="check:" + ",".join(name for name, _ in problems),
                message="; ".join(msg for _, msg in problems),
                calculator=str(atoms.info.get("source", "")),
            ).as_dict()
        )

    n_total = len(sampled_ids) + len(imported)
    n_failed = len(failures)
    fraction = n_failed / n_total if n_total else 0.0
    reasons = Counter(f["reason"] for f in failures)
    write_frames(out_labelled, passed)
    body = {
        "n_frames_total": n_total,
        "n_labelled": len(passed),
        "n_failed": n_failed,
        "failed_fraction": fraction,
        "max_failed_fraction": max_failed_fraction,
        "failures_per_reason": dict(reasons),
        "failures": failures,
    }
    write_json(out_failed, body, provenance)
    total_s = float(np.sum(seconds)) if seconds else 0.0
    cpu_s = float(np.sum(cpu_seconds)) if cpu_seconds else 0.0
    summary = {
        "n_frames_total": n_total,
        "n_labelled": len(passed),
        "n_imported": len(imported),
        "n_failed": n_failed,
        "failed_fraction": fraction,
        "labelled_per_config_type": dict(Counter(str(a.info["config_type"]) for a in passed)),
        "failures_per_reason": dict(reasons),
        "dft_wall_seconds_total": total_s,
        "dft_cpu_seconds_total": cpu_s,
        "dft_wall_seconds_per_frame_mean": total_s / len(seconds) if seconds else None,
        "atoms_per_frame_mean": float(np.mean(atoms_per_frame)) if atoms_per_frame else None,
        "frames_per_hour_per_job": 3600.0 * len(seconds) / total_s if total_s > 0 else None,
        "frames_per_cpu_hour": 3600.0 * len(cpu_seconds) / cpu_s if cpu_s > 0 else None,
        "reference_energies": _reference_energies(passed),
    }
    write_json(out_summary, summary, provenance)
    if fraction > max_failed_fraction:
        log.error("failed frames:\n%s", json.dumps(failures, indent=1))
        examples = "; ".join(
            f"{f['frame_id']}: {f['reason']} ({f['message'][:120]})" for f in failures[:5]
        )
        raise ReferenceStageError(
            f"{n_failed} of {n_total} frames failed ({fraction:.1%}), more than "
            f"reference.max_failed_fraction = {max_failed_fraction:.1%}; by reason: "
            f"{dict(reasons)}; e.g. {examples}. Every failure is listed in the log"
        )  # fmt: skip
    return summary
