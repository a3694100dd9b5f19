"""Active learning (ionscale.active): selection, the round plan, and exploration with the real
LAMMPS + DeePMD ensemble, whose recorded deviations must be those of the recorded frames."""

from __future__ import annotations

import numpy as np
import pytest
from _md_model import bcc_li, tiny_li_models
from ase import Atoms

from ionscale.active import (
    ActiveLearningError,
    ActiveLearningUnconvergedError,
    ActiveSettings,
    Exploration,
    convergence_decision,
    enforce_convergence,
    explore,
    extrapolating_share,
    final_round,
    potential_dir,
    round_of,
    sel_fits,
    select_candidates,
    validation_indices,
)
from ionscale.md import MDSettings, build_md_cell
from ionscale.potential.data import combined_frames_and_split
from ionscale.reference.structures import closest_pair


def _frames(n):
    return [Atoms("H", positions=[[0, 0, i]], cell=[5, 5, 5], pbc=True) for i in range(n)]


def test_selection_takes_the_window_and_caps_reproducibly():
    dev = np.array([0.01, 0.06, 0.2, 0.49, 0.5, 0.9, 0.07, 0.3, 0.04, 0.1])
    frames = _frames(len(dev))
    sel = select_candidates(frames, dev, 0.05, 0.5, max_frames=100, seed=1)
    picked = [int(a.positions[0, 2]) for a in sel.frames]
    assert picked == [1, 2, 3, 6, 7, 9], "every candidate in [lo, hi), in order"
    assert sel.counts == {"accurate": 2, "candidate": 6, "failed": 2, "picked": 6}
    capped = select_candidates(frames, dev, 0.05, 0.5, max_frames=3, seed=7)
    again = select_candidates(frames, dev, 0.05, 0.5, max_frames=3, seed=7)
    ids = [int(a.positions[0, 2]) for a in capped.frames]
    assert ids == [int(a.positions[0, 2]) for a in again.frames], "seeded"
    assert len(ids) == 3 and set(ids) <= set(picked) and ids == sorted(ids)
    with pytest.raises(ValueError, match="3 frames but 2 deviations"):
        select_candidates(_frames(3), dev[:2], 0.05, 0.5, 3, 0)


def test_validation_indices_hold_out_the_stated_share():
    for n in (0, 1, 4, 5, 17, 100):
        v = validation_indices(n, 0.2)
        assert all(0 <= i < n for i in v) and len(set(v)) == len(v)
        assert len(v) == n // 5
    assert validation_indices(10, 0.0) == []


def test_round_directories_invert():
    for r in (0, 1, 7):
        assert round_of(potential_dir(r)) == r
    with pytest.raises(ActiveLearningError, match="not a round"):
        round_of("potential")
    with pytest.raises(ActiveLearningError, match="< 0"):
        potential_dir(-1)


def _run(T, above, n=100, missing=0, stopped=None):
    dev = np.r_[np.full(n - above, 0.01), np.full(above, 0.9)]
    result = Exploration(T, [Atoms()] * n, dev, np.arange(n), stopped=stopped)
    return extrapolating_share(result, 0.15, n + missing)


def test_extrapolating_share_counts_frames_above_trust_and_cut_off_ones():
    assert _run(800, 3)["extrapolating_share"] == pytest.approx(0.03)
    blown = _run(800, 0, n=40, missing=60, stopped="energy drop")
    assert blown["n_not_reached"] == 60 and blown["extrapolating_share"] == pytest.approx(0.6)
    # without a blow-up a short run is not penalised
    assert _run(800, 0, n=40, missing=60)["extrapolating_share"] == 0.0


def test_convergence_decision_walks_the_rounds_and_gates_the_cap():
    ok, bad = [_run(700, 2), _run(900, 4)], [_run(700, 2), _run(900, 30)]
    d = convergence_decision(ok, 0, 3, 0.05, 0.15, "error")
    assert d["converged"] and d["final"] and d["verdict"] == "passed" and d["next_round"] is None
    d = convergence_decision(bad, 1, 3, 0.05, 0.15, "error")
    assert not d["final"] and d["next_round"] == 2 and d["worst_share"] == pytest.approx(0.3)
    enforce_convergence(d)  # not the cap: no error
    assert "900 K" in d["problems"][0] and len(d["problems"]) == 1
    capped = convergence_decision(bad, 3, 3, 0.05, 0.15, "error")
    assert capped["final"] and capped["verdict"] == "failed"
    with pytest.raises(ActiveLearningUnconvergedError, match=r"max_rounds = 3.*30\.0% .* 900 K"):
        enforce_convergence(capped)
    allowed = convergence_decision(bad, 3, 3, 0.05, 0.15, "warn")
    assert allowed["verdict"] == "allowed by config"
    enforce_convergence(allowed)
    assert final_round([d | {"round": 0}, d | {"round": 1}, allowed | {"round": 2}]) == 2
    with pytest.raises(ActiveLearningError, match="no final round"):
        final_round([d | {"round": 0}])


def test_sel_fits_only_when_no_count_grows():
    assert sel_fits({"rcut": [40, 80]}, {"rcut": [46, 92]})
    assert not sel_fits({"rcut": [50, 80]}, {"rcut": [46, 92]})
    assert not sel_fits({"rcut": [40]}, {"rcut": [46, 92]})
    assert sel_fits({"a": 10}, {"a": 12}) and not sel_fits({"a": 13}, {"a": 12})


def test_bad_settings_are_named():
    with pytest.raises(ActiveLearningError, match=r"active_learning\.trust_hi_eV_A"):
        ActiveSettings(trust_lo_eV_A=0.5, trust_hi_eV_A=0.1)
    with pytest.raises(ActiveLearningError, match=r"active_learning\.stride_steps"):
        ActiveSettings(steps=10, stride_steps=20)
    with pytest.raises(ActiveLearningError, match=r"active_learning\.convergence\.steps"):
        ActiveSettings(stride_steps=20, convergence={"steps": 10, "action": "error"})
    with pytest.raises(ActiveLearningError, match=r"active_learning: unknown key\(s\) stepz"):
        ActiveSettings.from_config({"stepz": 3})


def test_active_frames_join_the_split_after_the_reference_frames(tmp_path):
    from ase.calculators.singlepoint import SinglePointCalculator

    from ionscale.reference.stage import write_frames

    def labelled(n, tag):
        out = []
        for i, a in enumerate(_frames(n)):
            a.calc = SinglePointCalculator(a, energy=-1.0 * i, forces=np.zeros((1, 3)))
            a.info.update(frame_id=f"{tag}{i}", config_type=tag, li_fraction=0.0)
            out.append(a)
        return out

    ref, al = tmp_path / "ref.extxyz", tmp_path / "al.extxyz"
    write_frames(ref, labelled(4, "ref"))
    write_frames(al, labelled(10, "al"))
    split = tmp_path / "split.json"
    split.write_text('{"train": [0, 1, 2], "validation": [3]}')
    frames, s = combined_frames_and_split(ref, split, [al], 0.2)
    assert len(frames) == 14
    assert s["validation"] == [3, 4 + 4, 4 + 9]
    assert s["train"] == [0, 1, 2] + [4 + i for i in range(10) if i not in (4, 9)]
    assert [frames[i].info["frame_id"] for i in s["validation"]] == ["ref3", "al4", "al9"]


@pytest.fixture(scope="module")
def li_models(request):
    return tiny_li_models(request.config.cache.mkdir("ionscale-md-models"))


def _md(**kw):
    base = dict(temperature_K=600.0, timestep_fs=1.0, equilibration_ensemble="nvt",
                equilibration_steps=0, production_steps=100, sample_stride_steps=10,
                mobile_species="Li", seed=3)  # fmt: skip
    base.update(kw)
    return MDSettings(**base)


@pytest.mark.engine
def test_exploration_records_each_frame_with_its_own_deviation(li_models):
    """The deviation stored with a frame is the ensemble's max force deviation of that frame,
    recomputed here with DeePMD-kit's Python inference (DP-GEN's definition)."""
    from deepmd.infer import DeepPot

    cell = build_md_cell(bcc_li(), [2, 2, 2], "Li", mobile_vacancies=1, seed=2)
    result = explore(cell, li_models, _md(), steps=100, stride_steps=20)
    assert result.stopped is None
    assert len(result.frames) == 5 and list(result.steps) == [20, 40, 60, 80, 100]
    assert all(len(f) == len(cell) for f in result.frames)
    assert not np.allclose(result.frames[0].positions, result.frames[-1].positions)
    pots = [DeepPot(str(m)) for m in li_models]
    for frame, dev in zip(result.frames, result.max_force_deviation_eV_A, strict=True):
        coord = frame.positions.reshape(1, -1)
        box = frame.cell.array.reshape(1, -1)
        types = [0] * len(frame)
        forces = np.array([p.eval(coord, box, types)[1].reshape(-1, 3) for p in pots])
        sigma = np.sqrt(np.mean(np.sum((forces - forces.mean(axis=0)) ** 2, axis=2), axis=0))
        assert dev == pytest.approx(sigma.max(), rel=1e-5, abs=1e-7)


@pytest.mark.engine
def test_exploration_stops_at_a_blowup_and_keeps_the_frames_before_it(li_models):
    cell = build_md_cell(bcc_li(), [2, 2, 2], "Li", mobile_vacancies=1, seed=2)
    result = explore(cell, li_models, _md(timestep_fs=50.0), steps=2000, stride_steps=10)
    assert result.stopped is not None and result.stopped.startswith("MD at T = 600 K")
    assert 1 <= len(result.frames) < 200
    assert len(result.max_force_deviation_eV_A) == len(result.frames)
    for frame in result.frames:  # none the reference checks would reject as too close
        assert closest_pair(frame)[0] >= 0.9


# -- closing the loop over the thermo orderings --------------------------------------------------
def test_held_out_orderings_are_a_reproducible_share():
    from ionscale.active import held_out

    ids = [f"ord{k:05d}" for k in range(2000)]
    draw = [held_out(i, 0.3, seed=7) for i in ids]
    assert draw == [held_out(i, 0.3, seed=7) for i in ids]  # the same in every rule
    assert abs(np.mean(draw) - 0.3) < 4 * np.sqrt(0.3 * 0.7 / len(ids))
    assert draw != [held_out(i, 0.3, seed=8) for i in ids]
    assert not any(held_out(i, 0.0, seed=7) for i in ids)


def test_ordering_settings_name_bad_keys():
    from ionscale.active import OrderingSettings

    with pytest.raises(ActiveLearningError, match=r"active_learning\.orderings"):
        OrderingSettings.from_config({"n_frame": 3})


@pytest.mark.engine
def test_ordering_candidates_skip_held_out_and_end_members_and_rank_by_spread(tiny_dp):
    from ionscale.active import OrderingSettings, held_out, ordering_candidates
    from ionscale.thermo.atomistic import RelaxSettings
    from ionscale.thermo.structures import load_host

    host = load_host(prototype="LiC6")
    settings = OrderingSettings(n_frames=3, max_supercell_size=3, held_out_fraction=0.4)
    got = ordering_candidates(
        host, tiny_dp, settings, RelaxSettings(max_steps=20, relax_cell=False), seed=11
    )
    ids = [a.info["ordering_id"] for a in got.frames]
    assert ids and not any(held_out(i, 0.4, seed=11) for i in ids)
    assert all(0 < a.info["li_fraction"] < 1 for a in got.frames)
    assert all("X" not in a.get_chemical_symbols() for a in got.frames)
    assert len(got.picked) == min(3, len(got.frames))
    spreads = got.spread_eV_atom[got.picked]
    assert np.all(np.diff(spreads) <= 0)  # largest first
    assert spreads[-1] >= np.delete(got.spread_eV_atom, got.picked).max(initial=0.0)
    c = got.counts
    assert c["eligible"] + c["held_out"] == c["enumerated"] - 2  # the two end members
