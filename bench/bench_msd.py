"""Benchmark of the MSD: FFT (nMOLDYN algorithm, O(N log N)) vs the direct windowed average (O(N²)).

    .venv/bin/python bench/bench_msd.py [--frames 1000 3000 10000] [--atoms 20]

Seeded 3D random walks; both methods return the MSD of every lag per Cartesian component, and
the table shows their wall times, the speed-up (direct / FFT) and the largest difference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ionscale.diffusion import msd_direct, msd_fft


def best_of(func, *args, repeat: int = 3) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func(*args)
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--atoms", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'frames':>7s} {'atoms':>6s} {'FFT (s)':>9s} {'direct (s)':>11s} {'ratio':>7s} "
          f"{'max |diff| (Å²)':>16s}")  # fmt: skip
    for n in args.frames:
        pos = rng.normal(scale=0.1, size=(n, args.atoms, 3)).cumsum(axis=0)
        t_fft, fft = best_of(msd_fft, pos)
        t_dir, direct = best_of(msd_direct, pos, repeat=1 if n > 3000 else 3)
        diff = np.abs(fft - direct).max()
        print(
            f"{n:7d} {args.atoms:6d} {t_fft:9.4f} {t_dir:11.3f} {t_dir / t_fft:7.0f} {diff:16.1e}"
        )


if __name__ == "__main__":
    main()
