"""The one writer of ionscale results: atomic, with units and provenance.

Every result goes to a temporary name in its destination directory and is renamed into place
only when complete (``os.replace`` is atomic on POSIX within one file system). A job killed or
failing midway therefore never leaves a file that looks finished; its partial file keeps the
``.partial`` marker in its name and is removed when the failure is a Python exception.

HDF5 results carry, on the root group, the provenance attributes of
:class:`ionscale.provenance.Provenance`, and on every dataset a ``units`` attribute (``"1"``
for dimensionless data). JSON results carry the same provenance under a ``"provenance"`` key.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ionscale.provenance import Provenance, json_default, read_attributes

if TYPE_CHECKING:
    import h5py

PARTIAL_MARKER = ".partial"


class ResultFileError(RuntimeError):
    """A result file is missing something every ionscale result must have."""


@dataclass(frozen=True)
class Quantity:
    """An array with its unit, and optionally a description and an uncertainty (same unit)."""

    value: Any
    units: str
    description: str = ""
    uncertainty: Any = None


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps the suffix, so tools that choose a format from it (matplotlib,
    ase.io) behave as they would with the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}{PARTIAL_MARKER}{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise ResultFileError(f"{path}: the block wrote nothing to its temporary file {tmp}")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def add_dataset(
    group: h5py.Group,
    name: str,
    data: Any,
    units: str,
    description: str = "",
    **kwargs: Any,
) -> h5py.Dataset:
    """Create a dataset with its mandatory ``units`` attribute (kwargs go to create_dataset)."""
    if not units:
        raise ValueError(f"dataset {name!r}: units are required ('1' for dimensionless)")
    ds = group.create_dataset(name, data=data, **kwargs)
    ds.attrs["units"] = units
    if description:
        ds.attrs["description"] = description
    return ds


def add_strings(group: h5py.Group, name: str, values: Sequence[str], description: str = "") -> None:
    """A dataset of UTF-8 strings (units ``'1'``)."""
    import h5py

    data = np.array(list(values), dtype=object)
    add_dataset(group, name, data, "1", description, dtype=h5py.string_dtype())


@contextlib.contextmanager
def open_result_h5(path: str | Path, provenance: Provenance) -> Iterator[h5py.File]:
    """Open a new HDF5 result for writing (streaming allowed); it appears at ``path`` on success.

    Provenance attributes are stamped before the file is closed and renamed into place.
    """
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            yield h5
            for key, value in provenance.attributes().items():
                h5.attrs[key] = value


def write_h5(
    path: str | Path,
    datasets: Mapping[str, Quantity],
    provenance: Provenance,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write named quantities (``"group/name"`` creates groups) to an HDF5 result file.

    A quantity with an uncertainty also gets ``<name>_uncertainty`` in the same unit.
    """
    with open_result_h5(path, provenance) as h5:
        for name, q in datasets.items():
            add_dataset(h5, name, np.asarray(q.value), q.units, q.description)
            if q.uncertainty is not None:
                add_dataset(
                    h5,
                    f"{name}_uncertainty",
                    np.asarray(q.uncertainty),
                    q.units,
                    f"standard uncertainty of {name}",
                )
        for key, value in (attrs or {}).items():
            h5.attrs[key] = value
    return Path(path)


def write_json(path: str | Path, payload: Mapping[str, Any], provenance: Provenance) -> Path:
    """Write a JSON result with a ``"provenance"`` block; numpy values become lists/floats."""
    if "provenance" in payload:
        raise ValueError("payload must not have its own 'provenance' key")
    body = {**payload, "provenance": read_attributes(provenance.attributes())}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(body, indent=2, default=json_default) + "\n")
    return Path(path)


def read_provenance(path: str | Path) -> dict[str, Any]:
    """Provenance of a result file (HDF5 or JSON), decoded; a clear error if it has none."""
    path = Path(path)
    if path.suffix == ".json":
        prov = json.loads(path.read_text()).get("provenance")
    else:
        import h5py

        with h5py.File(path, "r") as h5:
            prov = read_attributes(h5.attrs) if "config_sha256" in h5.attrs else None
    if not prov:
        raise ResultFileError(f"{path}: no provenance attributes (not written by ionscale.io?)")
    return prov


def read_quantity(path: str | Path, name: str) -> Quantity:
    """Read one dataset of an HDF5 result with its unit (and uncertainty, if stored)."""
    import h5py

    with h5py.File(path, "r") as h5:
        if name not in h5:
            raise ResultFileError(f"{path}: no dataset {name!r}")
        ds = h5[name]
        if "units" not in ds.attrs:
            raise ResultFileError(f"{path}: dataset {name!r} has no 'units' attribute")
        unc = h5[f"{name}_uncertainty"][()] if f"{name}_uncertainty" in h5 else None
        return Quantity(
            value=ds[()],
            units=str(ds.attrs["units"]),
            description=str(ds.attrs.get("description", "")),
            uncertainty=unc,
        )
