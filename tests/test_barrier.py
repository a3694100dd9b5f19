"""The barrier stage: the hop cell, the climbing-image NEB and its gate.

The NEB is checked on identities any potential must honour (a symmetric hop has equal end
energies and its climbing image in the middle, at the top of the path, with no force left) on
ASE's EMT copper, a vacancy hop with a real barrier that needs no training; the stage itself
runs with a real (tiny, undertrained) DeePMD ensemble and real GPAW (engine).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from ionscale.barrier import BarrierError, BarrierSettings, hop_cell, judge, neb_path
from ionscale.gates import ALLOWED, FAILED, PASSED
from ionscale.reference.structures import load_structure


def test_hop_cell_of_lic6_goes_through_the_empty_hexagon():
    hop = hop_cell(load_structure(prototype="LiC6"), (3, 3, 1), "Li")
    assert len(hop.initial) == len(hop.final) == 62  # 9 LiC6, one Li removed
    i = hop.index
    assert hop.initial[i].symbol == "Li"
    moved = np.linalg.norm(hop.final.positions - hop.initial.positions, axis=1)
    assert moved[i] == pytest.approx(4.305, abs=1e-3) and np.all(np.delete(moved, i) == 0)
    # the waypoint sits 4.305/(2√3) Å beside the straight midpoint, in the gallery plane
    mid = 0.5 * (hop.initial.positions[i] + hop.final.positions[i])
    assert np.linalg.norm(hop.waypoint - mid) == pytest.approx(4.305 / 2 / 3**0.5, abs=0.03)
    with pytest.raises(ValueError, match="a hop needs two"):
        hop_cell(load_structure(prototype="LiC6"), (1, 1, 1), "Li")


def test_symmetric_vacancy_hop_neb_identities():
    """Cu vacancy hop (EMT, 2x2x2 fcc): the end points are equivalent, so their energies agree,
    the climbing image is the middle one, it is the top of the path and the NEB converged."""
    hop = hop_cell(bulk("Cu", "fcc", a=3.6, cubic=True), (2, 2, 2), "Cu")
    settings = BarrierSettings(n_images=5, fmax_eV_A=0.03, max_steps=400)
    path = neb_path(hop, EMT(), settings)
    assert path.converged and path.end_points_converged and not path.notes
    e = path.energies_eV
    assert e[0] == pytest.approx(e[-1], abs=1e-3)
    assert path.climbing_index == 3 and path.barrier_eV == pytest.approx(e[3] - e[0])
    assert path.barrier_eV > 0.1
    # the climbing image is a saddle: the force on it has vanished
    climbing = path.images[3].copy()
    climbing.calc = EMT()
    assert np.abs(climbing.get_forces()).max() < 0.05
    # images are ordered along the hop: the hopping atom advances monotonically
    i = hop.index
    direction = hop.final.positions[i] - hop.initial.positions[i]
    progress = [np.dot(im.positions[i] - hop.initial.positions[i], direction) for im in path.images]
    assert np.all(np.diff(progress) > 0)


def test_gate_names_spread_and_dft_difference():
    s = BarrierSettings(max_spread_eV=0.1, max_dft_difference_eV=0.05)
    dft = {"dp_barrier_on_these_images_eV": 0.30, "dft_barrier_eV": 0.32, "calculator": "gpaw"}
    assert judge([0.30, 0.33], dft, [[], []], s).verdict == PASSED
    bad = judge([0.20, 0.59], {**dft, "dft_barrier_eV": 0.40}, [[], ["NEB not converged"]], s)
    assert bad.verdict == FAILED and len(bad.problems) == 3
    assert "spread 0.390 eV" in bad.problems[0] and "|DP − DFT| = 0.100 eV" in bad.problems[1]
    assert "member 1: NEB not converged" in bad.problems[2]
    warn = BarrierSettings(action="warn")
    assert judge([0.2, 0.59], None, [[], []], warn).verdict == ALLOWED
    with pytest.raises(ValueError, match=r"barrier\.action"):
        BarrierSettings(action="ignore")


@pytest.mark.engine
def test_stage_runs_dp_neb_and_gpaw_and_the_gate_stops_it(tiny_dp, tmp_path):
    """A real (undertrained) DeePMD ensemble and GPAW: the results are written with every
    number; with the demo tolerances and action error the gate stops the stage, naming both."""
    from ionscale.barrier import run_barrier
    from ionscale.config import load_config
    from ionscale.provenance import Provenance

    cfg = load_config("config/test.yaml")
    outputs = {k: tmp_path / f"barrier.{k}" for k in ("json", "path", "plot")}
    outputs["path"] = tmp_path / "path.extxyz"
    outputs["plot"] = tmp_path / "barrier.png"
    structure = cfg["reference"]["structure"].get("file") or None
    report = run_barrier(
        cfg, [str(m) for m in tiny_dp], outputs, tmp_path / "work", Provenance("barrier"),
        structure_file=structure,
    )  # fmt: skip
    saved = json.loads(outputs["json"].read_text())
    assert saved["verdict"] == report["verdict"] and len(saved["members"]) == len(tiny_dp)
    assert saved["dft"]["images"][0] == 0 and len(saved["dft"]["dft_relative_energy_eV"]) == 2
    assert outputs["plot"].stat().st_size > 1000
    from ase.io import read

    images = read(outputs["path"], index=":")
    assert (
        len(images) == 3 + 2 and "dft_relative_energy_eV" in images[report["dft"]["images"][1]].info
    )
    strict = {
        **cfg,
        "barrier": {**cfg["barrier"], "action": "error", "max_dft_difference_eV": 1e-6},
    }
    with pytest.raises(BarrierError, match=r"\|DP − DFT\|"):
        run_barrier(
            strict, [str(m) for m in tiny_dp], outputs, tmp_path / "work2", Provenance("b"),
            structure_file=structure,
        )  # fmt: skip
