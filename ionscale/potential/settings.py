"""Settings of the potential stage and the registry of DeePMD-kit descriptors.

A descriptor is chosen by name (config key ``potential.descriptor``); each registered
:class:`DescriptorSpec` says which cutoff radii need a neighbour count (``dp neighbor-stat``),
how to build the descriptor section of DeePMD-kit's input from the settings and those counts,
and whether ``dp compress`` can tabulate it [1]_. An unknown name is an error listing the
known ones.

References
----------
.. [1] D. Lu et al., J. Chem. Theory Comput. 18, 5555 (2022) (DP compression).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ionscale.settings import default

#: What a gate does when an RMSE is above its limit.
GATE_ACTIONS = ("error", "warn")
#: What happens when rcut exceeds half the smallest cell height of a training frame.
CELL_HEIGHT_POLICIES = ("error", "warn")


class PotentialError(ValueError):
    """Bad input to the potential stage (a setting, the data or the split)."""


@dataclass(frozen=True)
class LearningRate:
    """Exponentially decaying learning rate (DeePMD-kit ``learning_rate.type = exp``).

    Parameters
    ----------
    start_lr:
        Learning rate at step 0 (dimensionless).
    stop_lr:
        Learning rate reached at the last step (dimensionless).
    decay_steps:
        Steps between decays; DeePMD-kit derives the decay rate from start, stop and steps.
    """

    start_lr: float = default("potential.learning_rate.start_lr")
    stop_lr: float = default("potential.learning_rate.stop_lr")
    decay_steps: int = default("potential.learning_rate.decay_steps")


@dataclass(frozen=True)
class LossPrefactors:
    """Prefactors of the energy, force and virial terms of the loss, from start to limit.

    DeePMD-kit interpolates each prefactor from its start to its limit value in proportion to
    the learning rate [2]_, so forces dominate early and energies late.

    .. [2] L. Zhang et al., Phys. Rev. Lett. 120, 143001 (2018).
    """

    start_pref_e: float = default("potential.loss.start_pref_e")
    limit_pref_e: float = default("potential.loss.limit_pref_e")
    start_pref_f: float = default("potential.loss.start_pref_f")
    limit_pref_f: float = default("potential.loss.limit_pref_f")
    start_pref_v: float = default("potential.loss.start_pref_v")
    limit_pref_v: float = default("potential.loss.limit_pref_v")

    @property
    def uses_virial(self) -> bool:
        return self.start_pref_v > 0 or self.limit_pref_v > 0


@dataclass(frozen=True)
class Gates:
    """Upper limits on the validation RMSE of every ensemble member (``None``: no gate).

    Parameters
    ----------
    energy_rmse_meV_atom:
        Energy RMSE limit, meV/atom.
    force_rmse_meV_A:
        Force-component RMSE limit, meV/Å.
    virial_rmse_meV_atom:
        Virial RMSE limit per atom, meV/atom.
    action:
        ``"error"`` stops the workflow, ``"warn"`` logs a warning and goes on.
    """

    energy_rmse_meV_atom: float | None = default("potential.gates.energy_rmse_meV_atom")
    force_rmse_meV_A: float | None = default("potential.gates.force_rmse_meV_A")
    virial_rmse_meV_atom: float | None = default("potential.gates.virial_rmse_meV_atom")
    action: str = default("potential.gates.action")


@dataclass(frozen=True)
class PotentialSettings:
    """Settings of the DeePMD-kit ensemble (config key ``potential``).

    Parameters
    ----------
    n_models:
        Ensemble members; they differ only in their random seed.
    descriptor:
        Registered descriptor name (see :data:`DESCRIPTORS`).
    rcut_A, rcut_smth_A:
        Cutoff radius and the radius where the smooth switching starts, Å.
    inner_rcut_A:
        Second, shorter cutoff of the DPA-2 repformer / DPA-3 angle channel, Å.
    sel_margin:
        ``sel`` = the largest neighbour count found by ``dp neighbor-stat``, times this margin,
        rounded up to a multiple of 4 (DeePMD-kit's own ``auto`` rule).
    descriptor_neuron, axis_neuron, fitting_neuron:
        Widths of the embedding net, its axis sub-matrix and the fitting net.
    learning_rate, loss:
        Optimisation schedule and loss prefactors.
    numb_steps, batch_size, disp_freq:
        Training steps, frames per batch, steps between lcurve rows.
    compress, compress_table_step:
        Compress the frozen model for MD when the descriptor supports it, with this table step
        (in the units of the embedding net's input, DeePMD-kit's ``-s``).
    cell_height_policy:
        What to do when rcut exceeds half the smallest perpendicular cell height of a frame.
    gates:
        RMSE limits on the validation set.
    """

    n_models: int = default("potential.n_models")
    descriptor: str = default("potential.descriptor")
    rcut_A: float = default("potential.rcut_A")
    rcut_smth_A: float = default("potential.rcut_smth_A")
    inner_rcut_A: float = default("potential.inner_rcut_A")
    sel_margin: float = default("potential.sel_margin")
    descriptor_neuron: tuple[int, ...] = default("potential.descriptor_neuron")
    axis_neuron: int = default("potential.axis_neuron")
    fitting_neuron: tuple[int, ...] = default("potential.fitting_neuron")
    learning_rate: LearningRate = field(default_factory=LearningRate)
    loss: LossPrefactors = field(default_factory=LossPrefactors)
    numb_steps: int = default("potential.training.numb_steps")
    batch_size: int = default("potential.training.batch_size")
    disp_freq: int = default("potential.training.disp_freq")
    compress: bool = default("potential.compress.enabled")
    compress_table_step: float = default("potential.compress.table_step")
    cell_height_policy: str = default("potential.cell_height_policy")
    gates: Gates = field(default_factory=Gates)

    def __post_init__(self) -> None:
        descriptor_spec(self.descriptor)  # unknown name: clear error
        if not 0 < self.rcut_smth_A < self.rcut_A:
            raise PotentialError(
                f"potential.rcut_smth_A = {self.rcut_smth_A} Å must lie in (0, rcut_A = "
                f"{self.rcut_A} Å)"
            )
        if self.learning_rate.decay_steps >= self.numb_steps:
            raise PotentialError(
                f"potential.learning_rate.decay_steps = {self.learning_rate.decay_steps} must be "
                f"smaller than potential.training.numb_steps = {self.numb_steps}"
            )
        if not 0 < self.learning_rate.stop_lr <= self.learning_rate.start_lr:
            raise PotentialError("potential.learning_rate: need 0 < stop_lr ≤ start_lr")
        if self.cell_height_policy not in CELL_HEIGHT_POLICIES:
            raise PotentialError(
                f"potential.cell_height_policy = {self.cell_height_policy!r}: expected one of "
                f"{CELL_HEIGHT_POLICIES}"
            )
        if self.gates.action not in GATE_ACTIONS:
            raise PotentialError(
                f"potential.gates.action = {self.gates.action!r}: expected one of {GATE_ACTIONS}"
            )

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> PotentialSettings:
        """From the validated ``potential`` config section."""
        tr = cfg["training"]
        return cls(
            n_models=cfg["n_models"],
            descriptor=cfg["descriptor"],
            rcut_A=cfg["rcut_A"],
            rcut_smth_A=cfg["rcut_smth_A"],
            inner_rcut_A=cfg["inner_rcut_A"],
            sel_margin=cfg["sel_margin"],
            descriptor_neuron=tuple(cfg["descriptor_neuron"]),
            axis_neuron=cfg["axis_neuron"],
            fitting_neuron=tuple(cfg["fitting_neuron"]),
            learning_rate=LearningRate(**cfg["learning_rate"]),
            loss=LossPrefactors(**cfg["loss"]),
            numb_steps=tr["numb_steps"],
            batch_size=tr["batch_size"],
            disp_freq=tr["disp_freq"],
            compress=cfg["compress"]["enabled"],
            compress_table_step=cfg["compress"]["table_step"],
            cell_height_policy=cfg["cell_height_policy"],
            gates=Gates(**cfg["gates"]),
        )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PotentialSettings:
        """From a rule's ``params.config`` (a config subset: the ``potential`` keys the rule
        uses; other sections are ignored). Keys a rule does not pass take their schema
        defaults, so each rule reruns only when the keys it uses change.
        """
        from ionscale.config import validate_config

        part = copy.deepcopy(dict(params.get("potential", {})))
        return cls.from_config(validate_config({"potential": part})["potential"])

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.__dict__.copy() if hasattr(value, "__dataclass_fields__") else value
        return out


# --------------------------------------------------------------------------------------------
# Descriptor registry
# --------------------------------------------------------------------------------------------


def round_sel(max_neighbours: int, margin: float) -> int:
    """DeePMD-kit's ``auto`` rule: ``ceil(max × margin)`` rounded up to a multiple of 4 (≥ 4)."""
    return max(4, 4 * math.ceil(math.ceil(max_neighbours * margin) / 4))


@dataclass(frozen=True)
class DescriptorSpec:
    """One registered DeePMD-kit descriptor.

    Subclasses say which cutoff radii need neighbour statistics (:meth:`radii`: name →
    ``(rcut_A, mixed_type)``, mixed meaning one count over all types) and build the
    ``model.descriptor`` section (:meth:`build`) from the settings and the ``sel`` per radius.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    compressible: ClassVar[bool]

    def radii(self, s: PotentialSettings) -> dict[str, tuple[float, bool]]:
        return {"rcut": (s.rcut_A, True)}

    def build(self, s: PotentialSettings, sel: dict[str, Any], seed: int) -> dict[str, Any]:
        raise PotentialError(f"descriptor {self.name!r} does not define its input")


class SeE2A(DescriptorSpec):
    name = "se_e2_a"
    summary = "DeepPot-SE, two-body embedding with full radial+angular information (default)"
    compressible = True

    def radii(self, s: PotentialSettings) -> dict[str, tuple[float, bool]]:
        return {"rcut": (s.rcut_A, False)}

    def build(self, s: PotentialSettings, sel: dict[str, Any], seed: int) -> dict[str, Any]:
        return {
            "type": "se_e2_a",
            "sel": list(sel["rcut"]),
            "rcut_smth": s.rcut_smth_A,
            "rcut": s.rcut_A,
            "neuron": list(s.descriptor_neuron),
            "axis_neuron": s.axis_neuron,
            "resnet_dt": False,
            "seed": seed,
        }


class Dpa1(DescriptorSpec):
    name = "dpa1"
    summary = "DPA-1: type embedding + gated self-attention (2 layers); not compressible"
    compressible = False

    def build(self, s: PotentialSettings, sel: dict[str, Any], seed: int) -> dict[str, Any]:
        return {
            "type": "dpa1",
            "sel": int(sel["rcut"]),
            "rcut_smth": s.rcut_smth_A,
            "rcut": s.rcut_A,
            "neuron": list(s.descriptor_neuron),
            "axis_neuron": s.axis_neuron,
            "tebd_dim": 8,
            "attn": 64,
            "attn_layer": 2,
            "tebd_input_mode": "strip",
            "resnet_dt": False,
            "seed": seed,
        }


class Dpa1Compressible(Dpa1):
    name = "dpa1_noattn"
    summary = "DPA-1 without attention layers (strip type embedding): compressible"
    compressible = True

    def build(self, s: PotentialSettings, sel: dict[str, Any], seed: int) -> dict[str, Any]:
        return {**super().build(s, sel, seed), "attn_layer": 0}


class _InnerRadiusSpec(DescriptorSpec):
    """A descriptor with a second, inner cut-off (its own neighbour selection)."""

    compressible = False

    def radii(self, s: PotentialSettings) -> dict[str, tuple[float, bool]]:
        return {"rcut": (s.rcut_A, True), "inner": (min(s.inner_rcut_A, s.rcut_A), True)}


class Dpa2(_InnerRadiusSpec):
    name = "dpa2"
    summary = "DPA-2: repinit (rcut) + 3 repformer layers (inner_rcut); not compressible here"

    def build(self, s: PotentialSettings, sel: dict[str, Any], seed: int) -> dict[str, Any]:
        inner = min(s.inner_rcut_A, s.rcut_A)
        return {
            "type": "dpa2",
            "repinit": {
                "rcut": s.rcut_A,
                "rcut_smth": s.rcut_smth_A,
                "nsel": int(sel["rcut"]),
                "neuron": list(s.descriptor_neuron),
                "axis_neuron": s.axis_neuron,
                "tebd_dim": 8,
                "activation_function": "tanh",
            },
            "repformer": {
                "rcut": inner,
                "rcut_smth": 0.5 * inner,
                "nsel": int(sel["inner"]),
                "nlayers": 3,
                "g1_dim": 32,
                "g2_dim": 16,
                "axis_neuron": 4,
                "attn2_hidden": 16,
                "attn2_nhead": 2,
                "update_g1_has_attn": False,
            },
            "add_tebd_to_repinit_out": False,
            "seed": seed,
        }


class Dpa3(_InnerRadiusSpec):
    name = "dpa3"
    summary = "DPA-3: 3 repflow layers, edges to rcut and angles to inner_rcut; not compressible"

    def build(self, s: PotentialSettings, sel: dict[str, Any], seed: int) -> dict[str, Any]:
        inner = min(s.inner_rcut_A, s.rcut_A)
        return {
            "type": "dpa3",
            "repflow": {
                "n_dim": 32,
                "e_dim": 16,
                "a_dim": 8,
                "nlayers": 3,
                "e_rcut": s.rcut_A,
                "e_rcut_smth": s.rcut_smth_A,
                "e_sel": int(sel["rcut"]),
                "a_rcut": inner,
                "a_rcut_smth": 0.5 * inner,
                "a_sel": int(sel["inner"]),
                "axis_neuron": 4,
            },
            "seed": seed,
        }


#: Registered descriptors by name.
DESCRIPTORS: dict[str, DescriptorSpec] = {
    cls.name: cls() for cls in (SeE2A, Dpa1, Dpa1Compressible, Dpa2, Dpa3)
}


def descriptor_spec(name: str) -> DescriptorSpec:
    """The registered descriptor ``name``; an unknown name is an error listing the known ones."""
    try:
        return DESCRIPTORS[name]
    except KeyError:
        known = ", ".join(f"{k} ({v.summary})" for k, v in DESCRIPTORS.items())
        raise PotentialError(
            f"potential.descriptor = {name!r} is not known; known: {known}"
        ) from None
