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
from collections.abc import Callable
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
    node: Any = _schema_defaults()
    for part in key.split("."):
        node = node[part]
    return _frozen(copy.deepcopy(node))


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
