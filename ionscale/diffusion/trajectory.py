"""The md stage's trajectory as the diffusion stage reads it (md/T{T}K/trajectory.h5).

The file and its layout belong to the md stage (:mod:`ionscale.md` writes it); this reader is
the diffusion stage's side of that contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ionscale.diffusion.settings import DiffusionInputError


def read_trajectory(path: str | Path) -> dict[str, Any]:
    """Read the md stage's trajectory.h5 (contract: md/T{T}K/trajectory.h5) for analysis.

    Positions are returned relative to the system's centre of mass when the file stores it
    (``center_of_mass_A``). Raises :class:`DiffusionInputError` naming the file and what is
    missing.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DiffusionInputError(f"{path}: trajectory file not found")
    with h5py.File(path, "r") as h5:
        for name in ("time_ps", "positions_A"):
            if name not in h5:
                raise DiffusionInputError(f"{path}: no dataset {name!r} (md trajectory contract)")
        for name in ("temperature_K", "mobile_species", "volume_A3"):
            if name not in h5.attrs:
                raise DiffusionInputError(f"{path}: no root attribute {name!r}")
        time_ps = h5["time_ps"][()]
        pos = h5["positions_A"]
        if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[0] != len(time_ps):
            raise DiffusionInputError(
                f"{path}: positions_A has shape {pos.shape}; expected "
                f"({len(time_ps)}, n_mobile, 3) matching time_ps"
            )
        if pos.shape[1] == 0:
            raise DiffusionInputError(f"{path}: no atoms of the mobile species in positions_A")
        positions = pos[()]
        if "center_of_mass_A" in h5:
            positions = positions - h5["center_of_mass_A"][()][:, None, :]
        species = h5.attrs["mobile_species"]
        out = {
            "time_ps": time_ps - time_ps[0],
            "positions_A": positions,
            "temperature_K": float(h5.attrs["temperature_K"]),
            "mobile_species": species.decode() if isinstance(species, bytes) else str(species),
            "volume_A3": float(h5.attrs["volume_A3"]),
        }
    dt = np.diff(out["time_ps"])
    if len(dt) == 0 or not np.allclose(dt, dt[0], rtol=1e-6, atol=1e-9) or dt[0] <= 0:
        raise DiffusionInputError(f"{path}: time_ps must be equally spaced and increasing")
    return out
