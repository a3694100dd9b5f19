"""Code style and workflow lint are part of the test run: ruff, snakefmt, snakemake --lint."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

BIN = Path(sys.executable).parent


def _run(*cmd):
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_ruff_lint():
    _run(str(BIN / "ruff"), "check", ".")


def test_ruff_format():
    _run(str(BIN / "ruff"), "format", "--check", ".")


def test_snakefmt():
    _run(str(BIN / "snakefmt"), "--check", "Snakefile", "workflow")


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/test.yaml"])
def test_snakemake_lint_and_dry_run(configfile):
    proc = _run(str(BIN / "snakemake"), "--lint", "--configfile", configfile)
    assert "Congratulations" in proc.stdout + proc.stderr
    _run(str(BIN / "snakemake"), "-n", "-c2", "--configfile", configfile)
