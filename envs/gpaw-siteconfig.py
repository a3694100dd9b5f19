# GPAW build configuration for the ionscale environment (read by GPAW's setup.py via GPAW_CONFIG).
#
# GPAW must link the OpenBLAS that the DOLFINx wheel bundles: with Debian's libblas, GPAW and
# DOLFINx/PETSc cannot share one process (`undefined symbol: sgemv_thread_n` or `dgemmt_`).
# The rpath is relative ($ORIGIN = site-packages, where _gpaw.*.so lands), so a wheel cached by
# pip stays valid in any venv that has the same dolfinx-solver-real wheel.
# This file is exec'd inside GPAW's setup.py, whose globals (libraries, ...) it edits.
# ruff: noqa: F821
import sysconfig
from pathlib import Path

_blas_dir = Path(sysconfig.get_paths()["purelib"]) / "dolfinx_solver" / "lib"
if not (_blas_dir / "libopenblas.so.0").is_file():
    raise FileNotFoundError(f"{_blas_dir}/libopenblas.so.0: install dolfinx-solver-real first")

compiler = "g++"  # GPAW 26 compiles its sources as C++ (with gcc: `fatal error: algorithm`)
mpi = False  # serial GPAW, one job per core, used 2 cores best here
fftw = True
noblas = False  # fail loudly rather than silently building without BLAS
nolibxc = False
libraries = ["xc", "fftw3", ":libopenblas.so.0"]
library_dirs += [str(_blas_dir)]
# That OpenBLAS needs libmpi.so.12 (from the mpich wheel, in <venv>/lib) without an rpath to
# it. An old-style DT_RPATH on _gpaw (not RUNPATH) is searched for the dependencies of the
# libraries _gpaw loads too, so `import gpaw` works without importing mpi4py first.
extra_link_args += [
    "-Wl,--disable-new-dtags",
    "-Wl,-rpath,$ORIGIN/dolfinx_solver/lib",
    "-Wl,-rpath,$ORIGIN/../..",
]
