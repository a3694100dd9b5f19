"""A tiny DeePMD ensemble (2 members) trained on GPAW-labelled Li–C frames, for thermo/handoff.

The frames come from tests/_lixc6.py (real GPAW, low settings; shared with the potential
tests). The models are far from converged: they exercise the machinery with a real DeePMD-kit
potential; tests that use them assert identities that hold for any smooth potential, never the
models' numbers. Cached under pytest's cache directory, keyed by this file, the data and the
DeePMD-kit version, so both test modules train them once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

TYPE_MAP = ["C", "Li"]
STEPS = 300

#: Runs in one subprocess (one torch/DeePMD import for all members): train + freeze each member.
_TRAIN_SCRIPT = """
import os, sys
from deepmd.main import main
for member in sys.argv[1:]:
    os.chdir(member)
    main(["--pt", "train", "input.json"])
    main(["--pt", "freeze", "-o", "model.pth"])
"""


def _dp_input(systems: list[str], seed: int) -> dict:
    return {
        "model": {
            "type_map": TYPE_MAP,
            "descriptor": {
                "type": "se_e2_a",
                "sel": [36, 12],
                "rcut_smth": 1.0,
                "rcut": 5.0,
                "neuron": [8, 16],
                "axis_neuron": 4,
                "seed": seed,
            },
            "fitting_net": {"neuron": [16, 16], "seed": seed},
        },
        "learning_rate": {"type": "exp", "start_lr": 2e-3, "stop_lr": 1e-4, "decay_steps": 50},
        "loss": {
            "type": "ener",
            "start_pref_e": 0.2,
            "limit_pref_e": 1,
            "start_pref_f": 100,
            "limit_pref_f": 1,
            "start_pref_v": 0.02,
            "limit_pref_v": 0.2,
        },
        "training": {
            "training_data": {"systems": systems, "batch_size": 1},
            "numb_steps": STEPS,
            "seed": seed,
            "disp_freq": 100,
            "save_freq": STEPS,
        },
    }


def tiny_models(directory: Path, labelled: Path, n_models: int = 2) -> list[Path]:
    """Frozen models ``model_{i}.pth`` (i < n_models) under ``directory``, trained once."""
    import ase.io
    import dpdata

    key = hashlib.sha256(
        Path(__file__).read_bytes() + labelled.read_bytes() + version("deepmd-kit").encode()
    ).hexdigest()[:12]
    out = Path(directory) / f"dp-{key}"
    models = [out / f"model_{i}.pth" for i in range(n_models)]
    if all(m.is_file() for m in models):
        return models
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    systems = dpdata.MultiSystems(type_map=TYPE_MAP)
    for atoms in ase.io.read(labelled, index=":"):
        systems.append(dpdata.LabeledSystem(atoms, fmt="ase/structure", type_map=TYPE_MAP))
    systems.to_deepmd_npy(str(work / "data"))
    dirs = sorted(str(p.parent) for p in (work / "data").rglob("type.raw"))
    members = []
    for i in range(n_models):
        member = work / f"m{i}"
        member.mkdir()
        (member / "input.json").write_text(json.dumps(_dp_input(dirs, seed=11 + i)))
        members.append(str(member))
    proc = subprocess.run(
        [sys.executable, "-c", _TRAIN_SCRIPT, *members],
        cwd=work,
        capture_output=True,
        text=True,
        env=os.environ,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"DeePMD training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    for member, model in zip(members, models, strict=True):
        shutil.copy(Path(member) / "model.pth", model)
    return models
