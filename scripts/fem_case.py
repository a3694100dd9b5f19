"""Snakemake entry point of rule fem_case (science in ionscale.fem).

One thread: the case runs in this process. More threads: on that many MPI ranks
(``mpirun -n {threads} python -m ionscale.fem JOB.json``), with the same result files.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
outdir = Path(smk.output.summary).parent
ranks = int(smk.threads)
if ranks <= 1:
    import mpi4py.MPI  # noqa: F401  (before DOLFINx)

    from ionscale.fem.run import run_case_from_config

    run_case_from_config(
        cfg["fem"]["cases"][0],
        cfg["fem"]["solver"],
        smk.input.parameters,
        outdir,
        Provenance.from_snakemake(smk, "fem"),
    )
else:
    mpirun = Path(sys.executable).with_name("mpirun")
    mpirun = str(mpirun) if mpirun.exists() else shutil.which("mpirun")
    if mpirun is None:
        sys.exit(f"rule fem_case: {ranks} threads need mpirun, which is not on PATH")
    job = {
        "case": cfg["fem"]["cases"][0],
        "solver": cfg["fem"]["solver"],
        "handoff": str(smk.input.parameters),
        "outdir": str(outdir),
        "provenance": {"stage": "fem", "config": dict(cfg), "inputs": [str(p) for p in smk.input]},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(job, fh)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [mpirun, "-n", str(ranks), sys.executable, "-m", "ionscale.fem", fh.name]
    log.info("running %s", " ".join(cmd))
    with open(smk.log[0], "a") as logfile:
        proc = subprocess.run(cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env, check=False)
    os.unlink(fh.name)
    if proc.returncode != 0:
        sys.exit(f"rule fem_case: mpirun exited {proc.returncode} (see {smk.log[0]})")
