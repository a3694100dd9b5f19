"""The cluster path for real: a one-node SLURM on loopback runs the workflow via Snakemake's
SLURM executor; the jobs must go through the scheduler and give the local run's results."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_snakemake
from loopback_slurm import LoopbackSlurm, unavailable_reason
from results_compare import compare_trees

from ionscale.config import load_config

#: Targets run through SLURM: a subset of config/test.yaml that crosses several stages.
SLURM_TARGET_RULES = ["reference_sample", "reference_label", "reference_gather", "fingerprint"]


@pytest.fixture(scope="module")
def slurm():
    reason = unavailable_reason()
    if reason:
        print(f"\nSKIPPING the SLURM test: {reason}")
        pytest.skip(reason)
    # munged wants execute permission for all on every directory above its socket, which
    # pytest's private tmp dirs (0700) lack: use a 0755 directory of our own.
    directory = Path(tempfile.mkdtemp(prefix="ionscale-slurm-"))
    directory.chmod(0o755)
    cluster = LoopbackSlurm(directory)
    started = time.perf_counter()
    cluster.start()
    print(f"\nloopback SLURM up in {time.perf_counter() - started:.1f} s (pids {cluster.pids})")
    yield cluster
    cluster.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.engine
@pytest.mark.slow
def test_slurm_run_equals_local_run(slurm, tmp_path):
    cfg_file = ROOT / "config" / "test.yaml"
    system = load_config(cfg_file)["system"]
    targets = [f"results/{system}/fingerprint/split.json"]
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    local.mkdir(), cluster.mkdir()

    start = time.perf_counter()
    run_snakemake(*targets, "--configfile", str(cfg_file), workdir=local)
    t_local = time.perf_counter() - start

    start = time.perf_counter()
    run_snakemake(
        *targets, "--configfile", str(cfg_file),
        "--workflow-profile", str(ROOT / "workflow" / "profiles" / "slurm"),
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2",
        "--slurm-no-account",
        "--slurm-keep-successful-logs",
        "--jobs", "4",
        workdir=cluster,
        profile=False,
    )  # fmt: skip
    t_slurm = time.perf_counter() - start
    print(f"\nwall time: local {t_local:.0f} s, SLURM {t_slurm:.0f} s")

    submitted, completed = slurm.submitted_job_ids(), slurm.completed_ok_job_ids()
    assert len(submitted) >= len(SLURM_TARGET_RULES), slurm.ctld_log.read_text()[-3000:]
    assert set(submitted) == set(completed), "some SLURM jobs did not complete with exit 0"
    slurm_logs = cluster / ".snakemake" / "slurm_logs"
    logs = list(slurm_logs.rglob("*.log"))
    # rule_<name>/[<wildcards>/]<jobid>.log
    ran_on_slurm = {p.relative_to(slurm_logs).parts[0].removeprefix("rule_") for p in logs}
    assert ran_on_slurm >= set(SLURM_TARGET_RULES), f"SLURM job logs only for {ran_on_slurm}"
    diffs = compare_trees(local / "results", cluster / "results")
    assert not diffs, "SLURM results differ from the local run:\n" + "\n".join(diffs)
