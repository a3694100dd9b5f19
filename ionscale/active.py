"""Active learning: explore with the ensemble, label what it disagrees on, retrain (DP-GEN).

A potential trained on the sampled reference frames meets configurations in MD that it has never
seen; the ensemble then disagrees, and a long run can walk into an unphysical low-energy state
the potential invented where it had no data. The concurrent-learning loop of DP-GEN (Zhang et al.,
Comput. Phys. Commun. 253, 107206 (2020)) closes that gap, round by round:

explore
    Short LAMMPS runs with the round's ensemble (``pair_style deepmd`` with every member, as the
    md stage runs them, ZBL overlay included when configured) in a cell small enough for the
    reference calculator, at the configured temperatures. Every ``stride_steps`` steps the full
    frame is kept and the ensemble's max force deviation σ_f,max (eV/Å) is recorded. A run that
    trips one of the md stage's blow-up checks (a potential hole, atoms too close, a temperature
    runaway) stops there; the frames before it, which lead into the hole, stay candidates, and so
    does the frame that tripped it unless two of its atoms are closer than ``md.min_distance_A``
    (the reference checks would reject it).
select
    Frames with ``trust_lo ≤ σ_f,max < trust_hi`` are candidates (DP-GEN's window: below, the
    ensemble agrees and DFT would teach little; above, the frame is likely unphysical or already
    past a failure). At most ``max_frames`` of them are drawn at random (seeded), as DP-GEN does,
    which spreads the picks over temperatures and times in proportion to where the candidates
    are.
label
    The picks go through the reference stage's calculator, checks and failure records
    (``reference.calculator``, ``reference.checks``) and land in
    ``active/round{r}/labelled.extxyz``.
orderings
    With ``orderings.n_frames > 0`` each round also closes the loop over the thermo stage's
    Li/vacancy orderings, the configurations the free energy is built from: the round's model 0
    relaxes the orderings of up to ``orderings.max_supercell_size`` primitive cells (as the thermo
    stage relaxes them, ``thermo.relax``), every member evaluates them, and the
    ``orderings.n_frames`` with the largest ensemble energy spread are labelled by DFT as single
    points at the DP-relaxed geometry (so DFT also corrects the forces that put them there). A
    seeded share (``orderings.held_out_fraction``) of the orderings is never picked: the thermo
    stage's DFT check compares DP and DFT on those (:func:`held_out`).
retrain
    Round r + 1 trains every member on the reference data plus the labelled frames of rounds
    0…r (a stated share of them in validation), starting from round r's frozen member
    (``dp train --init-frz-model``) when the descriptor's neighbour counts still fit, otherwise
    from scratch.

converge
    Round r's ensemble then runs where the md stage will run it: at every ``md.temperatures_K``,
    in the md stage's cell (``md.supercell`` with ``md.mobile_vacancies``), for
    ``convergence.steps`` steps. The share of frames whose σ_f,max exceeds the md stage's
    ``md.trust_hi_eV_A`` (a run that blows up counts its remaining frames as extrapolating) is
    DP-GEN 2's convergence criterion; at most ``md.max_extrapolating_share`` at every temperature
    is convergence, and round r's potential becomes the final one. Otherwise round r's picks are
    labelled and round r + 1 trains, up to ``max_rounds`` retrains; a last round that has not
    converged is a gate (:func:`convergence_decision`): an error naming the shares and the
    tolerance unless ``convergence.action: warn``.

Round r's potential lives in ``potential/round{r}/``; the final one is copied to ``potential/``, the
one every later stage reads, with the convergence history (``potential/active_learning.json``).
Written by hand because DP-GEN drives its own job system and file layout; here each step is a
Snakemake rule (the convergence check a checkpoint) so a cluster runs the rounds like every other
stage.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms

from ionscale.engines.lammps import (
    FS_PER_PS,
    LammpsRun,
    MDBlowUpError,
    MDRunError,
    open_lammps,
    read_model_deviation,
    write_data_file,
)
from ionscale.gates import ACTIONS, ALLOWED, FAILED, PASSED, GateError

# the split of labelled active frames belongs to the potential stage's data and the check whether
# a round can start from the last round's weights (sel_fits) to its training; kept importable here
from ionscale.potential.data import validation_indices as validation_indices
from ionscale.potential.train import sel_fits as sel_fits
from ionscale.settings import default, default_factory, from_section

if TYPE_CHECKING:
    from ionscale.md import MDSettings

log = logging.getLogger(__name__)


class ActiveLearningError(ValueError):
    """Bad active-learning input (names the key and what was expected)."""


@dataclass(frozen=True)
class ActiveSettings:
    """Config key ``active_learning`` (see the schema for every key's meaning)."""

    max_rounds: int = default("active_learning.max_rounds")
    supercell: tuple[int, int, int] = default("active_learning.supercell")
    mobile_vacancies: int = default("active_learning.mobile_vacancies")
    temperatures_K: tuple[float, ...] = default("active_learning.temperatures_K")
    steps: int = default("active_learning.steps")
    stride_steps: int = default("active_learning.stride_steps")
    trust_lo_eV_A: float = default("active_learning.trust_lo_eV_A")
    trust_hi_eV_A: float = default("active_learning.trust_hi_eV_A")
    max_frames: int = default("active_learning.max_frames")
    validation_fraction: float = default("active_learning.validation_fraction")
    training_steps: int | None = default("active_learning.training_steps")
    init_from_previous: bool = default("active_learning.init_from_previous")
    orderings: Mapping[str, Any] = field(
        default_factory=default_factory("active_learning.orderings")
    )
    convergence: Mapping[str, Any] = field(
        default_factory=default_factory("active_learning.convergence")
    )

    def __post_init__(self) -> None:
        k = "active_learning"
        # key → (rule holds, what was expected)
        checks = {
            f"{k}.max_rounds": (self.max_rounds >= 0, ">= 0"),
            f"{k}.convergence.steps": (
                int(self.convergence.get("steps", 0)) >= self.stride_steps,
                f">= stride_steps = {self.stride_steps} (a frame every stride_steps)",
            ),
            f"{k}.convergence.action": (
                self.convergence.get("action") in ACTIONS,
                f"one of {', '.join(ACTIONS)}",
            ),
            f"{k}.supercell": (
                len(self.supercell) == 3 and all(int(n) >= 1 for n in self.supercell),
                "three repeats >= 1",
            ),
            f"{k}.mobile_vacancies": (self.mobile_vacancies >= 0, ">= 0"),
            f"{k}.temperatures_K": (
                len(self.temperatures_K) >= 1 and all(t > 0 for t in self.temperatures_K),
                "at least one temperature, all > 0 K",
            ),
            f"{k}.steps": (self.steps >= 1, ">= 1"),
            f"{k}.stride_steps": (
                1 <= self.stride_steps <= self.steps,
                f"in [1, steps = {self.steps}]",
            ),
            f"{k}.trust_hi_eV_A": (
                0 <= self.trust_lo_eV_A < self.trust_hi_eV_A,
                f"0 ≤ trust_lo_eV_A < trust_hi_eV_A, got {self.trust_lo_eV_A}, "
                f"{self.trust_hi_eV_A}",
            ),
            f"{k}.max_frames": (self.max_frames >= 1, ">= 1"),
            f"{k}.validation_fraction": (0 <= self.validation_fraction < 1, "in [0, 1)"),
            f"{k}.training_steps": (
                self.training_steps is None or self.training_steps >= 1,
                "null or >= 1",
            ),
        }
        bad = [f"{key}: expected {want}" for key, (ok, want) in checks.items() if not ok]
        if bad:
            raise ActiveLearningError("\n".join(bad))

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ActiveSettings:
        return from_section(cls, cfg, "active_learning", error=ActiveLearningError)


# ------------------------------------------------------------------------------- explore


@dataclass
class Exploration:
    """One exploration run: the sampled frames and their ensemble deviation."""

    temperature_K: float
    frames: list[Atoms]
    max_force_deviation_eV_A: np.ndarray
    steps: np.ndarray
    stopped: str | None = None  # the blow-up that ended the run early, if any
    notes: list[str] = field(default_factory=list)


def explore(
    atoms: Atoms,
    models: Sequence[str | Path],
    settings: MDSettings,
    steps: int,
    stride_steps: int,
    lammps_log: str | Path | None = None,
) -> Exploration:
    """NVT at ``settings.temperature_K`` from ``atoms``; every ``stride_steps`` the full frame.

    ``settings`` are the md stage's (pair style, ZBL, thermostat, blow-up limits); its
    ``model_deviation_stride_steps`` is replaced by ``stride_steps`` so that every kept frame has
    its deviation. A blow-up ends the run without an error (recorded in ``stopped``); any other
    LAMMPS failure raises :class:`~ionscale.md.MDRunError`. Frames with two atoms closer than
    ``settings.min_distance_A`` are not kept.
    """
    from dataclasses import replace

    from ase.neighborlist import neighbor_list

    s = replace(settings, model_deviation_stride_steps=stride_steps)
    models = [Path(m).resolve() for m in models]
    missing = [str(m) for m in models if not m.is_file()]
    if missing or len(models) < 2:
        raise ActiveLearningError(
            f"exploration needs at least 2 existing ensemble models; missing {missing} of "
            f"{[str(m) for m in models]}"
        )
    species = sorted(set(atoms.get_chemical_symbols()))
    frames: list[Atoms] = []
    kept_steps: list[int] = []
    stopped = None
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ionscale-al-")))
        data_file, devi_file = tmp / "cell.lmp", tmp / "model_devi.out"
        write_data_file(data_file, atoms, species)
        lmp = open_lammps(lammps_log)
        stack.callback(lmp.close)
        run = LammpsRun(lmp, s, np.arange(1, len(atoms) + 1), len(atoms))
        run.start(data_file, species, models, devi_file)  # set-up, then run 0
        run.record_start_energy()
        tdamp = s.thermostat_damping_fs / FS_PER_PS
        lmp.command(f"fix ionscale_al all nvt temp {s.temperature_K} {s.temperature_K} {tdamp}")
        numbers = np.array(atoms.numbers)

        def keep() -> None:
            frame = Atoms(numbers=numbers, positions=run.positions(), cell=run.cell(), pbc=True)
            frame.wrap()
            if len(neighbor_list("i", frame, s.min_distance_A)):
                return  # atoms closer than md.min_distance_A: the check below stops the run
            frames.append(frame)
            kept_steps.append(run.step())

        done = 0
        try:
            run.advance(0, "exploration")
            while done < steps:
                run.advance(stride_steps, "exploration")
                done += stride_steps
                keep()  # before the check: the frame that trips it is a candidate too
                run.check("exploration")
        except MDBlowUpError as exc:
            stopped = str(exc)
            log.warning("exploration stopped: %s", exc)
        lmp.flush_buffers()
        devi = read_model_deviation(devi_file)
    by_step = dict(zip(devi["step"].astype(int).tolist(), devi["max_devi_f"], strict=True))
    missing_steps = [k for k in kept_steps if k not in by_step]
    if missing_steps:
        raise MDRunError(f"no model deviation at exploration steps {missing_steps[:5]}")
    return Exploration(
        temperature_K=s.temperature_K,
        frames=frames,
        max_force_deviation_eV_A=np.array([by_step[k] for k in kept_steps], dtype=float),
        steps=np.array(kept_steps, dtype=int),
        stopped=stopped,
    )


# -------------------------------------------------------------------------------- select


@dataclass
class Selection:
    """The picks of one round and the counts behind them."""

    frames: list[Atoms]
    counts: dict[str, int]


def select_candidates(
    frames: Sequence[Atoms],
    deviation_eV_A: np.ndarray,
    trust_lo_eV_A: float,
    trust_hi_eV_A: float,
    max_frames: int,
    seed: int,
) -> Selection:
    """DP-GEN selection: candidates in ``[trust_lo, trust_hi)``, at most ``max_frames`` at random.

    The picks keep their order in ``frames``; counts of accurate (below the window), candidate and
    failed (at or above it) frames are returned with the number picked.
    """
    dev = np.asarray(deviation_eV_A, dtype=float)
    if len(dev) != len(frames):
        raise ValueError(f"{len(frames)} frames but {len(dev)} deviations")
    candidate = (dev >= trust_lo_eV_A) & (dev < trust_hi_eV_A)
    idx = np.flatnonzero(candidate)
    if len(idx) > max_frames:
        idx = np.sort(np.random.default_rng(seed).choice(idx, size=max_frames, replace=False))
    counts = {
        "accurate": int(np.sum(dev < trust_lo_eV_A)),
        "candidate": int(candidate.sum()),
        "failed": int(np.sum(dev >= trust_hi_eV_A)),
        "picked": len(idx),
    }
    return Selection([frames[i] for i in idx], counts)


# ----------------------------------------------------------------------------- orderings


@dataclass(frozen=True)
class OrderingSettings:
    """Config key ``active_learning.orderings`` (see the schema)."""

    n_frames: int = default("active_learning.orderings.n_frames")
    max_supercell_size: int = default("active_learning.orderings.max_supercell_size")
    held_out_fraction: float = default("active_learning.orderings.held_out_fraction")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> OrderingSettings:
        return from_section(cls, cfg, "active_learning.orderings", error=ActiveLearningError)


def held_out(ordering_id: str, fraction: float, seed: int) -> bool:
    """Whether an ordering is held out of training for the thermo DFT check: a seeded,
    reproducible draw per ordering id (the same in every rule that asks)."""
    from ionscale.config import derive_seed

    return derive_seed(seed, "orderings", "held-out", ordering_id) / 2**32 < fraction


@dataclass
class OrderingCandidates:
    """The DP-relaxed orderings of one round with their ensemble energy spread."""

    frames: list[Atoms]  # relaxed, vacancies removed, in enumeration order
    spread_eV_atom: np.ndarray  # ensemble standard deviation of E per atom
    picked: list[int]  # indices into frames, largest spread first
    counts: dict[str, int]


def ordering_candidates(
    host: Any,
    models: Sequence[str | Path],
    settings: OrderingSettings,
    relax_settings: Any,
    seed: int,
    dispersion: Any = None,
) -> OrderingCandidates:
    """Relax the eligible orderings with model 0, evaluate every member, pick the
    ``settings.n_frames`` with the largest ensemble spread of the energy per atom.

    Eligible: 0 < x < 1 (the end members are in the reference data), not :func:`held_out`,
    relaxed without collapse. ``dispersion``: D3 added to models that learned without it.
    """
    from ionscale.thermo.atomistic import dp_calculator, ensemble_energies
    from ionscale.thermo.energies import relax_orderings
    from ionscale.thermo.structures import enumerate_orderings

    if len(models) < 2:
        raise ActiveLearningError(
            f"active_learning.orderings: the energy spread needs ≥ 2 members, got {len(models)}"
        )
    lattice = enumerate_orderings(host, settings.max_supercell_size)
    interior = [a for a in lattice if 0 < a.info["li_fraction"] < 1]
    kept = [not held_out(a.info["ordering_id"], settings.held_out_fraction, seed) for a in interior]
    eligible = [a for a, k in zip(interior, kept, strict=True) if k]
    calcs = [dp_calculator(m, dispersion) for m in models]
    relaxed, _, _, failure = relax_orderings(eligible, calcs[0], relax_settings)
    ok = [i for i, f in enumerate(failure) if not f]
    frames = [relaxed[i] for i in ok]
    for i, a in zip(ok, frames, strict=True):
        a.info.update({k: eligible[i].info[k] for k in ("ordering_id", "li_fraction", "n_sites")})
    energies = ensemble_energies(frames, calcs) if frames else np.empty((len(calcs), 0))
    natoms = np.array([len(a) for a in frames], dtype=float)
    spread = energies.std(axis=0) / natoms if frames else np.empty(0)
    picked = [int(i) for i in np.argsort(-spread, kind="stable")[: settings.n_frames]]
    counts = {
        "enumerated": len(lattice),
        "held_out": len(interior) - len(eligible),
        "eligible": len(eligible),
        "failed_relaxation": len(eligible) - len(ok),
        "picked": len(picked),
    }
    return OrderingCandidates(frames, spread, picked, counts)


# ----------------------------------------------------------------------------- round plan


def potential_dir(round_index: int) -> str:
    """Directory (under results/{system}) of round ``round_index``'s potential."""
    if round_index < 0:
        raise ActiveLearningError(f"round {round_index} < 0")
    return f"potential/round{round_index}"


def round_of(pot_dir: str) -> int:
    """Inverse of :func:`potential_dir`."""
    head, sep, tail = pot_dir.rpartition("/round")
    if not sep or head != "potential" or not tail.isdigit():
        raise ActiveLearningError(f"{pot_dir!r} is not a round's potential directory")
    return int(tail)


# --------------------------------------------------------------------------- convergence


class ActiveLearningUnconvergedError(GateError):
    """The last allowed round still extrapolates in the md stage's conditions."""


def extrapolating_share(
    result: Exploration, trust_hi_eV_A: float, expected_frames: int
) -> dict[str, Any]:
    """The share of an exploration's frames whose σ_f,max exceeds ``trust_hi_eV_A``.

    A run that stopped early (a blow-up) counts the frames it did not reach as extrapolating:
    the potential failed there. Returns the counts, the share and the deviation quantiles.
    """
    dev = np.asarray(result.max_force_deviation_eV_A, dtype=float)
    above = int(np.count_nonzero(dev > trust_hi_eV_A))
    missing = max(int(expected_frames) - len(dev), 0) if result.stopped else 0
    total = len(dev) + missing
    return {
        "temperature_K": result.temperature_K,
        "n_frames": len(dev),
        "n_above_trust_hi": above,
        "n_not_reached": missing,
        "extrapolating_share": (above + missing) / total if total else 1.0,
        "max_force_deviation_eV_A": {
            "median": float(np.median(dev)) if len(dev) else None,
            "p95": float(np.quantile(dev, 0.95)) if len(dev) else None,
            "max": float(dev.max()) if len(dev) else None,
        },
        "stopped": result.stopped,
    }


def convergence_decision(
    runs: Sequence[Mapping[str, Any]],
    round_index: int,
    max_rounds: int,
    max_share: float,
    trust_hi_eV_A: float,
    action: str,
) -> dict[str, Any]:
    """Whether round ``round_index`` is the last: converged, or the cap reached.

    ``runs`` are :func:`extrapolating_share` records, one per md temperature. Converged when
    every share is at most ``max_share``. Unconverged before ``max_rounds``: ``next_round``
    is ``round_index + 1``. Unconverged at the cap: the gate's verdict is ``failed``
    (``action: error``; :func:`enforce_convergence` raises) or ``allowed by config``.
    """
    if not runs:
        raise ActiveLearningError("the convergence check needs at least one md temperature")
    bad = [r for r in runs if r["extrapolating_share"] > max_share]
    problems = [
        f"{r['extrapolating_share']:.1%} of the frames at {r['temperature_K']:g} K above "
        f"md.trust_hi_eV_A = {trust_hi_eV_A:g} eV/Å"
        + (f" ({r['n_not_reached']} not reached: {r['stopped']})" if r["n_not_reached"] else "")
        for r in bad
    ]
    converged = not bad
    at_cap = round_index >= max_rounds
    if converged:
        verdict = PASSED
    elif at_cap:
        verdict = FAILED if action == "error" else ALLOWED
    else:
        verdict = "not converged: next round"
    return {
        "round": round_index,
        "max_rounds": max_rounds,
        "converged": converged,
        "final": converged or at_cap,
        "next_round": None if converged or at_cap else round_index + 1,
        "max_extrapolating_share": max_share,
        "trust_hi_eV_A": trust_hi_eV_A,
        "worst_share": max(r["extrapolating_share"] for r in runs),
        "verdict": verdict,
        "problems": problems,
        "runs": list(runs),
    }


def enforce_convergence(decision: Mapping[str, Any]) -> None:
    """Raise :class:`ActiveLearningUnconvergedError` on a ``failed`` decision."""
    if decision["verdict"] != FAILED:
        return
    raise ActiveLearningUnconvergedError(
        f"active learning did not converge in active_learning.max_rounds = "
        f"{decision['max_rounds']} rounds: "
        + "; ".join(decision["problems"])
        + f" (md.max_extrapolating_share = {decision['max_extrapolating_share']:g}). Raise "
        "active_learning.max_rounds, or set active_learning.convergence.action: warn to go on "
        "with an extrapolating potential.",
        dict(decision),
    )


def final_round(decisions: Sequence[Mapping[str, Any]]) -> int:
    """The round whose potential is final, from the decisions of rounds 0, 1, … in order."""
    for i, d in enumerate(decisions):
        if d["round"] != i:
            raise ActiveLearningError(f"convergence decisions out of order: {i} holds {d['round']}")
        if d["final"]:
            return i
    raise ActiveLearningError(f"no final round among {len(decisions)} decisions")


def write_exploration(path: str | Path, result: Exploration, frame_prefix: str,
                      mobile_species: str, sites_per_host: float) -> dict[str, Any]:  # fmt: skip
    """Frames with their deviation, step and identity as an extxyz file; returns a summary."""
    from ionscale.reference.stage import write_frames
    from ionscale.reference.structures import site_fraction

    for frame, step, dev in zip(
        result.frames, result.steps, result.max_force_deviation_eV_A, strict=True
    ):
        frame.info.update(
            frame_id=f"{frame_prefix}-s{int(step)}",
            config_type="active",
            li_fraction=site_fraction(frame, mobile_species, sites_per_host),
            temperature_K=result.temperature_K,
            max_force_deviation_eV_A=float(dev),
        )
    write_frames(path, result.frames)
    dev = result.max_force_deviation_eV_A
    return {
        "temperature_K": result.temperature_K,
        "n_frames": len(result.frames),
        "max_force_deviation_eV_A": {
            "min": float(dev.min()) if len(dev) else None,
            "median": float(np.median(dev)) if len(dev) else None,
            "max": float(dev.max()) if len(dev) else None,
        },
        "stopped": result.stopped,
    }
