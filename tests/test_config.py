"""The config schema: defaults, unknown keys, types, ranges, documentation in step."""

import re

import pytest
import yaml
from conftest import ROOT, run_snakemake

from ionscale.config import (
    ConfigError,
    load_config,
    load_schema,
    schema_key_paths,
    subset,
    validate_config,
)


def _leaf_schemas(schema, prefix=""):
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        yield path, sub
        if sub.get("type") == "object":
            yield from _leaf_schemas(sub, path + ".")


def test_every_key_has_type_default_and_description():
    for path, sub in _leaf_schemas(load_schema()):
        assert "type" in sub, f"{path}: no type"
        assert "default" in sub, f"{path}: no default"
        assert sub.get("description", "").strip(), f"{path}: no description"
    for path, sub in _leaf_schemas(load_schema()):
        if sub.get("type") == "object":
            assert sub.get("additionalProperties") is False, f"{path}: accepts unknown keys"


def test_defaults_validate_and_fill_everything():
    filled = validate_config({})
    mapping_keys = {k for k in schema_key_paths() if "[]" not in k}  # list items: no defaults
    assert mapping_keys <= set(_flat_keys(filled))
    # the schema's defaults are themselves valid
    assert validate_config(filled) == filled


def _flat_keys(d, prefix=""):
    for k, v in d.items():
        yield prefix + k
        if isinstance(v, dict):
            yield from _flat_keys(v, prefix + k + ".")


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "production.yaml"])
def test_shipped_configs_are_valid(name):
    path = ROOT / "config" / name
    if not path.exists():
        pytest.skip(f"{name} not shipped yet")
    load_config(path)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown key 'check\.nonsense'"):
        validate_config({"check": {"nonsense": 1}})
    with pytest.raises(ConfigError, match=r"unknown key 'temperature'"):
        validate_config({"temperature": 300})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"key 'check\.md_steps': 'ten' is not of type 'integer'"):
        validate_config({"check": {"md_steps": "ten"}})


def test_out_of_range_is_named():
    with pytest.raises(ConfigError, match=r"key 'check\.dp_training_steps': 0 is less than"):
        validate_config({"check": {"dp_training_steps": 0}})
    with pytest.raises(ConfigError, match=r"key 'system'"):
        validate_config({"system": "../escape"})


def test_all_errors_reported_at_once():
    with pytest.raises(ConfigError) as err:
        validate_config({"seed": -1, "bogus": True})
    assert "key 'seed'" in str(err.value) and "'bogus'" in str(err.value)


def test_unreadable_or_non_mapping_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(tmp_path / "list.yaml")


def test_subset_and_missing_key():
    cfg = validate_config({})
    assert subset(cfg, "system", "check.md_steps") == {
        "check": {"md_steps": cfg["check"]["md_steps"]},
        "system": cfg["system"],
    }
    # a section minus some of its keys; an overlapping key merges into its section
    got = subset(cfg, "md", "md.supercell", "seed", exclude=("md.temperatures_K",))
    assert set(got) == {"md", "seed"} and "temperatures_K" not in got["md"]
    assert got["md"]["supercell"] == cfg["md"]["supercell"]
    with pytest.raises(ConfigError, match="no key 'nope'"):
        subset(cfg, "nope")


def test_readme_documents_every_key():
    """config/README.md's key table is the one generated from the schema (one direction:
    schema → docs; regenerate with ``ionscale config-docs --write config/README.md``)."""
    from ionscale.config import KEYS_HEADING, markdown_key_table

    readme = (ROOT / "config" / "README.md").read_text()
    section = KEYS_HEADING + readme.split(KEYS_HEADING, 1)[1]
    assert section == markdown_key_table(), (
        "config/README.md is out of date: run `ionscale config-docs --write config/README.md`"
    )
    documented = set(re.findall(r"^\|\s*`([^`]+)`", section, flags=re.M))
    assert documented == set(schema_key_paths())


def test_snakemake_rejects_bad_config_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"system": "x", "check": {"md_steps": -1}, "typo_key": 1}))
    proc = run_snakemake("-n", "--configfile", str(bad), workdir=tmp_path, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "unknown key 'typo_key'" in out
    assert "key 'check.md_steps': -1 is less than the minimum of 1" in out
    assert not (tmp_path / "results").exists()


def test_cli_configfile_replaces_default_config(tmp_path):
    """A --configfile is not merged into config/config.yaml: absent keys take schema defaults."""
    minimal = tmp_path / "minimal.yaml"
    minimal.write_text("system: tiny\n")
    proc = run_snakemake("-n", "--configfile", str(minimal), workdir=tmp_path)
    assert "results/tiny/check/engines.json" in proc.stdout


def test_subset_is_independent_of_key_order():
    """Rule params must not change when a config lists the same values in another order."""
    a = subset({"s": {"b": 1, "a": {"d": [{"y": 1, "x": 2}], "c": 3}}}, "s")
    b = subset({"s": {"a": {"c": 3, "d": [{"x": 2, "y": 1}]}, "b": 1}}, "s")
    assert repr(a) == repr(b)


def test_case_params_are_independent_of_key_order():
    """A sweep case's params (solver settings + base case) do not depend on the YAML key order."""
    from ionscale.surrogate.study import case_config

    def cfg(case: dict) -> dict:
        return {
            "seed": 1,
            "fem": {"solver": {"mesh_cells": 8, "mesh_grading": 1.0}, "cases": [case]},
            "surrogate": {"bo": {"base_case": "", "solver": "fem"}, "fem": {"base_case": "a"}},
        }

    a = case_config(cfg({"name": "a", "c_rate": 1.0, "radius_um": 5.0}), "fem")
    b = case_config(cfg({"radius_um": 5.0, "c_rate": 1.0, "name": "a"}), "fem")
    assert repr(a) == repr(b)
