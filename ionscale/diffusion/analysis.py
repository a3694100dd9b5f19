"""One trajectory at one temperature: MSD (FFT), D ± σ for every direction set, and hops.

The algorithms are in :mod:`~ionscale.diffusion.msd` and :mod:`~ionscale.diffusion.msd_fit`;
:func:`analyse_trajectory` applies them to the md stage's trajectory.h5 and
:func:`~ionscale.diffusion.io.write_msd_h5` writes the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ionscale.diffusion.msd import _as_frames_atoms_xyz, count_hops, msd_fft
from ionscale.diffusion.msd_fit import DiffusivityFit, fit_diffusivity
from ionscale.diffusion.settings import (
    DIRECTIONS,
    DiffusionInputError,
    MSDSettings,
    _warn,
    resolve_carriers,
)
from ionscale.diffusion.trajectory import read_trajectory


@dataclass
class MSDResult:
    """MSD, D per direction set and hop count of one trajectory (one temperature)."""

    temperature_K: float
    time_ps: np.ndarray
    msd_components_A2: np.ndarray
    fits: dict[str, DiffusivityFit]
    n_hops: int
    n_mobile: int
    n_carriers: int
    mobile_species: str
    volume_A3: float
    settings: MSDSettings
    warnings: list[str] = field(default_factory=list)
    n_vacancies: int = 0  # of the mobile species in the MD cell

    @property
    def number_density_per_cm3(self) -> float:
        return self.n_mobile / (self.volume_A3 * 1e-24)


def analyse_positions(
    positions: np.ndarray,
    time_ps: np.ndarray,
    settings: MSDSettings,
    *,
    temperature_K: float = float("nan"),
    mobile_species: str = "Li",
    volume_A3: float = float("nan"),
    mobile_vacancies: int = 0,
    source: str = "trajectory",
) -> MSDResult:
    """MSD (FFT), D ± σ for every direction set, and hops, from unwrapped positions.

    ``mobile_vacancies`` (those of the MD cell) sets the carriers of the uncertainty model when
    ``settings.carriers`` is auto.
    """
    if settings.directions not in DIRECTIONS:
        raise DiffusionInputError(
            f"diffusion.directions = {settings.directions!r}; expected one of "
            f"{', '.join(DIRECTIONS)}"
        )
    positions = _as_frames_atoms_xyz(positions)
    time_ps = np.asarray(time_ps, float)
    msd = msd_fft(positions)
    n_carriers = resolve_carriers(settings.carriers, positions.shape[1], mobile_vacancies)
    fits = {}
    for name in DIRECTIONS:
        fits[name] = fit_diffusivity(
            positions,
            time_ps,
            msd,
            name,
            ballistic_time_ps=settings.ballistic_time_ps,
            max_fit_fraction=settings.max_fit_fraction,
            slope_tolerance=settings.slope_tolerance,
            min_fit_points=settings.min_fit_points,
            max_fit_points=settings.max_fit_points,
            n_carriers=n_carriers,
            source=source,
        )
    dt = float(time_ps[1] - time_ps[0]) if len(time_ps) > 1 else 1.0
    residence = max(1, round(settings.hop_residence_time_ps / dt))
    hops = int(count_hops(positions, settings.hop_distance_A, residence).sum())
    result = MSDResult(
        temperature_K=temperature_K,
        time_ps=time_ps,
        msd_components_A2=msd,
        fits=fits,
        n_hops=hops,
        n_mobile=positions.shape[1],
        n_carriers=n_carriers,
        mobile_species=mobile_species,
        volume_A3=volume_A3,
        settings=settings,
        n_vacancies=int(mobile_vacancies),
    )
    main = fits[settings.directions]
    where = f"T = {temperature_K:g} K ({source})"
    if not main.window.diffusive:
        _warn(
            f"{where}: no diffusive regime in the {settings.directions} MSD (log-log slope "
            f"{main.window.loglog_slope:.2f}, rule: {main.window.rule}); D is not reported",
            result.warnings,
        )
    if hops < settings.min_hops:
        _warn(
            f"{where}: only {hops} {mobile_species} hops observed (fewer than "
            f"diffusion.min_hops = {settings.min_hops}): D and its uncertainty rest on too few "
            "independent events to be trusted; run longer or hotter",
            result.warnings,
        )
    return result


def analyse_trajectory(path: str | Path, settings: MSDSettings) -> MSDResult:
    """:func:`analyse_positions` on an md trajectory.h5 file."""
    traj = read_trajectory(path)
    return analyse_positions(
        traj["positions_A"],
        traj["time_ps"],
        settings,
        temperature_K=traj["temperature_K"],
        mobile_species=traj["mobile_species"],
        volume_A3=traj["volume_A3"],
        mobile_vacancies=traj["mobile_vacancies"],
        source=str(path),
    )
