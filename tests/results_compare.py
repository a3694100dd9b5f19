"""Compare the science in two result trees, ignoring what legitimately differs between runs.

Provenance timestamps, wall times and absolute paths differ between two runs of the same
workflow; numbers must not. HDF5 datasets are compared with a tight relative tolerance (same
binaries, same seeds), JSON leaves exactly except for timing keys, extxyz frame by frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SKIP_DIRS = {"logs", "benchmarks", "work"}
TIMING_KEYS = (
    "seconds", "wall", "time_s", "created_utc", "provenance", "detail", "speed", "per_hour",
    "per_cpu_hour", "per_second",
)  # fmt: skip


def result_files(root: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if (
            p.is_file()
            and not SKIP_DIRS & set(rel.parts)
            and p.suffix in {".h5", ".json", ".extxyz"}
            and not any(part.endswith(".bp") for part in rel.parts)  # ADIOS2's own files
        ):
            out.append(rel)
    return out


def _json_diff(a, b, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = []
        for key in sorted(set(a) | set(b)):
            if any(t in key for t in TIMING_KEYS):
                continue
            if key not in a or key not in b:
                diffs.append(f"{where}.{key}: only in one run")
            else:
                diffs += _json_diff(a[key], b[key], f"{where}.{key}")
        return diffs
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _json_diff(x, y, f"{where}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float):
        return [] if np.isclose(a, b, rtol=1e-8, atol=1e-12) else [f"{where}: {a} != {b}"]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def _h5_diff(a: Path, b: Path, rtol: float) -> list[str]:
    import h5py

    diffs: list[str] = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = [], []
        fa.visititems(lambda n, o: names_a.append(n) if isinstance(o, h5py.Dataset) else None)
        fb.visititems(lambda n, o: names_b.append(n) if isinstance(o, h5py.Dataset) else None)
        if names_a != names_b:
            return [f"{a.name}: dataset lists differ: {set(names_a) ^ set(names_b)}"]
        for name in names_a:
            if any(t in name for t in TIMING_KEYS):
                continue
            x, y = fa[name][()], fb[name][()]
            if fa[name].attrs.get("units") != fb[name].attrs.get("units"):
                diffs.append(f"{name}: units differ")
            elif np.asarray(x).dtype.kind in "fc":
                if not np.allclose(x, y, rtol=rtol, atol=0, equal_nan=True):
                    diffs.append(f"{name}: max |Δ| = {np.nanmax(np.abs(np.asarray(x) - y))}")
            elif not np.array_equal(x, y):
                diffs.append(f"{name}: values differ")
    return diffs


def _extxyz_diff(a: Path, b: Path, rtol: float) -> list[str]:
    from ase.io import read

    fa, fb = read(a, ":"), read(b, ":")
    if len(fa) != len(fb):
        return [f"{a.name}: {len(fa)} vs {len(fb)} frames"]
    diffs = []
    for i, (x, y) in enumerate(zip(fa, fb, strict=True)):
        if not np.allclose(x.positions, y.positions, rtol=rtol):
            diffs.append(f"{a.name}[{i}]: positions differ")
        if (x.calc is None) != (y.calc is None):
            diffs.append(f"{a.name}[{i}]: labelled in one run only")
            continue
        if x.calc is None:  # sampled, not yet labelled frames
            continue
        ex, ey = x.get_potential_energy(), y.get_potential_energy()
        if not np.isclose(ex, ey, rtol=rtol):
            diffs.append(f"{a.name}[{i}]: energy {ex} != {ey}")
    return diffs


def compare_trees(a: Path, b: Path, rtol: float = 1e-8, only: list[str] | None = None) -> list[str]:
    """Differences between the result trees ``a`` and ``b`` (empty list: same science).

    ``only``: compare just these files (paths relative to the tree roots).
    """
    if only is not None:
        files_a = files_b = [Path(f) for f in only]
    else:
        files_a, files_b = result_files(a), result_files(b)
    if files_a != files_b:
        return [f"file lists differ: {sorted(set(map(str, files_a)) ^ set(map(str, files_b)))}"]
    diffs = []
    for rel in files_a:
        if rel.suffix == ".json":
            diffs += _json_diff(
                json.loads((a / rel).read_text()), json.loads((b / rel).read_text()), str(rel)
            )
        elif rel.suffix == ".h5":
            diffs += _h5_diff(a / rel, b / rel, rtol)
        else:
            diffs += _extxyz_diff(a / rel, b / rel, rtol)
    return diffs
