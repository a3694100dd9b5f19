"""The one config loader: YAML in, validated and default-filled dict out.

The schema (workflow/schemas/config.schema.yaml, JSON Schema draft 7 in YAML) gives every key a
type, a default and a description; unknown keys are errors. Validation happens before any job
runs (the Snakefile calls :func:`validate_config`), and every error names the key by its dotted
path and says what was expected.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from ionscale.provenance import PROJECT_ROOT

SCHEMA_PATH = PROJECT_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value is missing, unknown, of the wrong type or out of range."""


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The config schema: the top-level file plus one file per stage.

    ``<schema dir>/stages/<name>.schema.yaml`` defines the top-level key ``<name>`` (one file
    per stage, like the rule files), so each stage owns its keys in one place. Read once per
    process and path (a copy is returned).
    """
    return copy.deepcopy(_read_schema(str(Path(path).resolve())))


@functools.cache
def _read_schema(path_str: str) -> dict[str, Any]:
    path = Path(path_str)
    with open(path) as fh:
        schema = yaml.safe_load(fh)
    for part in sorted((path.parent / "stages").glob("*.schema.yaml")):
        name = part.name.removesuffix(".schema.yaml")
        if name in schema["properties"]:
            raise ConfigError(f"{part}: key '{name}' is already defined in {path}")
        with open(part) as fh:
            schema["properties"][name] = yaml.safe_load(fh)
    return schema


def _key_path(path: Iterator[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _describe(error: Any) -> str:
    """One line per schema violation: the dotted key, what was found and what was expected."""
    where = _key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        prefix = "" if where == "<top level>" else where + "."
        keys = ", ".join(f"'{prefix}{k}'" for k in extra)
        return f"unknown key {keys}; allowed here: {', '.join(allowed)}"
    expected = error.schema.get("description", "")
    hint = f" ({expected})" if expected and error.validator != "required" else ""
    return f"key '{where}': {error.message}{hint}"


def _default_filling_validator(schema: Mapping[str, Any]) -> Any:
    """A draft-7 validator that inserts each missing property's schema default first.

    Defaults are inserted before descending, so an object defaulted to ``{}`` gets its own
    properties' defaults too (the recipe from the jsonschema FAQ).
    """
    from jsonschema import Draft7Validator, validators

    validate_properties = Draft7Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub and prop not in instance:
                    instance[prop] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    cls = validators.extend(Draft7Validator, {"properties": set_defaults})
    return cls(schema)


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> dict:
    """Validate ``config`` against the schema and return a default-filled deep copy.

    Raises :class:`ConfigError` listing every violation (dotted key, value, expectation).
    """
    schema = load_schema() if schema is None else schema
    filled = copy.deepcopy(dict(config))
    validator = _default_filling_validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n  ".join(_describe(e) for e in errors)
        raise ConfigError(f"invalid config:\n  {lines}")
    return filled


def read_config_file(path: str | Path) -> dict:
    """A YAML config file as a mapping (not validated); errors name the file."""
    path = Path(path)
    try:
        with open(path) as fh:
            raw = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return raw


def load_config(path: str | Path, schema: Mapping[str, Any] | None = None) -> dict:
    """Read a YAML config file and validate it against the schema (see :func:`validate_config`;
    :func:`ionscale.validation.check_run_config` runs every pre-run check)."""
    raw = read_config_file(path)
    try:
        return validate_config(raw, schema)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def schema_key_paths(schema: Mapping[str, Any] | None = None, prefix: str = "") -> list[str]:
    """Dotted paths of every key the schema defines (objects and their leaves)."""
    schema = load_schema() if schema is None else schema
    out = []
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        out.append(path)
        if sub.get("type") == "object":
            out.extend(schema_key_paths(sub, prefix=path + "."))
        elif sub.get("type") == "array" and sub.get("items", {}).get("type") == "object":
            out.extend(schema_key_paths(sub["items"], prefix=path + "[]."))
    return out


def subset(config: Mapping[str, Any], *keys: str, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The config tree restricted to the given dotted keys, nested as in the config file.

    ``subset(cfg, "seed", "md", "reference.mobile_species", exclude=("md.temperatures_K",))``
    → ``{"md": {...every md key but temperatures_K}, "reference": {"mobile_species": "Li"},
    "seed": 7}``. Rules pass exactly this as ``params.config`` (so changing any other key does
    not rerun them); scripts and the package read it like the config itself
    (``cfg["md"]["supercell"]``), and results record it as provenance. Keys are sorted at
    every level.
    """
    out: dict[str, Any] = {}
    for key in keys:
        parts = key.split(".")
        node: Any = config
        for part in parts:
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"config has no key '{key}'")
            node = node[part]
        dst = out
        for part in parts[:-1]:
            dst = dst.setdefault(part, {})
        dst[parts[-1]] = _merged(dst.get(parts[-1]), copy.deepcopy(node))
    for key in exclude:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    return sorted_keys(out)


def _merged(old: Any, new: Any) -> Any:
    """``new``, with the keys of an earlier mapping ``old`` at the same place kept."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **{k: _merged(old.get(k), v) for k, v in new.items()}}
    return new


def sorted_keys(node: Any) -> Any:
    """A deep copy with every mapping's keys in sorted order.

    Snakemake compares rule params by their text, so the same values in another key order (a
    config file written by another tool) would otherwise rerun the rule.
    """
    if isinstance(node, Mapping):
        return {k: sorted_keys(node[k]) for k in sorted(node)}
    if isinstance(node, list):
        return [sorted_keys(v) for v in node]
    return copy.deepcopy(node)


def derive_seed(master_seed: int, *labels: object) -> int:
    """A reproducible 32-bit seed for one stochastic step, from the master seed and labels.

    ``derive_seed(cfg["seed"], "reference", "rattle", 3)`` is the same on every run and differs
    between steps, so no two steps share a random stream.
    """
    import hashlib

    text = ":".join(map(str, (master_seed, *labels)))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


# -- documentation: config/README.md's key table is generated from the schema -------------------

KEYS_HEADING = "## Keys"


def _type_text(sub: Mapping[str, Any]) -> str:
    """A key's type and range in words (``integer 1–10000``, ``number in (0, 1]``, enums)."""
    if "enum" in sub:
        return " \\| ".join(_enum_text(v) for v in sub["enum"])
    kind = sub.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "object":
        return "mapping"
    if kind == "array":
        item = sub.get("items", {}).get("type")
        noun = {"integer": "integers", "number": "numbers", "string": "strings"}.get(item)
        if item == "array":
            noun = "lists"
        return f"list of {noun}" if noun else "list"
    lo, hi = sub.get("minimum"), sub.get("maximum")
    xlo, xhi = sub.get("exclusiveMinimum"), sub.get("exclusiveMaximum")
    if lo is None and xlo is None and hi is None and xhi is None:
        return kind
    if (lo is not None or xlo is not None) and (hi is not None or xhi is not None):
        if lo is not None and hi is not None:
            return f"{kind} {lo}–{hi}"
        left = f"[{lo}" if lo is not None else f"({xlo}"
        right = f"{hi}]" if hi is not None else f"{xhi})"
        return f"{kind} in {left}, {right}"
    if lo is not None:
        return f"{kind} ≥ {lo}"
    if xlo is not None:
        return f"{kind} > {xlo}"
    return f"{kind} ≤ {hi}" if hi is not None else f"{kind} < {xhi}"


def _enum_text(value: Any) -> str:
    """One allowed value as the YAML config spells it (``false``, ``""``, ``c``)."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if value != "" else '`""`'


def _default_text(value: Any) -> str:
    import json

    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return "`" + json.dumps(value, ensure_ascii=False).replace("|", "\\|") + "`"


def markdown_key_table(schema: Mapping[str, Any] | None = None) -> str:
    """The ``## Keys`` section of config/README.md: one row per schema key (type and range,
    default, description), in schema order. ``ionscale config-docs --write`` puts it in place;
    a test fails when the README and the schema differ."""
    schema = load_schema() if schema is None else schema
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            text = " ".join(str(sub.get("description", "")).split()).replace("|", "\\|")
            default = _default_text(sub["default"]) if "default" in sub else "(required)"
            rows.append(f"| `{path}` | {_type_text(sub)} | {default} | {text} |")
            if sub.get("type") == "object":
                walk(sub, path + ".")
            elif sub.get("type") == "array" and sub.get("items", {}).get("type") == "object":
                walk(sub["items"], path + "[].")

    walk(schema, "")
    return f"{KEYS_HEADING}\n\n" + "\n".join(rows) + "\n"


def write_key_table(readme: str | Path) -> bool:
    """Replace the ``## Keys`` section (to the end of the file) of ``readme``; True if it
    changed."""
    path = Path(readme)
    text = path.read_text()
    head = text.split(KEYS_HEADING, 1)[0]
    new = head + markdown_key_table()
    if new != text:
        path.write_text(new)
        return True
    return False
