"""Defaults of the typed settings come from the config schema, in one direction only.

The JSON schema (workflow/schemas/, one file per stage) is where every config key's type,
range, unit, description and default is written once; config/README.md documents it and a test
keeps the two in step. The settings dataclasses of the stages (``MDSettings``,
``PotentialSettings``, ...) take their field defaults from it through :func:`default`, so a
dataclass built with no arguments (as tests and benchmarks do) runs exactly what the workflow
runs with an empty config. tests/test_settings.py asserts, class by class, that a settings object
built from the schema's default section equals the one built from the dataclass defaults.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any


@functools.cache
def _schema_defaults() -> dict[str, Any]:
    from ionscale.config import validate_config

    return validate_config({})


def default(key: str) -> Any:
    """The schema default of a dotted config key (``"md.production_steps"``), a deep copy.

    List defaults come back as tuples (the settings dataclasses are frozen); use
    :func:`default_factory` for a field that must stay a mutable list or dict.
    """
    return _frozen(default_factory(key)())


def default_factory(key: str) -> Callable[[], Any]:
    """A ``dataclasses.field(default_factory=...)`` for a list or mapping default."""

    def make() -> Any:
        node: Any = _schema_defaults()
        for part in key.split("."):
            node = node[part]
        return copy.deepcopy(node)

    return make


def section_defaults(key: str) -> dict[str, Any]:
    """The whole default-filled section (``"md"``, ``"fem.solver"``), a deep copy."""
    return default_factory(key)()


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def from_section(
    cls: type,
    section: Mapping[str, Any],
    key: str,
    *,
    shared: bool = False,
    error: type[ValueError] | None = None,
    **fixed: Any,
) -> Any:
    """A settings dataclass from its config section: the one way every stage builds them.

    Keys the section leaves out take the class defaults (drawn from the schema); list values of
    tuple-typed fields become tuples; ``fixed`` sets fields the section does not hold (a
    temperature of the sweep, a derived seed). A key the class does not know is an error naming
    ``key`` and the allowed keys, unless the section is ``shared`` by several settings classes
    (``diffusion`` holds the MSD and the Arrhenius settings): then each takes its own keys.
    ``error`` is the stage's input-error class (a ValueError; ConfigError by default).
    """
    names = {f.name: f for f in fields(cls)}
    unknown = sorted(set(section) - set(names))
    if unknown and not shared:
        from ionscale.config import ConfigError

        allowed = ", ".join(sorted(set(names) - set(fixed)))
        raise (error or ConfigError)(
            f"{key}: unknown key(s) {', '.join(unknown)}; allowed: {allowed}"
        )
    values = {}
    for name, value in section.items():
        if name not in names:
            continue
        value = copy.deepcopy(value)
        if isinstance(value, list) and str(names[name].type).startswith("tuple"):
            value = _frozen(value)
        values[name] = value
    return cls(**values, **fixed)
