"""A tiny DeePMD ensemble (2 members) for the md tests and bench: bcc Li labelled by real GPAW.

Why bcc Li rather than Li–C: measured on this machine, models trained for a few hundred steps on
a handful of GPAW-labelled LiC6 frames (rattled, strained, with vacancies; also the shared
tests/_thermo_dp.py models) drive the 3×3×2 LiC6 supercell into a temperature runaway
(300 K → 3000–5000 K within 100 fs) or let two atoms collapse within a few hundred steps: a few
hundred training steps cannot learn the stiff covalent carbon network. Soft Li metal is learned
well enough in 300 steps to run stable NVT/NPT MD at 300–600 K for over 1000 steps, and it
still blows up at an absurd time step, which is what the md tests need. The models are real
DeePMD-kit (PyTorch) models driving real LAMMPS; their numbers are never asserted.

Frames: rattled (0.05–0.25 Å) and strained (±4 %) 2- and 4-atom bcc Li cells, GPAW PW 250 eV,
PBE, Fermi–Dirac 0.1 eV, about 8 k-points × Å (~25 s). Training: se_e2_a, 300 steps per member,
both members, their freeze (and optional compression) in one subprocess (~45 s). Cached under
the given directory, keyed by this file and the GPAW and DeePMD-kit versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np

TYPE_MAP = ["Li"]
STEPS = 300
LI_BCC_A = 3.44


def _frames(seed: int = 3):
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    out = []
    for i in range(12):
        atoms = bulk("Li", "bcc", a=LI_BCC_A, cubic=True)
        if i >= 6:
            atoms = atoms.repeat((2, 1, 1))
        atoms.set_cell(atoms.cell[:] * (1 + rng.uniform(-0.04, 0.04)), scale_atoms=True)
        atoms.positions += rng.normal(size=atoms.positions.shape) * (0.05 + 0.2 * rng.random())
        out.append(atoms)
    return out


def _label(frames, directory: Path) -> None:
    import dpdata
    from ase.calculators.singlepoint import SinglePointCalculator
    from gpaw import GPAW, PW

    systems = dpdata.MultiSystems(type_map=TYPE_MAP)
    for atoms in frames:
        kpts = tuple(max(1, int(np.ceil(8.0 / n))) for n in atoms.cell.lengths())
        atoms.calc = GPAW(
            mode=PW(250), xc="PBE", kpts=kpts,
            occupations={"name": "fermi-dirac", "width": 0.1}, txt=None,
        )  # fmt: skip
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        systems.append(dpdata.LabeledSystem(atoms, fmt="ase/structure", type_map=TYPE_MAP))
    systems.to_deepmd_npy(str(directory))


def _dp_input(systems: list[str], seed: int) -> dict:
    return {
        "model": {
            "type_map": TYPE_MAP,
            "descriptor": {
                "type": "se_e2_a", "sel": [40], "rcut_smth": 2.0, "rcut": 5.0,
                "neuron": [8, 16], "axis_neuron": 4, "seed": seed,
            },
            "fitting_net": {"neuron": [16, 16], "seed": seed},
        },
        "learning_rate": {"type": "exp", "start_lr": 3e-3, "stop_lr": 1e-4, "decay_steps": 40},
        "loss": {
            "type": "ener", "start_pref_e": 0.2, "limit_pref_e": 1,
            "start_pref_f": 100, "limit_pref_f": 1, "start_pref_v": 0, "limit_pref_v": 0,
        },
        "training": {
            "training_data": {"systems": systems, "batch_size": 1},
            "numb_steps": STEPS, "seed": seed, "disp_freq": 100, "save_freq": STEPS,
        },
    }  # fmt: skip


# Runs in a fresh Python: train, freeze (and compress) every member in one process, so torch
# and DeePMD-kit are imported once.
_TRAIN_SCRIPT = """
import json, os, sys
from deepmd.main import main
for member in sys.argv[1:]:
    os.chdir(member)
    main(["--pt", "train", "input.json"])
    main(["--pt", "freeze", "-o", "model.pth"])
    main(["--pt", "compress", "-i", "model.pth", "-o", "model_compressed.pth", "-t", "input.json"])
"""


def tiny_li_models(directory: str | Path, n_models: int = 2, compressed: bool = True) -> list[Path]:
    """Frozen ``model_{i}.pth`` and ``model_{i}_compressed.pth`` under ``directory``.

    Returns the compressed ones (what the md stage runs) or, with ``compressed=False``, the
    plain ones.
    """
    directory = Path(directory).resolve()
    key = hashlib.sha256(
        Path(__file__).read_bytes() + f"{version('gpaw')}{version('deepmd-kit')}{n_models}".encode()
    ).hexdigest()[:12]
    out = directory / f"md-li-{key}"
    plain = [out / f"model_{i}.pth" for i in range(n_models)]
    packed = [out / f"model_{i}_compressed.pth" for i in range(n_models)]
    models = packed if compressed else plain
    if all(m.is_file() for m in plain + packed):
        return models
    data = out / "data"
    if not any(data.rglob("type.raw")):
        _label(_frames(), data)
    systems = sorted(str(p.parent) for p in data.rglob("type.raw"))
    members = []
    for i in range(n_models):
        member = out / f"member_{i}"
        member.mkdir(parents=True, exist_ok=True)
        (member / "input.json").write_text(json.dumps(_dp_input(systems, seed=21 + i)))
        members.append(str(member))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DP_INTRA_OP_PARALLELISM_THREADS": "1",
           "DP_INTER_OP_PARALLELISM_THREADS": "1"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", _TRAIN_SCRIPT, *members],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(
            f"DeePMD-kit training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    for i, member in enumerate(members):
        (Path(member) / "model.pth").replace(plain[i])
        (Path(member) / "model_compressed.pth").replace(packed[i])
    return models


def bcc_li():
    """The conventional bcc Li cell the models were trained around (a = 3.44 Å)."""
    from ase.build import bulk

    return bulk("Li", "bcc", a=LI_BCC_A, cubic=True)
