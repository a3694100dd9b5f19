"""Pulay correction of plane-wave stresses and the reference convergence gate.

The correction is an identity to check on known numbers (isotropic, (2/3) E_cut ∂E/∂E_cut / V,
compressive for ∂E/∂E_cut < 0, additive per species) and, with GPAW, a physical statement: the
corrected stress of AB graphite at a low cutoff is close to the analytic stress at a high one,
while the uncorrected one is not.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from ionscale.config import ConfigError
from ionscale.gates import ALLOWED, FAILED, GateVerdict, enforce, verdict_of
from ionscale.reference.calculators import CalculatorSettings
from ionscale.reference.convergence import (
    ConvergenceError,
    ConvergenceSettings,
    compare,
    energy_residuals,
    select_frames,
    verdict,
)
from ionscale.reference.pulay import (
    PulayCorrection,
    PulaySettings,
    check_calibration_cells,
    check_settings,
    fit_coefficients,
)
from ionscale.reference.structures import load_structure
from ionscale.units import EV_PER_A3_TO_GPA


def _labelled(atoms: Atoms, energy=0.0, forces=None, stress=None) -> Atoms:
    a = atoms.copy()
    a.calc = SinglePointCalculator(
        a,
        energy=energy,
        free_energy=energy,
        forces=np.zeros((len(a), 3)) if forces is None else forces,
        stress=np.zeros(6) if stress is None else np.asarray(stress, dtype=float),
    )
    return a


def test_correction_is_isotropic_compressive_and_per_species():
    graphite = load_structure(prototype="graphite-AB")
    c = PulayCorrection(400.0, {"C": -0.0017, "Li": 0.0})
    shear = [0.0, 0.0, 0.0, 0.01, -0.02, 0.03]
    out = c.apply(_labelled(graphite, stress=shear))
    expected = 2 / 3 * 400.0 * 4 * -0.0017 / graphite.get_volume()
    s = out.get_stress(voigt=True)
    np.testing.assert_allclose(s[:3], expected)
    np.testing.assert_allclose(s[3:], shear[3:])  # shear untouched
    assert expected < 0 and out.info["pulay_stress_GPa"] == pytest.approx(
        expected * EV_PER_A3_TO_GPA
    )
    # extensive: a doubled cell gets the same stress
    doubled = c.apply(_labelled(graphite.repeat((2, 1, 1))))
    np.testing.assert_allclose(doubled.get_stress(voigt=True)[:3], expected)
    # a disabled correction changes nothing
    off = PulayCorrection(400.0, {}, enabled=False).apply(_labelled(graphite, stress=shear))
    np.testing.assert_allclose(off.get_stress(voigt=True), shear)


def test_fit_gives_back_per_species_terms_and_refuses_what_it_cannot_separate():
    lic6 = load_structure(prototype="LiC6")
    graphite = load_structure(prototype="graphite-AB")
    li = load_structure(prototype="Li-bcc")
    true = {"C": -0.0017, "Li": -0.0003}
    cells = [lic6, graphite, li]
    de = [sum(true[s] for s in a.get_chemical_symbols()) for a in cells]
    got = fit_coefficients(cells, de)
    assert got == pytest.approx(true)
    check_calibration_cells({"structure": lic6, "host": graphite})
    with pytest.raises(ConfigError, match=r"reference\.pulay_correction"):
        check_calibration_cells({"structure": lic6})


def test_settings_need_a_plane_wave_code_and_a_small_step():
    check_settings(CalculatorSettings(name="gpaw", cutoff_eV=400), PulaySettings(True, 20.0))
    with pytest.raises(ConfigError, match=r"pulay_correction\.enabled"):
        check_settings(CalculatorSettings(name="cp2k"), PulaySettings(True, 20.0))
    with pytest.raises(ConfigError, match="delta_cutoff_eV"):
        check_settings(CalculatorSettings(cutoff_eV=400), PulaySettings(True, 150.0))
    check_settings(CalculatorSettings(name="cp2k"), PulaySettings(False, 20.0))


def test_tight_settings_must_be_at_least_the_configured_ones():
    calc = CalculatorSettings(cutoff_eV=500, kpoint_density_per_A=3.0)
    tight = ConvergenceSettings(cutoff_eV=1000).tight(calc)
    assert (tight.cutoff_eV, tight.kpoint_density_per_A) == (1000, 3.0)
    with pytest.raises(ConfigError, match=r"reference\.convergence"):
        ConvergenceSettings(cutoff_eV=400).tight(calc)
    with pytest.raises(ConfigError, match="k-point"):
        ConvergenceSettings(cutoff_eV=1000, kpoint_density_per_A=2.0).tight(calc)


def test_energy_residual_removes_a_per_species_shift_only():
    lic6 = load_structure(prototype="LiC6")
    graphite = load_structure(prototype="graphite-AB")
    li = load_structure(prototype="Li-bcc")
    cells = [lic6, graphite, li, lic6.repeat((1, 1, 2))]
    shift = {"C": -0.05, "Li": 0.01}
    labels = [_labelled(a, energy=-1.0 * len(a)) for a in cells]
    tight = [
        _labelled(a, energy=-1.0 * len(a) + sum(shift[s] for s in a.get_chemical_symbols()))
        for a in cells
    ]
    np.testing.assert_allclose(energy_residuals(labels, tight), 0.0, atol=1e-12)
    tight[0] = _labelled(cells[0], energy=tight[0].get_potential_energy() + 0.07)
    assert np.abs(energy_residuals(labels, tight)).max() > 1e-3


def test_verdict_names_frame_quantity_and_tolerance():
    graphite = load_structure(prototype="graphite-AB")
    f = np.zeros((4, 3))
    f[0, 0] = 0.2
    labels = [_labelled(graphite, stress=[0.0] * 6), _labelled(graphite)]
    tight = [
        _labelled(graphite, forces=f, stress=[2.0 / EV_PER_A3_TO_GPA, 0, 0, 0, 0, 0]),
        _labelled(graphite),
    ]
    rows = compare(["a", "b"], labels, tight)
    assert rows[0]["max_stress_diff_GPa"] == pytest.approx(2.0)
    assert rows[0]["max_force_diff_meV_A"] == pytest.approx(200.0)
    problems = verdict(rows, ConvergenceSettings(max_stress_GPa=1.0, max_force_meV_A=50.0))
    assert len(problems) == 2 and all(p.startswith("a (C4)") for p in problems)
    assert "tolerance 1 GPa" in problems[1]
    # the gate: error stops the chain naming the frame, warn records it and goes on
    for action, expected in (("error", FAILED), ("warn", ALLOWED)):
        assert verdict_of(problems, action) == expected
    with pytest.raises(ConvergenceError, match=r"a \(C4\).*reference.convergence.action"):
        enforce(
            GateVerdict(FAILED, problems),
            "reference convergence",
            "reference.convergence.action",
            error=ConvergenceError,
        )
    enforce(GateVerdict(ALLOWED, problems), "reference convergence", "x")
    with pytest.raises(ValueError, match=r"reference\.convergence\.action"):
        ConvergenceSettings(action="ignore")


def test_frames_for_the_check_spread_over_x_and_prefer_small_displaced_cells():
    frames = []
    for x, n, fmax in [(0, 8, 0.0), (0, 4, 0.3), (0.5, 14, 0.2), (0.5, 7, 0.2), (1, 7, 0.0)]:
        a = bulk("Cu", cubic=True).repeat((1, 1, 1))[:1].repeat((n, 1, 1))
        forces = np.zeros((n, 3))
        forces[0, 0] = fmax
        a = _labelled(a, forces=forces)
        a.info["li_fraction"] = x
        frames.append(a)
    metal = _labelled(bulk("Li", "bcc", a=3.5), forces=np.full((1, 3), 0.3))
    metal.info["li_fraction"] = float("nan")  # the metal: a calibration cell, never picked
    frames.append(metal)
    assert select_frames(frames, 3) == [1, 3, 4]
    assert select_frames(frames, 0) == []


@pytest.mark.engine
def test_gpaw_pulay_corrected_stress_matches_a_high_cutoff(tmp_path):
    """AB graphite at its experimental cell: the corrected stress at 400 eV is within 1 GPa of
    the analytic stress at 900 eV; the uncorrected one is off by several GPa (a correction that
    is silently not applied would fail here)."""
    from ionscale.reference.labelling import label_frame
    from ionscale.reference.pulay import calibrate

    graphite = load_structure(prototype="graphite-AB")
    calc = CalculatorSettings(cutoff_eV=400, kpoint_density_per_A=1.5, dispersion="none")
    correction, report, at_cutoff = calibrate(
        {"host": graphite}, calc, PulaySettings(True, 20.0), tmp_path
    )
    assert correction.coefficients["C"] < 0
    raw = at_cutoff["host"].get_stress(voigt=True)[:3] * EV_PER_A3_TO_GPA
    corrected = correction.apply(at_cutoff["host"]).get_stress(voigt=True)[:3] * EV_PER_A3_TO_GPA
    high = CalculatorSettings(cutoff_eV=900, kpoint_density_per_A=1.5, dispersion="none")
    ref = label_frame(graphite, high, tmp_path / "high").get_stress(voigt=True)[:3]
    ref = ref * EV_PER_A3_TO_GPA
    assert np.abs(raw - ref).max() > 3.0
    assert np.abs(corrected - ref).max() < 1.0
    assert report["cells"]["host"]["stress_corrected_GPa"][:3] == pytest.approx(corrected)
