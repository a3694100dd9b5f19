"""ionscale: from density-functional theory to the continuum for lithium battery materials.

The package holds the science of every stage of the workflow (see the project README); each
stage is a module usable without Snakemake. Heavy engines (GPAW, DeePMD-kit, LAMMPS, DOLFINx)
are imported inside the functions that need them, so ``import ionscale`` stays cheap.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ionscale")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
