"""End-to-end: config/test.yaml through Snakemake with the real engines, in a scratch directory."""

import json

import pytest
from conftest import ROOT, run_snakemake

from ionscale.config import load_config
from ionscale.io import read_provenance
from ionscale.provenance import config_hash


@pytest.mark.engine
@pytest.mark.slow
def test_test_config_end_to_end(tmp_path):
    run_snakemake("--configfile", str(ROOT / "config" / "test.yaml"), workdir=tmp_path)
    cfg = load_config(ROOT / "config" / "test.yaml")
    results = tmp_path / "results" / cfg["system"]
    engines = json.loads((results / "check" / "engines.json").read_text())
    assert engines["ok"] and {e["engine"] for e in engines["engines"]} >= {"gpaw", "dolfinx"}
    prov = read_provenance(results / "check" / "engines.json")
    assert prov["config_sha256"] == config_hash({"check": cfg["check"]})
    # nothing half-written is left behind
    assert not list(results.rglob("*.partial*"))
    # a second run has nothing to do
    proc = run_snakemake("-n", "--configfile", str(ROOT / "config" / "test.yaml"), workdir=tmp_path)
    assert "Nothing to be done" in proc.stdout + proc.stderr
