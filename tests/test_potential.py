"""Potential stage: inputs from the config, bad-input checks, a real 2-member DeePMD-kit ensemble.

The training data are a tiny Li–C set labelled with real GPAW (tests/_lixc6.py), written in the
reference stage's extxyz contract and cached between runs.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml
from _lixc6 import labelled_lixc6
from conftest import ROOT

from ionscale.fingerprint import (
    FingerprintSettings,
    SoapSettings,
    read_labelled_frames,
    run_fingerprint,
)
from ionscale.potential import (
    DESCRIPTORS,
    GateError,
    NeighborStat,
    PotentialError,
    PotentialSettings,
    apply_gates,
    cell_heights_A,
    check_training_inputs,
    deepmd_input,
    descriptor_spec,
    evaluate_ensemble,
    predict,
    prepare_data,
    read_lcurve,
    train_member,
)
from ionscale.potential.data import dp_executable, write_deepmd_npy
from ionscale.potential.evaluate import (
    compression_error,
    plot_lcurves,
    plot_parity,
    write_test_h5,
)
from ionscale.potential.settings import Gates, round_sel
from ionscale.provenance import Provenance

#: Tiny settings: 2 members, a few hundred steps, small nets (as in config/test.yaml).
TINY = {
    "n_models": 2,
    "rcut_A": 4.0,
    "descriptor_neuron": [8, 16],
    "axis_neuron": 4,
    "fitting_neuron": [16, 16],
    "learning_rate": {"start_lr": 0.002, "stop_lr": 1e-4, "decay_steps": 40},
    "loss": {"start_pref_e": 0.2, "start_pref_f": 100},
    "training": {"numb_steps": 200, "batch_size": 1, "disp_freq": 50},
    "cell_height_policy": "warn",
}


def tiny(**overrides) -> PotentialSettings:
    return PotentialSettings.from_params({"potential": {**TINY, **overrides}})


@pytest.fixture(scope="session")
def labelled(request, tmp_path_factory) -> Path:
    cache = request.config.cache
    directory = cache.mkdir("ionscale_lixc6") if cache else tmp_path_factory.mktemp("lixc6")
    return labelled_lixc6(directory)


@pytest.fixture(scope="session")
def frames(labelled):
    return read_labelled_frames(labelled)


@pytest.fixture(scope="session")
def split(frames, tmp_path_factory) -> Path:
    soap = SoapSettings(r_cut_A=4.0, n_max=4, l_max=3)
    result = run_fingerprint(frames, FingerprintSettings(soap=soap, li_content_bins=2), seed=3)
    path = tmp_path_factory.mktemp("fingerprint") / "split.json"
    path.write_text(json.dumps(result.split.as_dict()))
    return path


# ---------------------------------------------------------------- inputs from the config


@pytest.mark.parametrize("name", sorted(DESCRIPTORS))
def test_every_registered_descriptor_gives_an_input_deepmd_accepts(name):
    from deepmd.utils.argcheck import normalize

    settings = tiny(descriptor=name)
    spec = descriptor_spec(name)
    radii = spec.radii(settings)
    sel = {k: (20 if mixed else [16, 8]) for k, (_, mixed) in radii.items()}
    stat = NeighborStat(
        ["C", "Li"],
        name,
        {k: r for k, (r, _) in radii.items()},
        {k: m for k, (_, m) in radii.items()},
        {},
        sel,
        1.2,
    )
    inp = deepmd_input(settings, stat, seed=5, train_systems=["t"], validation_systems=["v"])
    normalize(inp)  # DeePMD-kit's own input check
    assert inp["model"]["type_map"] == ["C", "Li"]
    assert inp["training"]["seed"] == 5 and inp["training"]["numb_steps"] == 200


def test_schema_enum_matches_the_registry_and_unknown_names_are_errors():
    schema = yaml.safe_load(
        (ROOT / "workflow" / "schemas" / "stages" / "potential.schema.yaml").read_text()
    )
    assert set(schema["properties"]["descriptor"]["enum"]) == set(DESCRIPTORS)
    with pytest.raises(PotentialError, match="'dpa9' is not known; known: se_e2_a"):
        descriptor_spec("dpa9")


def test_sel_rounding_and_cross_key_checks():
    assert round_sel(26, 1.1) == 32  # ceil(28.6) = 29 -> 32
    assert round_sel(0, 1.1) == 4
    assert all(round_sel(n, 1.2) % 4 == 0 and round_sel(n, 1.2) >= 1.2 * n for n in range(200))
    with pytest.raises(PotentialError, match="decay_steps = 500 must be smaller"):
        tiny(learning_rate={"decay_steps": 500})
    with pytest.raises(PotentialError, match="rcut_smth_A"):
        tiny(rcut_smth_A=5.0)


def test_rules_pass_only_their_keys_and_the_rest_take_schema_defaults():
    s = PotentialSettings.from_params(
        {"potential": {"gates": {"force_rmse_meV_A": 99.0}}, "seed": 1}
    )
    assert s.gates.force_rmse_meV_A == 99.0
    assert s.rcut_A == 6.0 and s.descriptor == "se_e2_a"  # schema defaults


def test_cell_heights():
    from _lixc6 import LIC6_C_A, lic6
    from ase.build import bulk

    np.testing.assert_allclose(cell_heights_A(bulk("Li", "bcc", a=3.44, cubic=True)), 3.44)
    h = cell_heights_A(lic6())
    a = lic6().cell.lengths()[0]
    np.testing.assert_allclose(sorted(h), sorted([a * np.sqrt(3) / 2] * 2 + [LIC6_C_A]))


# ---------------------------------------------------------------- bad input


@pytest.mark.engine
def test_bad_inputs_stop_before_training(frames, split):
    s = json.loads(split.read_text())
    check_training_inputs(frames, s, tiny())  # the good split passes
    metal = [i for i, a in enumerate(frames) if a.info["config_type"] == "li_metal"]
    others = [i for i in range(len(frames)) if i not in metal]
    with pytest.raises(PotentialError, match=r"species \['C'\]"):
        check_training_inputs(frames, {"train": metal, "validation": others}, tiny())
    no_strain = [i for i in s["train"] if frames[i].info["config_type"] != "strain"]
    moved = [i for i in s["train"] if i not in no_strain]
    with pytest.raises(PotentialError, match=r"config_type\(s\) \['strain'\]"):
        check_training_inputs(
            frames, {"train": no_strain, "validation": s["validation"] + moved}, tiny()
        )
    n_train = len(s["train"])
    with pytest.raises(PotentialError, match=f"has {n_train} frame.*batch_size = {n_train + 1}"):
        big_batch = tiny(training={"batch_size": n_train + 1, "numb_steps": 200})
        check_training_inputs(frames, s, big_batch)
    with pytest.raises(PotentialError, match=r"rcut_A = 4.0 Å exceeds half the smallest"):
        check_training_inputs(frames, s, tiny(cell_height_policy="error"))
    short = tiny(rcut_A=1.5, rcut_smth_A=0.5, cell_height_policy="error")
    report = check_training_inputs(frames, s, short)
    assert report.min_cell_height_A > 3.0 and not report.warnings
    unstressed = [a.copy() for a in frames]
    from ase.calculators.singlepoint import SinglePointCalculator

    i = s["train"][0]
    a = unstressed[i]
    a.calc = SinglePointCalculator(
        a, energy=frames[i].get_potential_energy(), forces=frames[i].get_forces()
    )
    with pytest.raises(PotentialError, match="has no stress but the loss uses the virial"):
        check_training_inputs(unstressed, s, tiny(loss={"start_pref_v": 0.1}))


def test_gates_name_the_quantity_value_and_limit():
    rmse = [{"energy_meV_atom": 5.0, "force_meV_A": 180.0, "virial_meV_atom": 20.0}] * 2
    with pytest.raises(
        GateError,
        match=r"member 1: validation force RMSE 180.0 meV/Å is above"
        r" the limit potential.gates.force_rmse_meV_A = 150",
    ):
        apply_gates(rmse, Gates(force_rmse_meV_A=150.0))
    warned = apply_gates(rmse, Gates(force_rmse_meV_A=150.0, energy_rmse_meV_atom=1, action="warn"))
    assert len(warned) == 4
    assert apply_gates(rmse, Gates(force_rmse_meV_A=200.0)) == []


# ---------------------------------------------------------------- a real 2-member ensemble


@pytest.fixture(scope="module")
def ensemble(labelled, split, tmp_path_factory):
    work = tmp_path_factory.mktemp("potential")
    settings = tiny()
    stat, report = prepare_data(labelled, split, settings, work / "data")
    assert report.warnings  # 7-atom cells: rcut 4 Å > h/2, accepted by policy "warn"

    def one(member):
        return train_member(member, work / "data", stat, settings, 7, work / f"member_{member}")

    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores: the members train side by side
        members = list(pool.map(one, range(settings.n_models)))
    return settings, stat, members, work


@pytest.mark.engine
@pytest.mark.slow
def test_ensemble_trains_and_members_differ_by_seed(ensemble, frames, split):
    settings, stat, members, _ = ensemble
    assert stat.sel["rcut"] == [round_sel(n, 1.1) for n in stat.max_neighbours["rcut"]]
    seeds = [m[3].seed for m in members]
    assert len(set(seeds)) == 2
    for frozen, compressed, lcurve, summary in members:
        curve = read_lcurve(lcurve)
        assert curve["step"][-1] == settings.numb_steps
        assert np.isfinite(curve["rmse_f_trn"]).all()
        assert summary.compressed and compressed.stat().st_size > frozen.stat().st_size
        assert summary.seconds_per_step > 0

    s = json.loads(split.read_text())
    models = [m[0] for m in members]
    tests = evaluate_ensemble(models, frames, {"validation": s["validation"], "train": s["train"]})
    val = tests["validation"]
    # members trained on the same data but from different seeds disagree
    assert val.max_force_deviation_eV_A.min() > 1e-4
    # DP-GEN's deviation, recomputed by hand: max over atoms of sqrt(<|F - <F>|^2>)
    k = 0
    n = val.n_atoms[0]
    fs = np.stack([m.forces_eV_A[:n] for m in val.members])
    by_hand = np.sqrt(((fs - fs.mean(axis=0)) ** 2).sum(axis=-1).mean(axis=0)).max()
    np.testing.assert_allclose(val.max_force_deviation_eV_A[k], by_hand, rtol=1e-10)
    for m in val.members:  # a periodic DeePMD model conserves momentum: forces sum to zero
        for f in np.split(m.forces_eV_A, np.cumsum(val.n_atoms)[:-1]):
            np.testing.assert_allclose(f.sum(axis=0), 0.0, atol=1e-8)
    assert all(np.isfinite(list(r.values())).all() for r in val.rmse)


@pytest.mark.engine
@pytest.mark.slow
def test_deepmd_infer_reproduces_dp_test_for_one_frame(ensemble, frames, tmp_path):
    _, stat, members, _ = ensemble
    frozen = members[0][0]
    atoms = frames[0]
    system = write_deepmd_npy(frames, [0], stat.type_map, tmp_path / "one")[0]
    subprocess.run(
        [
            dp_executable(),
            "--pt",
            "test",
            "-m",
            str(frozen),
            "-s",
            str(system),
            "-d",
            str(tmp_path / "detail"),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    e_dp = np.loadtxt(tmp_path / "detail.e.out", ndmin=2)  # data_e pred_e
    f_dp = np.loadtxt(tmp_path / "detail.f.out", ndmin=2)  # data_f(3) pred_f(3), dpdata order
    ours = predict(frozen, [atoms])
    np.testing.assert_allclose(ours.energy_eV[0], e_dp[0, 1], rtol=0, atol=1e-8)
    np.testing.assert_allclose(e_dp[0, 0], atoms.get_potential_energy(), atol=1e-8)
    # dpdata sorts atoms by type; match rows through the DFT forces, which both sides carry
    ref = atoms.get_forces()
    order = [int(np.argmin(np.abs(ref - row).sum(axis=1))) for row in f_dp[:, :3]]
    assert sorted(order) == list(range(len(atoms)))
    np.testing.assert_allclose(ours.forces_eV_A[order], f_dp[:, 3:], atol=1e-8)


@pytest.mark.engine
@pytest.mark.slow
def test_compressed_models_match_plain_and_results_file(ensemble, frames, split, tmp_path):
    import h5py

    _, _, members, _ = ensemble
    s = json.loads(split.read_text())
    plain = [m[0] for m in members]
    compressed = [m[1] for m in members]
    val_frames = [frames[i] for i in s["validation"]]
    comp = compression_error(plain, compressed, val_frames)
    assert comp["max_force_difference_eV_A"].max() < 1e-3  # tabulation error only

    tests = evaluate_ensemble(plain, frames, {"validation": s["validation"], "train": s["train"]})
    lcurves = [read_lcurve(m[2]) for m in members]
    summaries = [
        {
            "seconds_per_step": m[3].seconds_per_step,
            "seed": m[3].seed,
            "numb_steps": m[3].numb_steps,
        }
        for m in members
    ]
    prov = Provenance(stage="potential", config={"potential": TINY})
    write_test_h5(
        tmp_path / "test.h5",
        tests["validation"],
        tests["train"],
        comp,
        lcurves,
        summaries,
        [],
        prov,
    )
    plot_parity(tmp_path / "parity.png", tests["validation"])
    plot_lcurves(tmp_path / "lcurve.png", lcurves)
    with h5py.File(tmp_path / "test.h5") as h5:
        assert h5["validation/rmse/force_meV_A"].attrs["units"] == "meV/Å"
        assert h5["validation/predicted/energy_eV"].shape == (2, len(s["validation"]))
        np.testing.assert_array_equal(h5["validation/frame_index"][()], s["validation"])
        ref_e = h5["validation/reference/energy_eV"][()]
        np.testing.assert_allclose(ref_e, [a.get_potential_energy() for a in val_frames])
        # virial label = -V sigma (ASE stress convention)
        a = val_frames[0]
        np.testing.assert_allclose(
            h5["validation/reference/virial_eV"][0], -a.get_volume() * a.get_stress(voigt=False)
        )
    assert (tmp_path / "parity.png").stat().st_size > 1000
