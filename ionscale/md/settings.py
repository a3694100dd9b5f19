"""Settings and errors of the md stage (config key ``md``).

:class:`MDRunError` and :class:`MDBlowUpError` are raised by the LAMMPS engine
(:mod:`ionscale.engines.lammps`) and re-exported here with the stage's own errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ionscale.engines.lammps import MDBlowUpError, MDRunError
from ionscale.gates import ACTIONS
from ionscale.settings import default

__all__ = [
    "MDBlowUpError",
    "MDExtrapolationError",
    "MDInputError",
    "MDRunError",
    "MDSettings",
    "MDWarning",
]


class MDInputError(ValueError):
    """Bad input to the md stage (names the key or file and what was expected)."""


class MDExtrapolationError(MDRunError):
    """The production run's potential extrapolated beyond md.max_extrapolating_share and
    md.extrapolation_action is error."""


class MDWarning(UserWarning):
    """The run finished, but its result needs care (e.g. the potential extrapolates)."""


@dataclass
class MDSettings:
    """One MD run (config key ``md``; the temperature comes from the sweep).

    Parameters
    ----------
    temperature_K:
        Thermostat temperature, K.
    timestep_fs:
        Integration time step, fs.
    thermostat_damping_fs:
        Nosé–Hoover temperature damping time, fs.
    equilibration_ensemble:
        "npt" or "nvt".
    barostat:
        NPT cell coupling: "iso" (shape kept), "aniso" (x, y, z independent, tilts fixed) or
        "tri" (all six cell components).
    pressure_bar:
        NPT target pressure, bar.
    barostat_damping_fs:
        NPT pressure damping time, fs.
    equilibration_steps, production_steps:
        Lengths of the two phases, steps.
    sample_stride_steps:
        Production steps between stored frames (and between blow-up checks).
    model_deviation_stride_steps:
        Steps between ensemble evaluations (model deviation).
    trust_lo_eV_A, trust_hi_eV_A:
        DP-GEN trust levels of the max force deviation, eV/Å.
    max_extrapolating_share:
        Share of production frames above ``trust_hi_eV_A`` beyond which the run is flagged.
    extrapolation_action:
        "error" (a flagged run raises :class:`MDExtrapolationError`) or "warn".
    min_distance_A:
        Two atoms closer than this (Å) are a blow-up.
    max_temperature_factor:
        A temperature above this multiple of T is a blow-up.
    max_energy_drop_eV_atom:
        A potential energy this far (eV/atom) below the starting structure's is a blow-up.
    zbl_enabled, zbl_inner_A, zbl_outer_A:
        Overlay the ZBL universal screened-nuclear repulsion (Ziegler, Biersack, Littmark, The
        Stopping and Range of Ions in Solids (1985)) on the DeePMD forces, switched smoothly to
        zero between the inner and outer distance (Å), as DP-ZBL models do: a safety net
        against atoms collapsing onto each other where a potential has no short-range data.
        Off by default (it changes the potential below the outer distance).
    mobile_species:
        Element whose unwrapped positions are stored (``reference.mobile_species``).
    seed:
        Velocity seed (derived from the master seed and the temperature).
    """

    temperature_K: float
    timestep_fs: float = default("md.timestep_fs")
    thermostat_damping_fs: float = default("md.thermostat_damping_fs")
    equilibration_ensemble: str = default("md.equilibration_ensemble")
    barostat: str = default("md.barostat")
    pressure_bar: float = default("md.pressure_bar")
    barostat_damping_fs: float = default("md.barostat_damping_fs")
    equilibration_steps: int = default("md.equilibration_steps")
    production_steps: int = default("md.production_steps")
    sample_stride_steps: int = default("md.sample_stride_steps")
    model_deviation_stride_steps: int = default("md.model_deviation_stride_steps")
    trust_lo_eV_A: float = default("md.trust_lo_eV_A")
    trust_hi_eV_A: float = default("md.trust_hi_eV_A")
    max_extrapolating_share: float = default("md.max_extrapolating_share")
    extrapolation_action: str = default("md.extrapolation_action")
    min_distance_A: float = default("md.min_distance_A")
    max_temperature_factor: float = default("md.max_temperature_factor")
    max_energy_drop_eV_atom: float = default("md.max_energy_drop_eV_atom")
    zbl_enabled: bool = default("md.zbl_repulsion.enabled")
    zbl_inner_A: float = default("md.zbl_repulsion.inner_A")
    zbl_outer_A: float = default("md.zbl_repulsion.outer_A")
    mobile_species: str = default("reference.mobile_species")
    seed: int = 1
    dispersion_pair_style: str = ""

    def __post_init__(self) -> None:
        # key → (rule holds, what was expected)
        checks = {
            "md.temperatures_K": (self.temperature_K > 0, "> 0 K"),
            "md.timestep_fs": (self.timestep_fs > 0, "> 0"),
            "md.thermostat_damping_fs": (self.thermostat_damping_fs > 0, "> 0"),
            "md.barostat_damping_fs": (self.barostat_damping_fs > 0, "> 0"),
            "md.equilibration_steps": (self.equilibration_steps >= 0, ">= 0"),
            "md.production_steps": (self.production_steps >= 1, ">= 1"),
            "md.sample_stride_steps": (
                1 <= self.sample_stride_steps <= self.production_steps,
                f"in [1, production_steps = {self.production_steps}]",
            ),
            "md.model_deviation_stride_steps": (self.model_deviation_stride_steps >= 1, ">= 1"),
            "md.trust_hi_eV_A": (
                0 < self.trust_lo_eV_A <= self.trust_hi_eV_A,
                f"0 < trust_lo_eV_A ≤ trust_hi_eV_A, got {self.trust_lo_eV_A}, "
                f"{self.trust_hi_eV_A}",
            ),
            "md.extrapolation_action": (
                self.extrapolation_action in ACTIONS,
                f"one of {', '.join(ACTIONS)}, got {self.extrapolation_action!r}",
            ),
            "md.min_distance_A": (self.min_distance_A > 0, "> 0"),
            "md.max_temperature_factor": (self.max_temperature_factor > 1, "> 1"),
            "md.max_energy_drop_eV_atom": (self.max_energy_drop_eV_atom > 0, "> 0"),
            "md.zbl_repulsion": (
                0 < self.zbl_inner_A < self.zbl_outer_A,
                f"0 < inner_A < outer_A, got {self.zbl_inner_A}, {self.zbl_outer_A}",
            ),
        }
        bad = [f"{key}: expected {want}" for key, (ok, want) in checks.items() if not ok]
        if bad:
            raise MDInputError("\n".join(bad))
        if self.equilibration_ensemble not in ("npt", "nvt"):
            raise MDInputError(
                f"md.equilibration_ensemble = {self.equilibration_ensemble!r}; expected npt or nvt"
            )
        if self.barostat not in ("iso", "aniso", "tri"):
            raise MDInputError(f"md.barostat = {self.barostat!r}; expected iso, aniso or tri")

    @classmethod
    def from_config(
        cls,
        cfg: dict[str, Any],
        temperature_K: float,
        seed: int,
        mobile_species: str,
        dispersion_pair_style: str = "",
    ) -> MDSettings:
        """Settings from the ``md`` config section for one temperature of the sweep.

        ``seed`` is the run's own seed (derive it from the master seed and T);
        ``mobile_species`` is ``reference.mobile_species``; ``dispersion_pair_style`` the
        LAMMPS D3 overlay of a potential that learned its labels minus D3
        (:func:`ionscale.potential.dispersion.md_pair_style`), empty for none.
        """
        names = set(cls.__dataclass_fields__) - {
            "temperature_K",
            "seed",
            "mobile_species",
            "dispersion_pair_style",
        }
        zbl = cfg.get("zbl_repulsion", {})
        return cls(
            temperature_K=float(temperature_K),
            seed=int(seed),
            mobile_species=mobile_species,
            dispersion_pair_style=dispersion_pair_style,
            zbl_enabled=bool(zbl.get("enabled", False)),
            zbl_inner_A=float(zbl.get("inner_A", 0.6)),
            zbl_outer_A=float(zbl.get("outer_A", 1.0)),
            **{k: v for k, v in cfg.items() if k in names},
        )
