"""Shared fixtures. mpi4py is imported first: DOLFINx and LAMMPS need libmpi loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py  # noqa: F401  (before dolfinx.fem.petsc: the other order breaks h5py datatypes)
import mpi4py.MPI  # noqa: F401  (before dolfinx/lammps; see envs/README.md)
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Two shared cores: keep torch/OpenMP from oversubscribing them in every test process.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("DP_INTRA_OP_PARALLELISM_THREADS", "1")
os.environ.setdefault("DP_INTER_OP_PARALLELISM_THREADS", "1")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def run_snakemake(
    *args: str,
    workdir: Path | None = None,
    check: bool = True,
    timeout: float = 1800,
    profile: bool = True,
) -> subprocess.CompletedProcess:
    """Run the project's workflow (local profile unless ``profile=False``), optionally elsewhere."""
    cmd = [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile")]
    if profile:
        cmd += ["--workflow-profile", str(ROOT / "workflow" / "profiles" / "default")]
    cmd += list(args)
    if workdir is not None:
        cmd += ["--directory", str(workdir)]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-5000:]}\n--- stderr\n{proc.stderr[-5000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def tiny_dp(request) -> list[Path]:
    """A tiny real DeePMD ensemble on GPAW-labelled LiC6 frames (cached in .pytest_cache)."""
    from _lixc6 import labelled_lixc6
    from _thermo_dp import tiny_models

    labelled = labelled_lixc6(request.config.cache.mkdir("ionscale_lixc6"))
    return tiny_models(request.config.cache.mkdir("ionscale_thermo_dp"), labelled)
