"""The md stage: a real LAMMPS + DeePMD run writes the trajectory contract; blow-ups are caught.

The potential is a tiny real DeePMD-kit ensemble trained on GPAW-labelled bcc Li
(tests/_md_model.py, cached). Assertions are identities and contract checks: unwrapped
positions are continuous (consecutive frames differ by the minimum-image displacement), the
centre of mass stays put (zero total momentum, Nosé–Hoover conserves it), the cell volume is
the stored volume, and the model deviation is sampled where configured.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from _md_model import bcc_li, tiny_li_models

from ionscale.diffusion import msd_direct, msd_fft, read_trajectory
from ionscale.io import read_provenance
from ionscale.md import (
    FAILED_TRAJECTORY_NAME,
    MDBlowUpError,
    MDExtrapolationError,
    MDInputError,
    MDSettings,
    MDWarning,
    build_md_cell,
    pair_commands,
    read_model_deviation,
    run_md,
)
from ionscale.provenance import Provenance


@pytest.fixture(scope="session")
def li_models(request):
    return tiny_li_models(request.config.cache.mkdir("ionscale-md-models"))


@pytest.fixture(scope="module")
def li_cell():
    return build_md_cell(bcc_li(), [3, 3, 3], "Li", mobile_vacancies=1, seed=4)


def _settings(**kw) -> MDSettings:
    base = dict(
        temperature_K=300.0, timestep_fs=1.0, equilibration_ensemble="npt", barostat="aniso",
        equilibration_steps=200, production_steps=300, sample_stride_steps=10,
        model_deviation_stride_steps=20, mobile_species="Li", seed=5,
        extrapolation_action="warn",  # the seconds-trained models extrapolate; the gate's test
    )  # fmt: skip
    base.update(kw)
    return MDSettings(**base)


@pytest.mark.engine
def test_short_run_writes_valid_trajectory(li_models, li_cell, tmp_path):
    out = tmp_path / "md" / "T300K" / "trajectory.h5"
    s = _settings()
    summary = run_md(
        li_cell, li_models, s, out, Provenance("md", {"md": "test"}, li_models),
        lammps_log=tmp_path / "lammps.log",
    )  # fmt: skip
    assert out.is_file() and not (out.parent / FAILED_TRAJECTORY_NAME).exists()
    n_frames = s.production_steps // s.sample_stride_steps + 1
    assert summary.n_frames == n_frames
    with h5py.File(out, "r") as h5:
        for name in (
            "time_ps", "positions_A", "cell_A", "thermo/step", "thermo/temperature_K",
            "thermo/potential_energy_eV", "thermo/pressure_bar", "model_deviation/time_ps",
            "model_deviation/max_force_deviation_eV_A", "center_of_mass_A",
        ):  # fmt: skip
            assert name in h5, name
            assert h5[name].attrs["units"], name
        assert h5["positions_A"].attrs["units"] == "Å"
        assert h5["time_ps"].attrs["units"] == "ps"
        for key in ("temperature_K", "mobile_species", "n_atoms", "n_mobile", "timestep_fs",
                    "volume_A3"):  # fmt: skip
            assert key in h5.attrs, key
        assert h5.attrs["mobile_species"] == "Li"
        assert h5.attrs["n_mobile"] == len(li_cell) == h5.attrs["n_atoms"]
        assert h5.attrs["status"] == "complete"
        pos = h5["positions_A"][()]
        time_ps = h5["time_ps"][()]
        cell = h5["cell_A"][()]
        com = h5["center_of_mass_A"][()]
        temps = h5["thermo/temperature_K"][()]
        devi_t = h5["model_deviation/time_ps"][()]
        devi = h5["model_deviation/max_force_deviation_eV_A"][()]
        assert h5.attrs["volume_A3"] == pytest.approx(abs(np.linalg.det(cell)), rel=1e-10)
    assert pos.shape == (n_frames, len(li_cell), 3)
    np.testing.assert_allclose(time_ps, np.arange(n_frames) * s.sample_stride_steps * 1e-3)
    # unwrapped: each frame-to-frame step is the minimum-image displacement (no box jumps)
    step = np.diff(pos, axis=0)
    frac = step @ np.linalg.inv(cell)
    minimum_image = (frac - np.round(frac)) @ cell
    np.testing.assert_allclose(step, minimum_image, atol=1e-9)
    assert np.abs(step).max() < 1.0
    # zero total momentum at the start and a momentum-conserving thermostat: no COM drift
    assert np.abs(com - com[0]).max() < 1e-6
    assert np.all(np.isfinite(temps)) and 0.3 * s.temperature_K < temps.mean() < 2 * s.temperature_K
    # model deviation on every model_deviation_stride_steps-th step of production
    np.testing.assert_allclose(devi_t, np.arange(0, s.production_steps + 1, 20) * 1e-3)
    assert np.all(np.isfinite(devi)) and np.all(devi >= 0) and devi.max() > 0
    assert read_provenance(out)["stage"] == "md"
    # the diffusion stage reads the contract; its FFT MSD matches the definition on real data
    traj = read_trajectory(out)
    np.testing.assert_allclose(
        msd_fft(traj["positions_A"]), msd_direct(traj["positions_A"]), atol=1e-10
    )
    assert traj["mobile_vacancies"] == 1  # the cell's vacancies: the carriers of diffusion


@pytest.mark.engine
def test_extrapolating_run_is_a_gate(li_models, li_cell, tmp_path):
    """A trust level no potential meets: with extrapolation_action error the run stops naming
    the share and the tolerance, and the trajectory is kept as the failed partial one."""
    out = tmp_path / "md" / "T300K" / "trajectory.h5"
    s = _settings(
        trust_lo_eV_A=1e-9, trust_hi_eV_A=1e-9, equilibration_ensemble="nvt",
        extrapolation_action="error",
    )  # fmt: skip
    with pytest.raises(MDExtrapolationError, match=r"max_extrapolating_share = 0\.05"):
        run_md(li_cell, li_models, s, out, Provenance("md", {}, []))
    assert not out.exists() and (out.parent / FAILED_TRAJECTORY_NAME).is_file()
    with pytest.warns(MDWarning, match="extrapolates"):
        summary = run_md(
            li_cell, li_models, _settings(trust_lo_eV_A=1e-9, trust_hi_eV_A=1e-9,
                                          equilibration_ensemble="nvt",
                                          extrapolation_action="warn"),
            out, Provenance("md", {}, []),
        )  # fmt: skip
    assert summary.extrapolating and summary.share_above_trust_hi == 1.0


@pytest.mark.engine
def test_absurd_timestep_is_caught_as_blowup(li_models, li_cell, tmp_path):
    out = tmp_path / "md" / "T300K" / "trajectory.h5"
    s = _settings(timestep_fs=50.0, equilibration_ensemble="nvt", equilibration_steps=0,
                  production_steps=2000)  # fmt: skip
    with pytest.raises(MDBlowUpError, match=r"T = 300 K blew up in production at step \d+") as err:
        run_md(li_cell, li_models, s, out, Provenance("md", {}, []))
    assert not out.exists()
    failed = out.parent / FAILED_TRAJECTORY_NAME
    assert failed.is_file(), "the partial trajectory must be kept for inspection"
    with h5py.File(failed, "r") as h5:
        assert h5.attrs["status"].startswith("FAILED")
        assert str(err.value).split(":")[0] in h5.attrs["status"]
        assert h5["positions_A"].shape[0] >= 1
    assert not list(out.parent.glob("*.partial*"))


@pytest.mark.engine
def test_energy_far_below_the_start_is_caught_as_blowup(li_models, li_cell, tmp_path):
    """A rattled start relaxes downhill: its energy falls below the starting structure's, so a
    threshold smaller than that fall must stop the run (the guard against potential holes)."""
    start = li_cell.copy()
    start.positions += np.random.default_rng(0).normal(0.0, 0.3, start.positions.shape)
    out = tmp_path / "md" / "T10K" / "trajectory.h5"
    s = _settings(temperature_K=10.0, equilibration_ensemble="nvt", equilibration_steps=400,
                  max_energy_drop_eV_atom=1e-3, max_temperature_factor=100.0)  # fmt: skip
    with pytest.raises(MDBlowUpError, match=r"eV/atom below the starting structure's") as err:
        run_md(start, li_models, s, out, Provenance("md", {}, []))
    with h5py.File(out.parent / FAILED_TRAJECTORY_NAME, "r") as h5:
        e0 = float(h5.attrs["start_potential_energy_eV"])
    assert f"{e0:.2f} eV" in str(err.value)


def _energy_eV(atoms, models, settings, workdir):
    """Potential energy of one configuration with the md stage's pair commands (LAMMPS run 0)."""
    from ase.io import write
    from lammps import lammps

    data = workdir / "cell.lmp"
    write(data, atoms, format="lammps-data", masses=True, specorder=["Li"])
    lmp = lammps(cmdargs=["-screen", "none", "-log", "none"])
    try:
        lmp.commands_string(f"units metal\natom_style atomic\nread_data {data}\n")
        lmp.commands_string(pair_commands(["Li"], models, settings, workdir / "devi.out"))
        lmp.command("run 0")
        return float(lmp.get_thermo("pe"))
    finally:
        lmp.close()


@pytest.mark.engine
def test_zbl_overlay_is_zero_beyond_outer_and_repulsive_inside(li_models, li_cell, tmp_path):
    off, on = _settings(), _settings(zbl_enabled=True, zbl_inner_A=0.6, zbl_outer_A=1.0)
    # every pair in the bcc cell is farther apart than 1 Å: ZBL adds nothing
    assert _energy_eV(li_cell, li_models, on, tmp_path) == pytest.approx(
        _energy_eV(li_cell, li_models, off, tmp_path), abs=1e-9
    )
    squeezed = li_cell.copy()
    squeezed.positions[1] = squeezed.positions[0] + [0.5, 0.0, 0.0]
    extra = _energy_eV(squeezed, li_models, on, tmp_path) - _energy_eV(
        squeezed, li_models, off, tmp_path
    )
    assert extra > 1.0, "ZBL must repel two Li nuclei 0.5 Å apart (tens of eV)"


def test_bad_inputs_are_named(li_cell, tmp_path):
    s = _settings()
    with pytest.raises(MDInputError, match="not found"):
        run_md(li_cell, [tmp_path / "nope.pth", tmp_path / "nope2.pth"], s, tmp_path / "t.h5",
               Provenance("md"))  # fmt: skip
    model = tmp_path / "model_0.pth"
    model.write_bytes(b"x")
    with pytest.raises(MDInputError, match="at least 2 models"):
        run_md(li_cell, [model], s, tmp_path / "t.h5", Provenance("md"))
    with pytest.raises(MDInputError, match="contains no Na"):
        build_md_cell(bcc_li(), [2, 2, 2], "Na")
    with pytest.raises(MDInputError, match="mobile_vacancies = 16"):
        build_md_cell(bcc_li(), [2, 2, 2], "Li", mobile_vacancies=16)
    with pytest.raises(MDInputError, match="equilibration_ensemble"):
        _settings(equilibration_ensemble="nve")
    with pytest.raises(MDInputError, match=r"md\.sample_stride_steps"):
        _settings(sample_stride_steps=1000)
    with pytest.raises(MDInputError, match=r"md\.trust_hi_eV_A"):
        _settings(trust_lo_eV_A=0.3, trust_hi_eV_A=0.1)
    with pytest.raises(MDInputError, match=r"md\.zbl_repulsion"):
        _settings(zbl_inner_A=1.0, zbl_outer_A=0.5)
    assert not (tmp_path / "t.h5").exists()


def test_settings_from_config_and_model_deviation_file(tmp_path):
    from ionscale.config import validate_config

    cfg = validate_config({})
    s = MDSettings.from_config(cfg["md"], 600, seed=9, mobile_species="Li")
    assert s.temperature_K == 600 and s.seed == 9 and s.timestep_fs == cfg["md"]["timestep_fs"]
    # DeePMD-kit's model-deviation file: a '#' header naming the columns
    f = tmp_path / "model_devi.out"
    f.write_text(
        "#       step         max_devi_v         min_devi_v         avg_devi_v         "
        "max_devi_f         min_devi_f         avg_devi_f\n"
        "           0   1.0e-02   1.0e-03   5.0e-03   2.0e-01   1.0e-02   5.0e-02\n"
        "          10   2.0e-02   2.0e-03   6.0e-03   3.0e-01   2.0e-02   6.0e-02\n"
    )
    devi = read_model_deviation(f)
    np.testing.assert_allclose(devi["step"], [0, 10])
    np.testing.assert_allclose(devi["max_devi_f"], [0.2, 0.3])
