"""The md stage's trajectory as the diffusion stage reads it (md/T{T}K/trajectory.h5).

The file, its layout and its reader belong to the md stage (:mod:`ionscale.md.io`); here its
errors become the diffusion stage's input errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ionscale.diffusion.settings import DiffusionInputError


def read_trajectory(path: str | Path) -> dict[str, Any]:
    """:func:`ionscale.md.io.read_trajectory`; raises :class:`DiffusionInputError` naming the
    file and what is missing."""
    from ionscale.md.io import TrajectoryFileError
    from ionscale.md.io import read_trajectory as read

    try:
        return read(path)
    except TrajectoryFileError as exc:
        raise DiffusionInputError(str(exc)) from None
