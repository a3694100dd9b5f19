"""Settings of the reference stage's sampler (``reference.sampling`` and neighbouring keys).

:class:`SamplingSettings` holds everything :func:`ionscale.reference.sampling.sample_frames`
uses, built from the default-filled ``reference`` section (:meth:`SamplingSettings.from_config`);
:class:`MDSettings` the optional short MD with a cheap potential and
:class:`ExtraStructureSettings` the bcc Li metal and empty-host references. The frame kinds
are described in :mod:`ionscale.reference.sampling`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ionscale.config import ConfigError
from ionscale.settings import default, default_factory


@dataclass(frozen=True)
class MDSettings:
    """Optional short MD with a cheap potential (GPAW LCAO) to sample thermal disorder.

    Parameters
    ----------
    enabled:
        Run MD at all.
    temperature_K:
        Langevin thermostat temperature, K.
    timestep_fs:
        Time step, fs.
    equilibration_steps:
        Steps discarded before the first snapshot.
    n_frames:
        Snapshots per composition and supercell.
    sample_interval_steps:
        Steps between snapshots.
    friction_per_fs:
        Langevin friction, 1/fs.
    basis:
        GPAW LCAO basis (e.g. ``"sz(dzp)"``, single-zeta from the dzp set).
    kpoint_density_per_A:
        k-point density of the MD potential, points per Å⁻¹ (0: Γ point only).
    """

    enabled: bool = default("reference.sampling.md.enabled")
    temperature_K: float = default("reference.sampling.md.temperature_K")
    timestep_fs: float = default("reference.sampling.md.timestep_fs")
    equilibration_steps: int = default("reference.sampling.md.equilibration_steps")
    n_frames: int = default("reference.sampling.md.n_frames")
    sample_interval_steps: int = default("reference.sampling.md.sample_interval_steps")
    friction_per_fs: float = default("reference.sampling.md.friction_per_fs")
    basis: str = default("reference.sampling.md.basis")
    kpoint_density_per_A: float = default("reference.sampling.md.kpoint_density_per_A")


@dataclass(frozen=True)
class ExtraStructureSettings:
    """A reference structure sampled beside the host (bcc Li metal, the empty host).

    Parameters
    ----------
    enabled:
        Include it.
    file, prototype:
        Structure file or prototype name (exactly one).
    supercell:
        Repeats along the three lattice vectors.
    n_rattle, n_strain:
        Rattled and strained copies besides the ideal structure.
    """

    enabled: bool
    file: str
    prototype: str
    supercell: tuple[int, int, int]
    n_rattle: int
    n_strain: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ExtraStructureSettings:
        """From ``reference.li_metal`` or ``reference.host``."""
        cfg = dict(cfg)
        cfg["supercell"] = tuple(int(r) for r in cfg["supercell"])
        return cls(**cfg)

    @classmethod
    def schema_default(cls, role: str) -> ExtraStructureSettings:
        """The schema defaults of ``reference.<role>`` (the two roles differ)."""
        return cls.from_config(default_factory(f"reference.{role}")())


@dataclass(frozen=True)
class SamplingSettings:
    """Everything the sampler uses (see the module docstring and config/README.md).

    Lengths in Å; ``max_strain`` is a dimensionless strain component; ``x_range`` are site
    fractions of the mobile species.
    """

    enabled: bool = default("reference.sampling.enabled")
    supercells: tuple[tuple[int, int, int], ...] = default("reference.structure.supercells")
    mobile_species: str = default("reference.mobile_species")
    x_range: tuple[float, float] = default("reference.x_range")
    n_compositions: int = default("reference.sampling.n_compositions")
    orderings_per_composition: int = default("reference.sampling.orderings_per_composition")
    rattle_per_ordering: int = default("reference.sampling.rattle_per_ordering")
    rattle_stdev_A: float = default("reference.sampling.rattle_stdev_A")
    strain_per_ordering: int = default("reference.sampling.strain_per_ordering")
    max_strain: float = default("reference.sampling.max_strain")
    strain_rattle_stdev_A: float = default("reference.sampling.strain_rattle_stdev_A")
    hop_images: int = default("reference.sampling.hop_images")
    contact_distances_A: tuple[float, ...] = default("reference.sampling.contact_distances_A")
    stages: tuple[int, ...] = default("reference.sampling.stages")
    c_axis_scales: tuple[float, ...] = default("reference.sampling.c_axis_scales")
    duplicate_tolerance_A: float = default("reference.sampling.duplicate_tolerance_A")
    min_distance_A: float = default("reference.checks.min_pair_distance_A")
    md: MDSettings = field(default_factory=MDSettings)
    li_metal: ExtraStructureSettings = field(
        default_factory=lambda: ExtraStructureSettings.schema_default("li_metal")
    )
    host: ExtraStructureSettings = field(
        default_factory=lambda: ExtraStructureSettings.schema_default("host")
    )

    @classmethod
    def from_config(cls, reference: Mapping[str, Any]) -> SamplingSettings:
        """From the (default-filled) ``reference`` config section."""
        s = dict(reference["sampling"])
        md = MDSettings(**s.pop("md"))

        x_lo, x_hi = (float(v) for v in reference["x_range"])
        if not 0.0 <= x_lo <= x_hi <= 1.0:
            raise ConfigError(
                f"reference.x_range: expected 0 <= x_min <= x_max <= 1, got {[x_lo, x_hi]}"
            )
        return cls(
            supercells=tuple(tuple(map(int, sc)) for sc in reference["structure"]["supercells"]),
            mobile_species=reference["mobile_species"],
            x_range=(x_lo, x_hi),
            md=md,
            li_metal=ExtraStructureSettings.from_config(reference["li_metal"]),
            host=ExtraStructureSettings.from_config(reference["host"]),
            min_distance_A=float(reference["checks"]["min_pair_distance_A"]),
            contact_distances_A=tuple(float(d) for d in s.pop("contact_distances_A", ())),
            stages=tuple(int(n) for n in s.pop("stages", ())),
            c_axis_scales=tuple(float(f) for f in s.pop("c_axis_scales", ())),
            **s,
        )  # fmt: skip
