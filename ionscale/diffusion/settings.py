"""Settings, direction sets, errors and warnings of the diffusion stage (config key ``diffusion``).

Field defaults come from the config schema through :func:`ionscale.settings.default`, so a
settings object built with no arguments runs what an empty config runs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from ionscale.settings import default, from_section

#: Direction sets an MSD/D is reported for: name → Cartesian components (d = their number).
DIRECTIONS: dict[str, tuple[int, ...]] = {"xyz": (0, 1, 2), "xy": (0, 1), "z": (2,)}


class DiffusionInputError(ValueError):
    """Input the diffusion analysis cannot use (names the key or file and what was expected)."""


class DiffusionWarning(UserWarning):
    """A result that is computed but should be read with care (few hops, extrapolation...)."""


def _warn(message: str, sink: list[str] | None = None) -> None:
    warnings.warn(message, DiffusionWarning, stacklevel=3)
    if sink is not None:
        sink.append(message)


@dataclass
class MSDSettings:
    """Settings of the per-temperature MSD analysis (config key ``diffusion``).

    Parameters
    ----------
    directions:
        Direction set whose D enters the Arrhenius fit ("xyz", "xy", "z"); all three are
        computed and stored.
    ballistic_time_ps:
        Earliest start of the fit window, ps.
    max_fit_fraction:
        End of the fit window as a fraction of the run.
    slope_tolerance:
        Accepted |log-log slope − 1| for the diffusive regime.
    min_fit_points, max_fit_points:
        Fewest lags the window must hold; most lags used by the GLS fit.
    hop_distance_A:
        Displacement from the anchor that counts as a hop, Å.
    hop_residence_time_ps:
        Positions are averaged over this time before hops are counted; an excursion shorter
        than it is not a hop (:func:`~ionscale.diffusion.msd.count_hops`).
    min_hops:
        Fewer observed hops than this give a warning.
    carriers:
        Independent carriers of the uncertainty model: "auto" (the MD cell's vacancies when it
        has any, else the mobile atoms) or a number (:func:`resolve_carriers`).
    """

    directions: str = default("diffusion.directions")
    ballistic_time_ps: float = default("diffusion.ballistic_time_ps")
    max_fit_fraction: float = default("diffusion.max_fit_fraction")
    slope_tolerance: float = default("diffusion.slope_tolerance")
    min_fit_points: int = default("diffusion.min_fit_points")
    max_fit_points: int = default("diffusion.max_fit_points")
    hop_distance_A: float = default("diffusion.hop_distance_A")
    hop_residence_time_ps: float = default("diffusion.hop_residence_time_ps")
    min_hops: int = default("diffusion.min_hops")
    carriers: str | int = default("diffusion.carriers")

    def __post_init__(self) -> None:
        if self.carriers != "auto" and not (
            isinstance(self.carriers, int)
            and not isinstance(self.carriers, bool)
            and self.carriers >= 1
        ):
            raise DiffusionInputError(
                f"diffusion.carriers = {self.carriers!r}; expected auto or an integer >= 1"
            )
        if self.min_fit_points > self.max_fit_points:
            raise DiffusionInputError(
                f"diffusion.min_fit_points = {self.min_fit_points} exceeds "
                f"diffusion.max_fit_points = {self.max_fit_points}"
            )

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> MSDSettings:
        """From the ``diffusion`` section (shared with :class:`ArrheniusSettings`)."""
        return from_section(cls, cfg, "diffusion", shared=True)


def resolve_carriers(carriers: str | int, n_mobile: int, n_vacancies: int) -> int:
    """The number of independent carriers behind an MSD of ``n_mobile`` atoms.

    In a vacancy mechanism with n_v ≪ n_mobile vacancies every hop of a mobile atom is a hop of
    a vacancy: the squared displacements of the mobile atoms share n_v sources of randomness,
    and counting n_mobile independent walkers understates σ_D by up to √(n_mobile/n_v)
    (about 2.4× for 2 vacancies among 16 Li, measured on synthetic vacancy walks in the tests).
    ``auto`` takes the vacancies when there are any (capped at n_mobile), else the atoms.
    """
    if carriers == "auto":
        return min(n_vacancies, n_mobile) if n_vacancies > 0 else n_mobile
    return int(carriers)


@dataclass
class ArrheniusSettings:
    """Settings of the Arrhenius step (config key ``diffusion``).

    Parameters
    ----------
    report_temperature_K:
        Temperature at which D and σ are reported, K.
    charge_number:
        z of the mobile ion (Li⁺: 1).
    correlation_factor:
        Tracer correlation factor f of the hop mechanism (D_hop = D*/(f c_v)).
    min_temperatures:
        Fewest temperatures with a diffusive regime the fit accepts.
    min_temperature_span_K:
        Smallest span of the fitted temperatures, K.
    extrapolation_warning_ratio:
        Warn when the lowest MD temperature exceeds this multiple of the report temperature.
    """

    report_temperature_K: float = default("diffusion.report_temperature_K")
    charge_number: float = default("diffusion.charge_number")
    correlation_factor: float = default("diffusion.correlation_factor")
    min_temperatures: int = default("diffusion.min_temperatures")
    min_temperature_span_K: float = default("diffusion.min_temperature_span_K")
    extrapolation_warning_ratio: float = default("diffusion.extrapolation_warning_ratio")

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ArrheniusSettings:
        """From the ``diffusion`` section (shared with :class:`MSDSettings`)."""
        return from_section(cls, cfg, "diffusion", shared=True)
