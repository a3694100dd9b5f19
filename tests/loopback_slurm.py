"""A real one-node SLURM cluster on loopback, for tests of the cluster path.

Debian's slurmctld, slurmd and munge run as root with everything under one temporary directory
and ports away from the defaults. The Snakemake SLURM executor hangs silently unless (measured,
see envs/README.md): the config is at /etc/slurm/slurm.conf (the plugin strips SLURM_CONF from
jobs); without slurmdbd it polls with ``--slurm-status-command squeue``; MinJobAge is at least
3 × the first status-check delay. The previous /etc/slurm/slurm.conf, if any, is restored, and
every daemon started here is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ETC_CONF = Path("/etc/slurm/slurm.conf")
DAEMONS = ("slurmctld", "slurmd", "munged", "mungekey", "sinfo", "squeue")


def unavailable_reason() -> str | None:
    """Why a loopback cluster cannot run here (None if it can)."""
    if os.geteuid() != 0:
        return "not root: slurmctld/slurmd/munged must run as root"
    missing = [
        d for d in DAEMONS if shutil.which(d) is None and not Path(f"/usr/sbin/{d}").exists()
    ]
    if missing:
        return (
            f"SLURM/munge not installed ({', '.join(missing)} missing): "
            "apt-get install slurmctld slurmd slurm-client munge (.ci/run does this)"
        )
    return None


def _exe(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class LoopbackSlurm:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    def __init__(self, directory: Path, cpus: int | None = None, memory_mb: int = 8000) -> None:
        self.dir = Path(directory)
        self.host = socket.gethostname().split(".")[0]
        self.cpus = cpus or os.cpu_count() or 1
        self.memory_mb = memory_mb
        self.pids: dict[str, int] = {}
        self._etc_backup: bytes | None = None
        self.env = {**os.environ, "SLURM_CONF": str(self.dir / "slurm.conf")}

    @property
    def ctld_log(self) -> Path:
        return self.dir / "log" / "slurmctld.log"

    def _conf(self) -> str:
        d = self.dir
        return f"""ClusterName=ionscale-test
SlurmctldHost={self.host}(127.0.0.1)
SlurmUser=root
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket={d}/run/munge.socket
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/run/slurmctld.pid
SlurmdPidFile={d}/run/slurmd.pid
SlurmctldLogFile={self.ctld_log}
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""

    def _pid_from(self, name: str, pidfile: Path, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pidfile.exists() and pidfile.read_text().strip():
                self.pids[name] = int(pidfile.read_text().split()[0])
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} wrote no PID file {pidfile}; see {self.dir / 'log'}")

    def start(self, timeout: float = 30) -> LoopbackSlurm:
        d = self.dir
        for sub in ("munge", "run", "state", "spool", "log"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "munge").chmod(0o700)
        subprocess.run(
            [_exe("mungekey"), "--create", "--force", "--keyfile", str(d / "munge" / "munge.key")],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [_exe("munged"), f"--socket={d}/run/munge.socket", f"--key-file={d}/munge/munge.key",
             f"--pid-file={d}/run/munged.pid", f"--log-file={d}/log/munged.log",
             f"--seed-file={d}/munge/seed"],
            check=True, capture_output=True,
        )  # fmt: skip
        self._pid_from("munged", d / "run" / "munged.pid")
        conf = self._conf()
        (d / "slurm.conf").write_text(conf)
        if ETC_CONF.exists():
            self._etc_backup = ETC_CONF.read_bytes()
        ETC_CONF.parent.mkdir(parents=True, exist_ok=True)
        ETC_CONF.write_text(conf)
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([_exe(daemon)], env=self.env, check=True, capture_output=True)
            self._pid_from(daemon, d / "run" / f"{daemon}.pid")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = subprocess.run(
                [_exe("sinfo"), "-h", "-o", "%T"], env=self.env, capture_output=True, text=True
            ).stdout.strip()
            if state == "idle":
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SLURM node not idle after {timeout} s (state {state!r})")

    def stop(self) -> None:
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        if self._etc_backup is not None:
            ETC_CONF.write_bytes(self._etc_backup)
        elif ETC_CONF.exists() and ETC_CONF.read_text() == self._conf():
            ETC_CONF.unlink()

    def submitted_job_ids(self) -> list[int]:
        """Job ids the controller accepted (from its log: no accounting database here)."""
        import re

        text = self.ctld_log.read_text() if self.ctld_log.exists() else ""
        return [int(j) for j in re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", text)]

    def completed_ok_job_ids(self) -> list[int]:
        import re

        text = self.ctld_log.read_text() if self.ctld_log.exists() else ""
        return [int(j) for j in re.findall(r"_job_complete: JobId=(\d+) WEXITSTATUS 0", text)]

    def __enter__(self) -> LoopbackSlurm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
