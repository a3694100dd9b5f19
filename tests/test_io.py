"""ionscale.io: atomic writes, units on every dataset, provenance on every result."""

import json

import h5py
import numpy as np
import pytest

from ionscale.io import (
    Quantity,
    ResultFileError,
    add_dataset,
    atomic_path,
    open_result_h5,
    read_provenance,
    read_quantity,
    write_h5,
    write_json,
)
from ionscale.provenance import Provenance, config_hash, file_hash


@pytest.fixture
def prov(tmp_path):
    inp = tmp_path / "input.txt"
    inp.write_text("some input\n")
    return Provenance(stage="test", config={"a": 1, "b": [1, 2]}, inputs=[inp])


def test_h5_round_trip_with_units_and_provenance(tmp_path, prov):
    out = tmp_path / "r.h5"
    d = np.array([1.0, 2.0])
    write_h5(
        out,
        {"diffusivity_cm2_s": Quantity(d, "cm²/s", "D(T)", uncertainty=0.1 * d),
         "grid/x": Quantity(np.linspace(0, 1, 5), "1")},
        prov,
    )  # fmt: skip
    q = read_quantity(out, "diffusivity_cm2_s")
    assert q.units == "cm²/s" and np.array_equal(q.value, d)
    assert np.allclose(q.uncertainty, 0.1 * d)
    assert read_quantity(out, "grid/x").units == "1"
    meta = read_provenance(out)
    assert meta["config_sha256"] == config_hash({"a": 1, "b": [1, 2]})
    assert meta["config"] == {"a": 1, "b": [1, 2]}
    assert meta["input_sha256"] == {str(tmp_path / "input.txt"): file_hash(tmp_path / "input.txt")}
    assert meta["package_versions"]["numpy"] == np.__version__
    assert meta["git_revision"]
    with h5py.File(out) as h5:  # every dataset has units
        h5.visititems(lambda n, o: isinstance(o, h5py.Dataset) and o.attrs["units"])


def test_exception_midway_leaves_no_result(tmp_path, prov):
    out = tmp_path / "stream.h5"
    with pytest.raises(RuntimeError, match="killed"):
        with open_result_h5(out, prov) as h5:
            ds = h5.create_dataset("x", shape=(0,), maxshape=(None,), dtype=float)
            ds.attrs["units"] = "Å"
            for i in range(10):
                ds.resize((i + 1,))
                ds[i] = i
                if i == 5:
                    raise RuntimeError("killed midway")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "input.txt"], "partial file left behind"


def test_partial_file_is_never_at_the_final_name(tmp_path, prov):
    out = tmp_path / "r.json"
    with atomic_path(out) as tmp:
        tmp.write_text("{}")
        assert not out.exists() and ".partial" in tmp.name and tmp.suffix == ".json"
    assert out.exists()


def test_json_result_and_errors(tmp_path, prov):
    out = write_json(tmp_path / "s.json", {"value_eV": np.float64(1.5), "arr": np.arange(3)}, prov)
    body = json.loads(out.read_text())
    assert body["value_eV"] == 1.5 and body["arr"] == [0, 1, 2]
    assert read_provenance(out)["stage"] == "test"
    with pytest.raises(ValueError, match="provenance"):
        write_json(tmp_path / "t.json", {"provenance": 1}, prov)


def test_units_are_mandatory(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as h5, pytest.raises(ValueError, match="units"):
        add_dataset(h5, "energy", [1.0], units="")


def test_missing_provenance_and_units_are_errors(tmp_path):
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as h5:
        h5["x"] = [1.0]
    with pytest.raises(ResultFileError, match="no provenance"):
        read_provenance(plain)
    with pytest.raises(ResultFileError, match="no 'units'"):
        read_quantity(plain, "x")


def test_config_hash_ignores_key_order_only():
    assert config_hash({"a": 1, "b": {"c": 2, "d": 3}}) == config_hash(
        {"b": {"d": 3, "c": 2}, "a": 1}
    )
    assert config_hash({"a": 1}) != config_hash({"a": 2})
