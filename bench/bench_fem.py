"""Benchmark of the fem stage: degrees of freedom solved per second, 1 vs 2 MPI ranks.

    .venv/bin/python bench/bench_fem.py [--cells 200 2000] [--mpi-cells 4000]

One case (regular-solution handoff from ionscale.fem.analytic, 1 C lithiation of a 5 µm
particle to 0.05 V) is solved at two mesh sizes in this process (after a warm-up run, so the
FFCx compilation is not timed), then as a subprocess on 1 and on 2 MPI ranks. Throughput is
concentration dofs × backward-Euler solves / wall time of the time loop (the displacement
solve and the stress evaluation of each step are included in that time). Ratios are against
the first row of each table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mpi4py.MPI  # noqa: F401  (before DOLFINx)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ionscale.fem import ParticleCase, SolverSettings  # noqa: E402
from ionscale.fem.analytic import regular_solution_parameters  # noqa: E402
from ionscale.provenance import Provenance  # noqa: E402

CASE = {"name": "bench", "c_rate": 1.0, "radius_um": 5.0, "cutoff_voltage_V": 0.05}


def in_process(cells: int) -> dict[str, float]:
    from ionscale.fem.run import check_inputs
    from ionscale.fem.solver import simulate

    case = ParticleCase(**CASE)
    settings = SolverSettings(mesh_cells=cells, output_frames=1)
    material = check_inputs(case, settings, regular_solution_parameters())
    res = simulate(material, case, settings)
    solves = res.n_solves
    return {
        "cells": cells,
        "dofs": res.n_dofs,
        "steps": res.n_steps,
        "solves": solves,
        "newton": res.n_newton,
        "wall_s": res.wall_time_s,
        "dof_solves_per_s": res.n_dofs * solves / res.wall_time_s,
    }


def with_ranks(ranks: int, cells: int, handoff: Path, workdir: Path) -> dict[str, float]:
    out = workdir / f"ranks{ranks}"
    job = workdir / f"job{ranks}.json"
    job.write_text(
        json.dumps(
            {
                "case": CASE,
                "solver": {"mesh_cells": cells, "output_frames": 1},
                "handoff": str(handoff),
                "outdir": str(out),
                "provenance": {"stage": "bench"},
            }
        )
    )
    cmd = [sys.executable, "-m", "ionscale.fem", str(job)]
    if ranks > 1:
        cmd = [str(Path(sys.executable).with_name("mpirun")), "-n", str(ranks), *cmd]
    start = time.perf_counter()
    subprocess.run(
        cmd, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=ROOT
    )
    total = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    return {
        "ranks": ranks,
        "solve_s": summary["numerics"]["solve_wall_time_s"],
        "process_s": total,
        "capacity": summary["capacity_mAh_cm3"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, nargs=2, default=[200, 2000])
    parser.add_argument("--mpi-cells", type=int, default=4000)
    args = parser.parse_args()

    in_process(16)  # warm-up: JIT-compile the forms
    rows = [in_process(n) for n in args.cells]
    base = rows[0]["dof_solves_per_s"]
    print("fem: throughput in one process (1 rank)")
    print(
        f"{'cells':>7} {'dofs':>7} {'steps':>6} {'solves':>7} {'wall s':>8} "
        f"{'dof·solves/s':>13} {'ratio':>6}"
    )
    for r in rows:
        print(
            f"{r['cells']:>7} {r['dofs']:>7} {r['steps']:>6} {r['solves']:>7} {r['wall_s']:>8.2f} "
            f"{r['dof_solves_per_s']:>13.3e} {r['dof_solves_per_s'] / base:>6.2f}"
        )
    with tempfile.TemporaryDirectory(prefix="bench-fem-") as tmp:
        work = Path(tmp)
        handoff = work / "parameters.h5"
        regular_solution_parameters().write(handoff, Provenance(stage="bench"))
        mpi = [with_ranks(n, args.mpi_cells, handoff, work) for n in (1, 2)]
    print(f"\nfem: {args.mpi_cells} cells, 1 vs 2 MPI ranks (python -m ionscale.fem under mpirun)")
    print(f"{'ranks':>5} {'solve s':>8} {'process s':>10} {'speed-up':>9} {'capacity mAh/cm3':>17}")
    for r in mpi:
        print(
            f"{r['ranks']:>5} {r['solve_s']:>8.2f} {r['process_s']:>10.2f} "
            f"{mpi[0]['solve_s'] / r['solve_s']:>9.2f} {r['capacity']:>17.6f}"
        )


if __name__ == "__main__":
    main()
