"""Benchmark of the reference stage: DFT-labelled frames per hour on this machine.

For each config (default: config/test.yaml and config/config.yaml) the frames are sampled
exactly as the workflow samples them, a spread of them (all, or ``--max-frames`` evenly spaced
through the sampled list, so every cell size is represented) is labelled serially with the
configured calculator in this process, and wall and CPU time per frame are measured. From the
CPU time per frame of each cell size the script projects the CPU time of labelling every
sampled frame and the wall time of the stage with ``--workers`` single-core jobs in parallel
(an ideal split; other load on the machine stretches wall time by the printed wall/CPU ratio).

Prints numbers only; nothing is asserted (timings depend on the machine and its load).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_reference.py [--max-frames 8] [configs ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ionscale.config import load_config  # noqa: E402
from ionscale.reference.calculators import CalculatorSettings  # noqa: E402
from ionscale.reference.labelling import label_frames  # noqa: E402
from ionscale.reference.sampling import SamplingSettings, sample_frames  # noqa: E402
from ionscale.reference.structures import load_structure  # noqa: E402


def _structure(section: dict) -> object | None:
    file = section.get("file") or None
    if file and not Path(file).is_absolute():
        file = ROOT / file
    return load_structure(file=file, prototype=section.get("prototype") or None)


def bench(config_path: Path, max_frames: int, workers: int) -> dict:
    cfg = load_config(config_path)
    ref = cfg["reference"]
    settings = SamplingSettings.from_config(ref)
    li_metal = _structure(ref["li_metal"]) if ref["li_metal"]["enabled"] else None
    host = _structure(ref["host"]) if ref["host"]["enabled"] else None
    sampled = sample_frames(_structure(ref["structure"]), settings, cfg["seed"], li_metal, host)
    frames = sampled.frames
    n = len(frames)
    pick = np.unique(np.linspace(0, n - 1, min(max_frames, n)).round().astype(int))
    calc = CalculatorSettings.from_config(ref["calculator"])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = label_frames([frames[i] for i in pick], calc, tmp, txt=None)
        wall = time.perf_counter() - start
    ids = [str(frames[i].info["frame_id"]) for i in pick]
    sizes = np.array([len(frames[i]) for i in pick])
    cpu = np.array([result.cpu_seconds[f] for f in ids])
    walls = np.array([result.seconds[f] for f in ids])
    # CPU cost of every sampled frame from the measured frames of the nearest size
    all_sizes = np.array([len(a) for a in frames])
    cost = {s: cpu[sizes == s].mean() for s in np.unique(sizes)}
    measured = np.array(sorted(cost))
    projected_cpu = sum(cost[measured[np.argmin(np.abs(measured - s))]] for s in all_sizes)
    name = config_path.relative_to(ROOT) if config_path.is_relative_to(ROOT) else config_path
    return {
        "config": str(name),
        "calculator": f"{calc.name} {calc.cutoff_eV:g} eV, k {calc.kpoint_density_per_A:g}/Å⁻¹, "
        f"{calc.dispersion}",
        "sampled": n,
        "benchmarked": len(pick),
        "failed": len(result.failures),
        "atoms_mean": float(sizes.mean()),
        "wall_s_per_frame": float(walls.mean()),
        "cpu_s_per_frame": float(cpu.mean()),
        "frames_per_cpu_hour": 3600.0 / float(cpu.mean()),
        "frames_per_hour_2_cores": workers * 3600.0 / float(cpu.mean()),
        "wall_over_cpu": float(walls.sum() / cpu.sum()),
        "projected_stage_cpu_min": projected_cpu / 60.0,
        "projected_stage_wall_min": projected_cpu / workers / 60.0,
        "bench_wall_s": wall,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "configs",
        nargs="*",
        type=Path,
        default=[ROOT / "config/test.yaml", ROOT / "config/config.yaml"],
    )
    parser.add_argument("--max-frames", type=int, default=8, help="frames labelled per config")
    parser.add_argument("--workers", type=int, default=2, help="parallel one-core jobs assumed")
    args = parser.parse_args()  # fmt: skip
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    rows = [bench(p.resolve(), args.max_frames, args.workers) for p in args.configs]
    for r in rows:
        print(f"\n{r['config']}: {r['calculator']}")
        print(
            f"  sampled frames {r['sampled']}, benchmarked {r['benchmarked']} "
            f"(mean {r['atoms_mean']:.1f} atoms), failed {r['failed']}"
        )
        print(
            f"  per frame: {r['cpu_s_per_frame']:.1f} s CPU, {r['wall_s_per_frame']:.1f} s wall "
            f"(wall/CPU {r['wall_over_cpu']:.2f}: other load)"
        )
        print(
            f"  labelled frames per hour: {r['frames_per_cpu_hour']:.0f} per core, "
            f"{r['frames_per_hour_2_cores']:.0f} with {args.workers} one-core jobs"
        )
        print(
            f"  whole stage (all {r['sampled']} frames): {r['projected_stage_cpu_min']:.1f} "
            f"CPU-min, {r['projected_stage_wall_min']:.1f} min on {args.workers} idle cores"
        )
    if len(rows) == 2:
        print(f"\ncost per frame, {rows[1]['config']} / {rows[0]['config']}: "
              f"{rows[1]['cpu_s_per_frame'] / rows[0]['cpu_s_per_frame']:.1f}x")  # fmt: skip
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
