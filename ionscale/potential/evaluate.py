"""Testing the ensemble: predictions vs DFT, RMSEs, model deviation, gates, plots.

Every member is evaluated through ``deepmd.infer.DeepPot`` on the validation frames (and the
training frames, to expose over-fitting), frame by frame so each prediction keeps the index of
its frame in reference/labelled.extxyz. Errors are reported as DeePMD-kit's ``dp test`` does:
energy RMSE per atom, force-component RMSE, virial RMSE per atom.

The ensemble's model deviation on each validation frame is DP-GEN's [1]_: for atom i,
``σ_i = sqrt(⟨‖F_i − ⟨F_i⟩‖²⟩)`` over the members, and the frame's value is ``max_i σ_i``
(eV/Å), the quantity DP-GEN's trust levels are set on (computed by
``deepmd.infer.model_devi.calc_model_devi_f``).

References
----------
.. [1] Y. Zhang et al., Comput. Phys. Commun. 253, 107206 (2020) (DP-GEN).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.potential.settings import Gates, PotentialError

if TYPE_CHECKING:
    from ase import Atoms

log = logging.getLogger(__name__)


class GateError(RuntimeError):
    """A validation RMSE is above its configured limit."""


@dataclass
class Predictions:
    """Energies (eV), forces (eV/Å, atoms of all frames stacked) and virials (eV) of frames."""

    energy_eV: np.ndarray
    forces_eV_A: np.ndarray
    virial_eV: np.ndarray


def reference_labels(frames: Sequence[Atoms]) -> Predictions:
    """DFT labels of the frames; virial = −V·σ (NaN where a frame has no stress)."""
    energy = np.array([a.calc.results["energy"] for a in frames], dtype=float)
    forces = np.concatenate([np.asarray(a.calc.results["forces"], float) for a in frames])
    virial = np.full((len(frames), 3, 3), np.nan)
    for k, atoms in enumerate(frames):
        if "stress" in atoms.calc.results:
            virial[k] = -atoms.get_volume() * atoms.get_stress(voigt=False)
    return Predictions(energy, forces, virial)


def predict(model: str | Path | Any, frames: Sequence[Atoms]) -> Predictions:
    """Predictions of one frozen DeePMD-kit model (a path or a loaded ``DeepPot``), frame by
    frame, via ``deepmd.infer``."""
    # DeePMD-kit warns on every model load unless the inference batch size is set explicitly
    os.environ.setdefault("DP_INFER_BATCH_SIZE", "1024")
    from deepmd.infer import DeepPot

    dp = model if isinstance(model, DeepPot) else DeepPot(str(model))
    type_map = list(dp.get_type_map())
    energies, forces, virials = [], [], []
    for atoms in frames:
        unknown = set(atoms.get_chemical_symbols()) - set(type_map)
        if unknown:
            raise PotentialError(f"{model}: elements {sorted(unknown)} not in type_map {type_map}")
        types = np.array([type_map.index(s) for s in atoms.get_chemical_symbols()])
        e, f, v = dp.eval(
            atoms.get_positions()[None], np.asarray(atoms.cell[:]).reshape(1, 9), types
        )
        energies.append(float(np.ravel(e)[0]))
        forces.append(np.asarray(f).reshape(-1, 3))
        virials.append(np.asarray(v).reshape(3, 3))
    return Predictions(np.array(energies), np.concatenate(forces), np.array(virials))


def _subset(pred: Predictions, n_atoms_all: np.ndarray, rows: np.ndarray) -> Predictions:
    """Frames ``rows`` (positions in the predicted list) of a prediction."""
    per_frame = _split_atoms(pred.forces_eV_A, n_atoms_all)
    return Predictions(
        pred.energy_eV[rows], np.concatenate([per_frame[r] for r in rows]), pred.virial_eV[rows]
    )


def rmse(pred: Predictions, ref: Predictions, n_atoms: np.ndarray) -> dict[str, float]:
    """``dp test``'s error measures: energy meV/atom, force-component meV/Å, virial meV/atom."""
    e = (pred.energy_eV - ref.energy_eV) / n_atoms
    f = pred.forces_eV_A - ref.forces_eV_A
    v = (pred.virial_eV - ref.virial_eV) / n_atoms[:, None, None]
    has_v = np.isfinite(v).all(axis=(1, 2))
    return {
        "energy_meV_atom": 1e3 * float(np.sqrt(np.mean(e**2))),
        "force_meV_A": 1e3 * float(np.sqrt(np.mean(f**2))),
        "virial_meV_atom": 1e3 * float(np.sqrt(np.mean(v[has_v] ** 2))) if has_v.any() else np.nan,
    }


@dataclass
class EnsembleTest:
    """Test results of the whole ensemble on one set of frames."""

    frame_index: np.ndarray
    frame_id: list[str]
    config_type: list[str]
    n_atoms: np.ndarray
    reference: Predictions
    members: list[Predictions]
    rmse: list[dict[str, float]]
    rmse_ensemble_mean: dict[str, float]
    max_force_deviation_eV_A: np.ndarray
    min_force_deviation_eV_A: np.ndarray
    avg_force_deviation_eV_A: np.ndarray
    energy_deviation_eV_atom: np.ndarray
    max_virial_deviation_eV_atom: np.ndarray
    rmse_by_config_type: dict[str, list[float]] = field(default_factory=dict)


def _split_atoms(forces: np.ndarray, n_atoms: np.ndarray) -> list[np.ndarray]:
    return np.split(forces, np.cumsum(n_atoms)[:-1])


def evaluate_ensemble(
    models: Sequence[str | Path], frames: Sequence[Atoms], index_sets: Mapping[str, Sequence[int]]
) -> dict[str, EnsembleTest]:
    """Evaluate every model on each set of frames (e.g. ``{"validation": [...], "train":
    [...]}``): errors and the ensemble's deviation. Each model is loaded once."""
    os.environ.setdefault("DP_INFER_BATCH_SIZE", "1024")  # see predict()
    from deepmd.infer import DeepPot

    union = sorted({int(i) for idx in index_sets.values() for i in idx})
    where = {i: k for k, i in enumerate(union)}
    sub = [frames[i] for i in union]
    n_all = np.array([len(a) for a in sub])
    predictions = [predict(DeepPot(str(m)), sub) for m in models]
    out = {}
    for name, idx in index_sets.items():
        rows = np.array([where[int(i)] for i in idx], int)
        members = [_subset(p, n_all, rows) for p in predictions]
        out[name] = _ensemble_test([frames[int(i)] for i in idx], idx, members)
    return out


def _ensemble_test(
    sub: Sequence[Atoms], indices: Sequence[int], members: list[Predictions]
) -> EnsembleTest:
    from deepmd.infer.model_devi import calc_model_devi_f, calc_model_devi_v

    n_atoms = np.array([len(a) for a in sub])
    ref = reference_labels(sub)
    mean = Predictions(
        np.mean([m.energy_eV for m in members], axis=0),
        np.mean([m.forces_eV_A for m in members], axis=0),
        np.mean([m.virial_eV for m in members], axis=0),
    )
    per_frame = [_split_atoms(m.forces_eV_A, n_atoms) for m in members]
    fmax, fmin, favg = [], [], []
    for k in range(len(sub)):
        fs = np.stack([pf[k] for pf in per_frame])[:, None]  # (n_models, 1, n_atoms, 3)
        a, b, c = calc_model_devi_f(fs)
        fmax.append(a[0])
        fmin.append(b[0])
        favg.append(c[0])
    es = np.array([m.energy_eV / n_atoms for m in members])
    vs = np.array([m.virial_eV.reshape(-1, 9) / n_atoms[:, None] for m in members])
    vmax = calc_model_devi_v(vs)[0]
    types = [str(a.info["config_type"]) for a in sub]
    by_type = {}
    for t in sorted(set(types)):
        mask = np.array([x == t for x in types])
        atom_mask = np.repeat(mask, n_atoms)
        by_type[t] = [
            1e3
            * float(np.sqrt(np.mean((m.forces_eV_A[atom_mask] - ref.forces_eV_A[atom_mask]) ** 2)))
            for m in members
        ]
    return EnsembleTest(
        frame_index=np.asarray(indices, int),
        frame_id=[str(a.info["frame_id"]) for a in sub],
        config_type=types,
        n_atoms=n_atoms,
        reference=ref,
        members=members,
        rmse=[rmse(m, ref, n_atoms) for m in members],
        rmse_ensemble_mean=rmse(mean, ref, n_atoms),
        max_force_deviation_eV_A=np.asarray(fmax),
        min_force_deviation_eV_A=np.asarray(fmin),
        avg_force_deviation_eV_A=np.asarray(favg),
        energy_deviation_eV_atom=np.std(es, axis=0),
        max_virial_deviation_eV_atom=np.asarray(vmax),
        rmse_by_config_type=by_type,
    )


def compression_error(
    plain: Sequence[str | Path], compressed: Sequence[str | Path], frames: Sequence[Atoms]
) -> dict[str, np.ndarray]:
    """Largest |ΔF| (eV/Å) and |ΔE|/N (eV/atom) between plain and compressed members."""
    df, de = [], []
    n_atoms = np.array([len(a) for a in frames])
    for p, c in zip(plain, compressed, strict=True):
        a, b = predict(p, frames), predict(c, frames)  # each model loaded once
        df.append(float(np.abs(a.forces_eV_A - b.forces_eV_A).max()))
        de.append(float(np.abs((a.energy_eV - b.energy_eV) / n_atoms).max()))
    return {
        "max_force_difference_eV_A": np.array(df),
        "max_energy_difference_eV_atom": np.array(de),
    }


_GATE_NAMES = {
    "energy_rmse_meV_atom": ("energy_meV_atom", "meV/atom", "energy RMSE"),
    "force_rmse_meV_A": ("force_meV_A", "meV/Å", "force RMSE"),
    "virial_rmse_meV_atom": ("virial_meV_atom", "meV/atom", "virial RMSE"),
}


def apply_gates(validation_rmse: Sequence[dict[str, float]], gates: Gates) -> list[str]:
    """Compare every member's validation RMSE with the limits.

    Returns the violations (logged as warnings when ``gates.action == "warn"``).

    Raises
    ------
    GateError
        ``gates.action == "error"`` and any RMSE is above its limit; the message names the
        member, the quantity, the value and the limit.
    """
    violations = []
    for key, (metric, unit, what) in _GATE_NAMES.items():
        limit = getattr(gates, key)
        if limit is None:
            continue
        for member, values in enumerate(validation_rmse):
            value = values[metric]
            if np.isfinite(value) and value > limit:
                violations.append(
                    f"member {member}: validation {what} {value:.1f} {unit} is above the limit "
                    f"potential.gates.{key} = {limit} {unit}"
                )
    if violations and gates.action == "error":
        raise GateError("; ".join(violations))
    for v in violations:
        log.warning(v)
    return violations


def write_test_h5(
    path: str | Path,
    validation: EnsembleTest,
    train: EnsembleTest,
    compression: dict[str, np.ndarray],
    lcurves: Sequence[dict[str, np.ndarray]],
    summaries: Sequence[dict[str, Any]],
    gate_violations: Sequence[str],
    provenance: Any,
) -> None:
    """potential/test.h5: per-frame predictions vs DFT, RMSEs, model deviation, lcurves."""
    from ionscale.io import add_dataset, add_strings, open_result_h5

    with open_result_h5(path, provenance) as h5:
        h5.attrs["n_models"] = len(validation.members)
        h5.attrs["gate_violations"] = list(gate_violations) or ["none"]
        for name, t in (("validation", validation), ("train", train)):
            g = h5.create_group(name)
            add_dataset(g, "frame_index", t.frame_index, "1", "index in reference/labelled.extxyz")
            add_strings(g, "frame_id", t.frame_id)
            add_strings(g, "config_type", t.config_type)
            add_dataset(g, "n_atoms", t.n_atoms, "1")
            add_dataset(
                g,
                "atom_offset",
                np.concatenate([[0], np.cumsum(t.n_atoms)]),
                "1",
                "forces of frame k are rows atom_offset[k]:atom_offset[k+1]",
            )
            ref = g.create_group("reference")
            add_dataset(ref, "energy_eV", t.reference.energy_eV, "eV", "DFT energy")
            add_dataset(ref, "forces_eV_A", t.reference.forces_eV_A, "eV/Å", "DFT forces")
            add_dataset(ref, "virial_eV", t.reference.virial_eV, "eV", "DFT virial −V·σ")
            pred = g.create_group("predicted")
            add_dataset(
                pred,
                "energy_eV",
                np.array([m.energy_eV for m in t.members]),
                "eV",
                "(member, frame)",
            )
            add_dataset(
                pred,
                "forces_eV_A",
                np.array([m.forces_eV_A for m in t.members]),
                "eV/Å",
                "(member, atom, 3)",
            )
            add_dataset(
                pred,
                "virial_eV",
                np.array([m.virial_eV for m in t.members]),
                "eV",
                "(member, frame, 3, 3)",
            )
            r = g.create_group("rmse")
            for metric, unit in (
                ("energy_meV_atom", "meV/atom"),
                ("force_meV_A", "meV/Å"),
                ("virial_meV_atom", "meV/atom"),
            ):
                add_dataset(r, metric, np.array([x[metric] for x in t.rmse]), unit, "per member")
                add_dataset(
                    r,
                    f"ensemble_mean_{metric}",
                    t.rmse_ensemble_mean[metric],
                    unit,
                    "of the members' mean prediction",
                )
            bt = r.create_group("force_meV_A_by_config_type")
            for ctype, values in t.rmse_by_config_type.items():
                add_dataset(bt, ctype, np.asarray(values), "meV/Å", "per member")
            md = g.create_group("model_deviation")
            add_dataset(
                md,
                "max_force_deviation_eV_A",
                t.max_force_deviation_eV_A,
                "eV/Å",
                "DP-GEN max_devi_f: max over atoms of the members' force std",
            )
            add_dataset(md, "min_force_deviation_eV_A", t.min_force_deviation_eV_A, "eV/Å")
            add_dataset(md, "avg_force_deviation_eV_A", t.avg_force_deviation_eV_A, "eV/Å")
            add_dataset(
                md,
                "energy_deviation_eV_atom",
                t.energy_deviation_eV_atom,
                "eV/atom",
                "std over members of E/N",
            )
            add_dataset(
                md,
                "max_virial_deviation_eV_atom",
                t.max_virial_deviation_eV_atom,
                "eV/atom",
                "DP-GEN max_devi_v of V/N",
            )
        c = h5.create_group("compression")
        add_dataset(
            c,
            "max_force_difference_eV_A",
            compression["max_force_difference_eV_A"],
            "eV/Å",
            "compressed vs plain member on the validation frames",
        )
        add_dataset(
            c,
            "max_energy_difference_eV_atom",
            compression["max_energy_difference_eV_atom"],
            "eV/atom",
        )
        tr = h5.create_group("training")
        add_dataset(
            tr,
            "seconds_per_step",
            np.array([s["seconds_per_step"] for s in summaries]),
            "s",
            "DeePMD-kit's average time per training step",
        )
        add_dataset(tr, "seed", np.array([s["seed"] for s in summaries]), "1")
        add_dataset(tr, "numb_steps", np.array([s["numb_steps"] for s in summaries]), "1")
        lc = h5.create_group("lcurve")
        for i, curve in enumerate(lcurves):
            gi = lc.create_group(f"member_{i}")
            for name, values in curve.items():
                unit = "eV/Å" if "_f_" in name else "eV/atom" if "_e_" in name else "1"
                add_dataset(gi, name, values, unit)


def plot_parity(path: str | Path, validation: EnsembleTest) -> None:
    """Parity of energy per atom and force components, every member, validation frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ionscale.io import atomic_path

    ref = validation.reference
    n = validation.n_atoms
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for i, m in enumerate(validation.members):
        r = validation.rmse[i]
        axes[0].scatter(
            ref.energy_eV / n,
            m.energy_eV / n,
            s=12,
            alpha=0.7,
            label=f"member {i}: {r['energy_meV_atom']:.1f} meV/atom",
        )
        axes[1].scatter(
            ref.forces_eV_A.ravel(),
            m.forces_eV_A.ravel(),
            s=4,
            alpha=0.4,
            label=f"member {i}: {r['force_meV_A']:.0f} meV/Å",
        )
    for ax, what, unit in ((axes[0], "energy", "eV/atom"), (axes[1], "force component", "eV/Å")):
        lo, hi = ax.get_xlim()
        lo, hi = min(lo, ax.get_ylim()[0]), max(hi, ax.get_ylim()[1])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"DFT {what} ({unit})")
        ax.set_ylabel(f"DeePMD {what} ({unit})")
        ax.legend(fontsize=7)
    fig.suptitle(f"Validation set: {len(n)} frames (RMSE per member)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def plot_lcurves(path: str | Path, lcurves: Sequence[dict[str, np.ndarray]]) -> None:
    """Force and energy RMSE (training and validation batches) against the training step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ionscale.io import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for i, c in enumerate(lcurves):
        for ax, key, unit in ((axes[0], "f", "eV/Å"), (axes[1], "e", "eV/atom")):
            for split, style in (("trn", "-"), ("val", "--")):
                name = f"rmse_{key}_{split}"
                if name in c and np.isfinite(c[name]).any():
                    ax.semilogy(
                        c["step"], c[name], style, color=f"C{i}", lw=1, label=f"member {i} {split}"
                    )
            ax.set_xlabel("training step")
            ax.set_ylabel(f"RMSE {'force' if key == 'f' else 'energy'} ({unit})")
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle("DeePMD-kit learning curves (lcurve.out)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
