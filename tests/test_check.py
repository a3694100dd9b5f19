"""The engine check really runs every engine (GPAW, DeePMD-kit, LAMMPS, DOLFINx, Snakemake)."""

import subprocess
import sys
from pathlib import Path

import pytest

from ionscale.check import ENGINES, CheckSettings, run_checks


@pytest.mark.engine
def test_ionscale_check_cli_names_every_engine_with_version(tmp_path):
    exe = Path(sys.executable).with_name("ionscale")
    proc = subprocess.run(
        [str(exe), "check", "--dp-steps", "5", "--md-steps", "5", "--json", tmp_path / "c.json"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = proc.stdout.split("engine     version")[-1]
    for engine in ENGINES:
        line = next(ln for ln in table.splitlines() if ln.startswith(engine))
        assert " ok " in line and "unknown" not in line, line
    assert "all engines ok" in proc.stdout
    assert (tmp_path / "c.json").exists()


@pytest.mark.engine
def test_failed_engine_is_named(tmp_path):
    """LAMMPS without the DeePMD model from the deepmd check must fail, and say so."""
    results = run_checks(CheckSettings(engines=("lammps",)), workdir=tmp_path)
    assert not results[0].ok and "no DeePMD model" in results[0].error


def test_unknown_engine_is_an_error():
    with pytest.raises(ValueError, match="unknown engine"):
        run_checks(CheckSettings(engines=("vasp",)))
