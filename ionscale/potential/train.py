"""Training one ensemble member with DeePMD-kit (PyTorch backend): input, train, freeze, compress.

Members of the ensemble differ only in their seed (network initialisation and batch order), so
the spread of their predictions estimates the model error where no DFT label exists: the
query-by-committee idea behind DP-GEN's model deviation [1]_. The DeePMD-kit input is generated
from the settings and the neighbour statistics; ``dp --pt train`` runs in a scratch directory,
``dp --pt freeze`` writes the .pth model and ``dp --pt compress`` tabulates the embedding net
for fast MD [2]_ when the descriptor supports it.

References
----------
.. [1] Y. Zhang et al., Comput. Phys. Commun. 253, 107206 (2020) (DP-GEN).
.. [2] D. Lu et al., J. Chem. Theory Comput. 18, 5555 (2022) (DP compression).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.config import derive_seed
from ionscale.potential.data import NeighborStat, run_dp, systems_under
from ionscale.potential.settings import PotentialSettings, descriptor_spec

log = logging.getLogger(__name__)

#: Checkpoint prefix and learning-curve file that ``dp train`` writes in its directory.
CKPT = "model.ckpt"
LCURVE = "lcurve.out"


def member_seed(master_seed: int, member: int) -> int:
    """Seed of ensemble member ``member`` (DeePMD-kit wants it below 2**31)."""
    return derive_seed(master_seed, "potential", "member", member) % (2**31 - 1)


def deepmd_input(
    settings: PotentialSettings,
    stat: NeighborStat,
    seed: int,
    train_systems: list[str],
    validation_systems: list[str],
) -> dict[str, Any]:
    """The ``dp train`` input for one member (DeePMD-kit v3 keys)."""
    spec = descriptor_spec(settings.descriptor)
    if spec.name != stat.descriptor:
        raise ValueError(
            f"neighbour statistics were computed for descriptor {stat.descriptor!r}, "
            f"not {spec.name!r}: rerun the data preparation"
        )
    lr, loss = settings.learning_rate, settings.loss
    return {
        "model": {
            "type_map": list(stat.type_map),
            "descriptor": spec.build(settings, stat.sel, seed),
            "fitting_net": {
                "neuron": list(settings.fitting_neuron),
                "resnet_dt": True,
                "seed": seed,
            },
        },
        "learning_rate": {
            "type": "exp",
            "start_lr": lr.start_lr,
            "stop_lr": lr.stop_lr,
            "decay_steps": lr.decay_steps,
        },
        "loss": {"type": "ener", **asdict(loss)},
        "training": {
            "training_data": {"systems": train_systems, "batch_size": settings.batch_size},
            "validation_data": {
                "systems": validation_systems,
                "batch_size": 1,
                "numb_btch": max(1, min(len(validation_systems), 8)),
            },
            "numb_steps": settings.numb_steps,
            "seed": seed,
            "disp_file": LCURVE,
            "disp_freq": min(settings.disp_freq, settings.numb_steps),
            "save_freq": settings.numb_steps,
            "save_ckpt": CKPT,
        },
    }


@dataclass
class TrainSummary:
    """What one member's training did (written beside the model)."""

    member: int
    seed: int
    descriptor: str
    numb_steps: int
    wall_time_s: float
    seconds_per_step: float
    compressed: bool
    final_lcurve: dict[str, float]
    input: dict[str, Any]
    init_model: str | None = None


_AVG_TIME = re.compile(r"average training time:\s*([-+\d.eE]+)\s*s/batch")


def read_lcurve(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a DeePMD-kit ``lcurve.out`` by header name (``step``, ``rmse_f_trn`` …)."""
    lines = Path(path).read_text().splitlines()
    header = next((ln for ln in lines if ln.startswith("#") and "step" in ln), None)
    if header is None:
        raise ValueError(f"{path}: no lcurve header line")
    names = header.lstrip("#").split()
    rows = [ln.split() for ln in lines if ln.strip() and not ln.startswith("#")]
    data = np.array(rows, dtype=float).reshape(-1, len(names))
    return {name: data[:, j] for j, name in enumerate(names)}


def train_member(
    member: int,
    data_dir: str | Path,
    stat: NeighborStat,
    settings: PotentialSettings,
    master_seed: int,
    workdir: str | Path,
    init_model: str | Path | None = None,
) -> tuple[Path, Path, Path, TrainSummary]:
    """Train, freeze and (if supported) compress member ``member`` in ``workdir``.

    ``init_model``: a frozen model (.pth) of the same architecture whose weights start the
    training (``dp train --init-frz-model``; an active-learning round starts from the last).

    ``workdir`` is emptied first. Returns the frozen model, the compressed model (the frozen one
    again when the descriptor or the settings do not compress), the lcurve file and a summary.
    """
    workdir = Path(workdir).resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    data_dir = Path(data_dir).resolve()
    # relative system paths keep input.json portable
    train_sys = [os.path.relpath(p, workdir) for p in systems_under(data_dir / "train")]
    val_sys = [os.path.relpath(p, workdir) for p in systems_under(data_dir / "validation")]
    seed = member_seed(master_seed, member)
    inp = deepmd_input(settings, stat, seed, train_sys, val_sys)
    (workdir / "input.json").write_text(json.dumps(inp, indent=2))
    dp_log = workdir / "dp.log"

    start = time.perf_counter()
    init = ["--init-frz-model", str(Path(init_model).resolve())] if init_model else []
    out = run_dp(["train", "input.json", *init], cwd=workdir, log_path=dp_log)
    wall = time.perf_counter() - start
    match = _AVG_TIME.findall(out)
    # DeePMD-kit's own average excludes start-up batches; without it, wall time per step
    sec_per_step = float(match[-1]) if match else wall / settings.numb_steps

    run_dp(["freeze", "-o", "model.pth"], cwd=workdir, log_path=dp_log)
    frozen = workdir / "model.pth"
    compressed = workdir / "model_compressed.pth"
    do_compress = settings.compress and descriptor_spec(settings.descriptor).compressible
    if do_compress:
        run_dp(
            [
                "compress",
                "-i",
                "model.pth",
                "-o",
                compressed.name,
                "-s",
                f"{settings.compress_table_step}",
            ],
            cwd=workdir,
            log_path=dp_log,
        )
    else:
        shutil.copyfile(frozen, compressed)
    lcurve = read_lcurve(workdir / LCURVE)
    final = {k: float(v[-1]) for k, v in lcurve.items()}
    summary = TrainSummary(
        member=member,
        seed=seed,
        descriptor=settings.descriptor,
        numb_steps=settings.numb_steps,
        wall_time_s=wall,
        seconds_per_step=sec_per_step,
        compressed=do_compress,
        final_lcurve=final,
        init_model=str(init_model) if init_model else None,
        input=inp,
    )
    log.info(
        "member %d (seed %d): %d steps in %.1f s (%.4f s/step); final lcurve %s",
        member,
        seed,
        settings.numb_steps,
        wall,
        sec_per_step,
        final,
    )
    return frozen, compressed, workdir / LCURVE, summary


def sel_fits(new_sel: dict[str, Any], old_sel: dict[str, Any]) -> bool:
    """True when every neighbour count of ``new_sel`` fits in ``old_sel`` (same shapes).

    A round can start from the last round's weights only with the same ``sel`` (the descriptor's
    tensor shapes); it keeps the old ``sel`` when the new data need no more neighbours.
    """
    if set(new_sel) != set(old_sel):
        return False
    for key, new in new_sel.items():
        old = old_sel[key]
        a, b = np.atleast_1d(new), np.atleast_1d(old)
        if a.shape != b.shape or np.any(a > b):
            return False
    return True
