"""One case of a study: its name, its row of design.json, its config entry, its case.json.

Shared by the solver adapters (:mod:`~ionscale.surrogate.solvers`, which run a case) and the
study code (:mod:`~ionscale.surrogate.study` and its parts, which check the config, write
designs and read the cases back), so that neither imports the other.

- A *design* row: ``{"case": "c000", "parameters": {name: value}}`` (:func:`design_case`).
- A case's config entry: the stage's *base case* (:func:`base_case_entry`) with the swept keys
  replaced (:func:`case_entry`); only scalar keys other than the name, seed and grid can be swept
  (:func:`check_swept_keys`).
- A case record, ``case.json`` (:class:`CaseResult`): the parameters, the scalar outputs of the
  solver's summary (:func:`scalar_outputs`), the solver's wall time and the solver directory.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.surrogate.bo import Evaluation
from ionscale.surrogate.design import ParameterSpace, SurrogateInputError

#: Case keys a sweep may not vary (identity, layout and randomness of a case).
FIXED_CASE_KEYS = ("name", "seed", "grid")


def case_names(n: int) -> list[str]:
    """Names of the ``n`` cases of a design: c000, c001, …"""
    return [f"c{i:03d}" for i in range(n)]


# -- design rows and case config entries --------------------------------------------------------
def read_design(path: str | Path) -> dict[str, Any]:
    """Read a ``design.json``."""
    return json.loads(Path(path).read_text())


def design_case(design: Mapping[str, Any], case: str, path: str | Path = "") -> dict[str, Any]:
    """The record of one case in a design (a clear error if it is not there)."""
    for rec in design["cases"]:
        if rec["case"] == case:
            return rec
    names = ", ".join(r["case"] for r in design["cases"])
    raise SurrogateInputError(f"{path or 'design'}: no case {case!r} (cases: {names})")


def base_case_entry(stage_cfg: Mapping[str, Any], solver: str, base_case: str, key: str) -> dict:
    """The config entry of the base case (by name; the stage's first case if empty)."""
    cases = stage_cfg.get("cases") or []
    if not cases:
        raise SurrogateInputError(f"{key}: the {solver} stage has no cases ({solver}.cases)")
    if not base_case:
        return copy.deepcopy(dict(cases[0]))
    for entry in cases:
        if entry.get("name") == base_case:
            return copy.deepcopy(dict(entry))
    names = ", ".join(str(e.get("name")) for e in cases)
    raise SurrogateInputError(f"{key}: no {solver} case named {base_case!r} (cases: {names})")


def check_swept_keys(base: Mapping[str, Any], names: list[str], solver: str, key: str) -> None:
    """Swept names must be scalar keys of the base case (not its name, seed or grid)."""
    for i, name in enumerate(names):
        where = f"{key}[{i}].name"
        if name in FIXED_CASE_KEYS:
            raise SurrogateInputError(f"{where}: {name!r} cannot be swept")
        if name not in base:
            avail = ", ".join(k for k in base if k not in FIXED_CASE_KEYS)
            raise SurrogateInputError(
                f"{where}: {name!r} is not a {solver} case key (keys: {avail})"
            )
        if isinstance(base[name], bool | list | dict):
            raise SurrogateInputError(f"{where}: {solver} case key {name!r} is not a number")


def case_entry(
    base: Mapping[str, Any], parameters: Mapping[str, float], name: str
) -> dict[str, Any]:
    """The base case with the swept values set and a new name."""
    entry = copy.deepcopy(dict(base))
    entry.update({k: float(v) for k, v in parameters.items()})
    entry["name"] = name
    return entry


# -- case results -------------------------------------------------------------------------------
def scalar_outputs(summary: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every finite real number of a (nested) summary, keys joined with '.'; booleans,
    strings, lists and the provenance block are left out."""
    out: dict[str, float] = {}
    for key, value in summary.items():
        if key == "provenance":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(scalar_outputs(value, prefix=name + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(float(value)):
                out[name] = float(value)
    return out


@dataclass
class CaseResult:
    """One solved case: parameters, scalar outputs, solver wall time and files."""

    name: str
    parameters: dict[str, float]
    outputs: dict[str, float]
    solver_wall_time_s: float
    path: Path
    solver_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | Path) -> CaseResult:
        path = Path(path)
        data = json.loads(path.read_text())
        try:
            return cls(
                name=data["case"],
                parameters={k: float(v) for k, v in data["parameters"].items()},
                outputs={k: float(v) for k, v in data["outputs"].items()},
                solver_wall_time_s=float(data["solver_wall_time_s"]),
                path=path,
                solver_dir=path.parent / data["solver_dir"] if data.get("solver_dir") else None,
                extra={k: data[k] for k in ("study", "round", "solver") if k in data},
            )
        except KeyError as exc:
            raise SurrogateInputError(f"{path}: not a case record (missing {exc})") from None


def read_cases(paths: Iterable[str | Path]) -> list[CaseResult]:
    """Read case records in the given order."""
    return [CaseResult.read(p) for p in paths]


def parameter_matrix(cases: Sequence[CaseResult], space: ParameterSpace) -> np.ndarray:
    """Swept parameters of the cases, (n, d), in the space's order."""
    return space.from_records([c.parameters for c in cases], where="case")


def target_vector(cases: Sequence[CaseResult], output: str, key: str) -> np.ndarray:
    """One scalar output of every case.

    A target that no case reports, or that some cases lack, is an error naming ``key`` and the
    outputs the cases do report.
    """
    have = [output in c.outputs for c in cases]
    if not any(have):
        avail = sorted(set().union(*(c.outputs for c in cases))) if cases else []
        raise SurrogateInputError(
            f"{key}: no case reports output {output!r}; the case summaries report: "
            f"{', '.join(avail) or 'nothing'}"
        )
    if not all(have):
        missing = [c.name for c, h in zip(cases, have, strict=True) if not h]
        raise SurrogateInputError(
            f"{key}: output {output!r} is missing from case(s) {', '.join(missing)} "
            f"({sum(have)} of {len(cases)} report it)"
        )
    return np.asarray([c.outputs[output] for c in cases], dtype=float)


def evaluations(cases: Sequence[CaseResult], space: ParameterSpace) -> list[Evaluation]:
    """Case records as optimisation evaluations (round from the record, 0 if absent)."""
    x = parameter_matrix(cases, space)
    return [
        Evaluation(xi, dict(c.outputs), int(c.extra.get("round", 0)), c.name)
        for xi, c in zip(x, cases, strict=True)
    ]
