"""Fingerprint stage: FPS, the stratified split, SOAP invariances, novelty, bad input."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
from _lixc6 import lic6, sample_frames
from ase.calculators.singlepoint import SinglePointCalculator

from ionscale.fingerprint import (
    FingerprintError,
    FingerprintSettings,
    NoveltyModel,
    SoapSettings,
    check_split,
    farthest_point_sampling,
    plot_map,
    pool_frames,
    read_labelled_frames,
    run_fingerprint,
    soap_environments,
    species_of,
    split_frames,
    strata,
    write_descriptors_h5,
)
from ionscale.provenance import Provenance

SOAP = SoapSettings(r_cut_A=4.0, n_max=4, l_max=3, sigma_A=0.5)


@pytest.fixture(scope="module")
def frames():
    """Unlabelled Li–C frames with the contract's tags (no DFT needed for descriptors)."""
    return sample_frames(seed=3)


# ---------------------------------------------------------------- farthest-point sampling


def test_fps_on_a_line_picks_the_ends_then_the_middle():
    x = np.arange(11.0)[:, None]  # 0, 1, ..., 10
    idx, radii = farthest_point_sampling(x, 3)
    assert idx[0] in (0, 10) and set(idx[:2]) == {0, 10}
    assert idx[2] == 5
    np.testing.assert_allclose(radii[1:], [10.0, 5.0])


def test_fps_picks_the_corners_of_a_square_before_any_interior_point():
    grid = np.array([(i, j) for i in range(5) for j in range(5)], float)
    idx, radii = farthest_point_sampling(grid, 5)
    corners = {i for i, p in enumerate(grid) if set(p) <= {0.0, 4.0}}
    assert set(idx[:4]) == corners
    assert tuple(grid[idx[4]]) == (2.0, 2.0)  # then the centre, farthest from all four corners
    assert np.all(np.diff(radii[1:]) <= 1e-12)  # the covering radius never grows


def test_fps_respects_group_quotas_and_initial_points():
    x = np.arange(10.0)[:, None]
    groups = ["a"] * 5 + ["b"] * 5
    idx, _ = farthest_point_sampling(x, 10, initial=[2], groups=groups, quota={"a": 1, "b": 2})
    assert idx[0] == 2 and len(idx) == 3
    assert sum(groups[i] == "a" for i in idx) == 1 and sum(groups[i] == "b" for i in idx) == 2
    assert 9 in idx  # the far end of group b


# ---------------------------------------------------------------- split


def _descriptors(frames):
    species = species_of(frames)
    return pool_frames(frames, soap_environments(frames, species, SOAP), species)


@pytest.mark.parametrize("method", ["fps", "random"])
def test_split_is_reproducible_and_covers_every_stratum(frames, method):
    desc = _descriptors(frames)
    labels = strata(frames, li_bins=2)
    a = split_frames(desc, labels, 0.3, method, seed=11)
    b = split_frames(desc, labels, 0.3, method, seed=11)
    assert a == b
    assert sorted(a.train + a.validation) == list(range(len(frames)))
    for stratum in set(labels):
        members = [i for i, s in enumerate(labels) if s == stratum]
        assert any(i in a.train for i in members), stratum
        if len(members) > 1:
            assert any(i in a.validation for i in members), stratum
    check_split(frames, a)  # every species and config_type is in training
    assert json.loads(json.dumps(a.as_dict()))["method"] == method


def test_random_split_depends_on_its_seed(frames):
    desc = _descriptors(frames)
    labels = strata(frames, li_bins=2)
    splits = {tuple(split_frames(desc, labels, 0.3, "random", seed=s).train) for s in range(6)}
    assert len(splits) > 1


def test_strata_bins_li_content_and_metal_apart(frames):
    labels = strata(frames, li_bins=2)
    by_type = {(a.info["config_type"], lab) for a, lab in zip(frames, labels, strict=True)}
    assert ("li_metal", "li_metal|x=n/a") in by_type
    assert ("vacancy", "vacancy|x∈[0,0.5)") in by_type  # x = 0
    assert ("vacancy", "vacancy|x∈[0.5,1]") in by_type  # x = 0.5


# ---------------------------------------------------------------- descriptors and novelty


def test_frame_descriptor_is_invariant_to_rotation_translation_and_permutation():
    atoms = lic6()
    atoms.rattle(0.05, seed=1)
    moved = atoms.copy()
    moved.rotate(37, "z", rotate_cell=True)
    moved.rotate(12, "x", rotate_cell=True)
    moved.translate([0.3, -1.1, 0.7])
    moved = moved[np.random.default_rng(0).permutation(len(moved))]
    species = ["C", "Li"]
    d = pool_frames([atoms, moved], soap_environments([atoms, moved], species, SOAP), species)
    np.testing.assert_allclose(d[0], d[1], atol=1e-8)
    assert np.linalg.norm(d[0]) > 1  # two species blocks of unit-norm means


def test_novelty_is_zero_on_training_frames_and_large_far_from_them(frames, tmp_path):
    species = species_of(frames)
    train = [a for a in frames if a.info["config_type"] in ("rattle", "vacancy", "li_metal")]
    model = NoveltyModel.fit(train, species, SOAP)
    assert all(s > 0 for s in model.scale.values())
    assert model.frame_novelty(train).max() < 1e-4  # round-off of the distance

    similar = lic6()
    similar.rattle(0.04, seed=123)  # like the rattled training frames
    distorted = lic6()
    distorted.rattle(0.4, seed=123)  # far outside anything sampled
    typical, far = model.frame_novelty([similar, distorted])
    assert 0.1 < typical < 5
    assert far > 10 * typical and far > 5

    import h5py

    with h5py.File(tmp_path / "n.h5", "w") as h5:
        model.write(h5.create_group("novelty"))
    again = NoveltyModel.read(tmp_path / "n.h5")
    np.testing.assert_allclose(again.frame_novelty([similar, distorted]), [typical, far])


def test_novelty_needs_a_spread(frames):
    one = [frames[0]]
    with pytest.raises(FingerprintError, match="at least 2 frames"):
        NoveltyModel.fit(one, ["C", "Li"], SOAP)


# ---------------------------------------------------------------- the stage and bad input


def _with_labels(frames):
    out = []
    for a in frames:
        a = a.copy()
        # labels are not used by the fingerprint stage; zeros keep the frame contract-shaped
        a.calc = SinglePointCalculator(a, energy=0.0, forces=np.zeros((len(a), 3)))
        out.append(a)
    return out


def test_stage_writes_descriptors_map_and_a_valid_split(frames, tmp_path):
    settings = FingerprintSettings(soap=SOAP, validation_fraction=0.25, li_content_bins=2)
    result = run_fingerprint(frames, settings, seed=5)
    assert result.frame_descriptors.shape[0] == len(frames)
    assert result.pca.shape == (len(frames), 2)
    assert np.all(result.validation_novelty >= 0)
    prov = Provenance(stage="fingerprint", config={"fingerprint": {}})
    write_descriptors_h5(tmp_path / "d.h5", result, prov)
    plot_map(tmp_path / "map.png", result)
    assert (tmp_path / "map.png").stat().st_size > 1000
    model = NoveltyModel.read(tmp_path / "d.h5")
    train = [frames[i] for i in result.split.train]
    assert model.frame_novelty(train).max() < 1e-4  # round-off of the distance


def test_check_split_names_what_training_lacks(frames):
    metal = [i for i, a in enumerate(frames) if a.info["config_type"] == "li_metal"]
    rest = [i for i in range(len(frames)) if i not in metal]
    with pytest.raises(FingerprintError, match=r"species \['C'\]"):
        check_split(frames, {"train": metal, "validation": rest})
    no_strain = [i for i in rest if frames[i].info["config_type"] != "strain"]
    strain = [i for i in rest if i not in no_strain]
    with pytest.raises(FingerprintError, match=r"config_type\(s\) \['strain'\]"):
        check_split(frames, {"train": no_strain + metal, "validation": strain})
    with pytest.raises(FingerprintError, match="in both sets"):
        check_split(frames, {"train": rest + metal, "validation": metal})


def test_reader_checks_the_contract(frames, tmp_path):
    with pytest.raises(FingerprintError, match="not found"):
        read_labelled_frames(tmp_path / "missing.extxyz")
    good = _with_labels(frames[:3])
    ase.io.write(tmp_path / "ok.extxyz", good, format="extxyz")
    back = read_labelled_frames(tmp_path / "ok.extxyz")
    assert [a.info["frame_id"] for a in back] == [a.info["frame_id"] for a in good]
    bad = _with_labels(frames[:2])
    del bad[1].info["config_type"]
    ase.io.write(tmp_path / "bad.extxyz", bad, format="extxyz")
    with pytest.raises(FingerprintError, match=r"frame 1 lacks info key\(s\) \['config_type'\]"):
        read_labelled_frames(tmp_path / "bad.extxyz")
    unlabelled = [a.copy() for a in frames[:2]]
    ase.io.write(tmp_path / "nolabel.extxyz", unlabelled, format="extxyz")
    with pytest.raises(FingerprintError, match="has no energy"):
        read_labelled_frames(tmp_path / "nolabel.extxyz")


def test_bad_settings_are_named():
    with pytest.raises(FingerprintError, match="r_cut_A"):
        SoapSettings(r_cut_A=0.5)
    x = np.zeros((4, 2))
    with pytest.raises(FingerprintError, match=r"fingerprint\.selection"):
        split_frames(x, ["a"] * 4, 0.2, "kmeans", seed=1)
    with pytest.raises(FingerprintError, match="validation_fraction"):
        split_frames(x, ["a"] * 4, 1.0, "fps", seed=1)


def test_small_sets_still_get_a_validation_set_without_losing_coverage(frames):
    # one frame per stratum: the per-stratum rule holds nothing out, the top-up must
    labels = strata(frames, li_bins=2)
    firsts = sorted({lab: i for i, lab in reversed(list(enumerate(labels)))}.values())
    subset = [frames[i] for i in firsts]  # vacancy (x = 0 and x = 0.5) is the only repeated type
    settings = FingerprintSettings(soap=SOAP, validation_fraction=0.2, li_content_bins=2)
    result = run_fingerprint(subset, settings, seed=1)
    assert len(result.split.validation) == 1
    assert {subset[i].info["config_type"] for i in result.split.validation} == {"vacancy"}
    check_split(subset, result.split)
    two_kinds = [frames[firsts[0]], frames[firsts[1]]]
    with pytest.raises(FingerprintError, match="no frame can be held out"):
        run_fingerprint(two_kinds, settings, seed=1)


def test_validation_frames_that_duplicate_training_frames_are_recorded(frames):
    data = [*frames, frames[0].copy()]  # an imported copy of a frame, say
    copy = len(data) - 1
    result = run_fingerprint(data, FingerprintSettings(soap=SOAP, li_content_bins=2), seed=2)
    train, dupes = set(result.split.train), result.split.validation_duplicates_of_train
    # FPS takes a frame at distance 0 from a chosen one last, so one of the pair is held out
    assert (0 in train) != (copy in train)
    assert dupes == [copy if 0 in train else 0]
