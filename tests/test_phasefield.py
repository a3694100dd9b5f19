"""Phase-field stage: Cahn–Hilliard identities and analytic solutions, reproducibility, bad input,
and the same run from callables and from a parameters.h5 built from the same analytic f.

Known answers used here: the regular-solution free energy f = Ω c(1 − c) + kT[c ln c + ...]
(binodal from ln((1 − c)/c) = χ(1 − 2c), spinodal c(1 − c) = 1/(2χ), χ = Ω/kT), the linear
dispersion relation ω(k) = −M(c₀) k² (f''(c₀) + κ k²) of Cahn–Hilliard, and the equilibrium
interface c = ½[1 + tanh(x/δ)], δ = √(2κ/W), of the double well f = W c²(1 − c)².
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from scipy.optimize import brentq, curve_fit

from ionscale.fem import analytic
from ionscale.handoff import ContinuumParameters, read_parameters
from ionscale.io import read_provenance
from ionscale.phasefield import (
    CahnHilliardCase,
    CahnHilliardModel,
    FreeEnergy,
    PhaseFieldError,
    SolverSettings,
    SpectralGrid,
    StepControl,
    analysis,
    darken_mobility,
    integrate,
    run_case,
    simulate,
)
from ionscale.phasefield import cahn_hilliard as ch
from ionscale.phasefield.plots import plot_history, plot_snapshots
from ionscale.provenance import Provenance
from ionscale.units import BOLTZMANN_eV_K

T = 300.0
KT = BOLTZMANN_eV_K * T
CHI = 3.0  # Ω / kT: spinodal 0.2113–0.7887, binodal 0.0707–0.9293
D_CM2_S = 1e-9


def regular_solution_kt(chi: float = CHI):
    """f̃ = f/kT of the regular solution and its derivatives (dimensionless model)."""
    f = lambda c: chi * c * (1 - c) + c * np.log(c) + (1 - c) * np.log1p(-c)  # noqa: E731
    df = lambda c: chi * (1 - 2 * c) + np.log(c) - np.log1p(-c)  # noqa: E731
    d2f = lambda c: -2 * chi + 1 / (c * (1 - c))  # noqa: E731
    return f, df, d2f


def regular_solution_parameters(temperatures_K=(280.0, 300.0, 320.0)) -> ContinuumParameters:
    """A handoff parameter set whose f(x, T) is the regular solution (the known answer)."""
    return analytic.regular_solution_parameters(
        chi=CHI,
        e0_eV=0.0,
        temperatures_K=temperatures_K,
        diffusivity_300K_cm2_s=D_CM2_S,
        n_x=2001,
    )


def small_case(**kw) -> CahnHilliardCase:
    values = dict(
        name="t",
        temperature_K=T,
        mean_composition=0.5,
        kappa_eV_nm2=2 * KT,
        grid=(32, 32),
        dx_nm=1.0,
        final_time_t0=100.0,
        seed=3,
    )
    values.update(kw)
    return CahnHilliardCase(**values)


# -- spectral grid and analysis -----------------------------------------------------------------
def test_spectral_derivatives_and_parseval():
    grid = SpectralGrid((32, 24), (0.5, 0.25))
    x = np.arange(32)[:, None] * 0.5
    y = np.arange(24)[None, :] * 0.25
    kx, ky = 2 * np.pi * 3 / 16, 2 * np.pi * 2 / 6
    u = np.sin(kx * x) * np.cos(ky * y)
    gx, gy = grid.gradient(grid.rfft(u))
    assert np.allclose(gx, kx * np.cos(kx * x) * np.cos(ky * y), atol=1e-12)
    assert np.allclose(gy, -ky * np.sin(kx * x) * np.sin(ky * y), atol=1e-12)
    mean_grad2 = grid.spectral_mean(grid.k2, grid.rfft(u))
    assert mean_grad2 == pytest.approx(np.mean(gx**2 + gy**2), rel=1e-12)
    assert grid.spectral_mean(1.0, grid.rfft(u)) == pytest.approx(np.mean(u**2), rel=1e-12)
    # a pure sinusoid along x: domain length = its wavelength
    wave = np.cos(kx * x) * np.ones((1, 24))
    assert analysis.domain_length(grid, grid.rfft(wave)) == pytest.approx(2 * np.pi / kx)


def test_regular_solution_gap_spinodal_and_interface():
    fe = FreeEnergy.regular_solution(CHI * KT, T)
    binodal = brentq(lambda c: np.log((1 - c) / c) - CHI * (1 - 2 * c), 1e-6, 0.49)
    gaps = analysis.miscibility_gaps(fe.f_eV, fe.sample_range, 1e-4 * KT)
    assert len(gaps) == 1
    assert gaps[0].low == pytest.approx(binodal, abs=5e-4)  # sampled hull
    assert gaps[0].high == pytest.approx(1 - binodal, abs=5e-4)
    (gap,) = analysis.miscibility_gaps(fe.f_eV, fe.sample_range, 1e-4 * KT, dfdc=fe.dfdc_eV)
    assert gap.low == pytest.approx(binodal, abs=1e-9)  # refined common tangent
    assert gap.high == pytest.approx(1 - binodal, abs=1e-9)
    ((lo, hi),) = analysis.spinodal_intervals(fe.d2fdc2_eV, fe.sample_range)
    s = 0.5 * (1 - np.sqrt(1 - 2 / CHI))
    assert lo == pytest.approx(s, abs=1e-6) and hi == pytest.approx(1 - s, abs=1e-6)
    assert fe.spinodal_center() == pytest.approx(0.5, abs=1e-6)
    # double well W c²(1 − c)²: width 2δ = √(8κ/W), energy √(2κW)/6
    w, kappa = 0.4, 0.7
    well = lambda c: w * c**2 * (1 - c) ** 2  # noqa: E731
    props = analysis.interface_properties(well, analysis.MiscibilityGap(0.0, 1.0, w / 16), kappa)
    assert props["width"] == pytest.approx(np.sqrt(8 * kappa / w), rel=1e-6)
    assert props["energy_per_site_density"] == pytest.approx(np.sqrt(2 * kappa * w) / 6, rel=1e-5)
    # no gap and no spinodal above the critical temperature (χ < 2)
    hot = FreeEnergy.regular_solution(1.5 * KT, T)
    assert analysis.miscibility_gaps(hot.f_eV, hot.sample_range, 1e-4 * KT) == []
    with pytest.raises(ValueError, match="no spinodal"):
        hot.spinodal_center()


# -- conservation and energy --------------------------------------------------------------------
@pytest.mark.parametrize("grid", [(64, 64), (16, 16, 16)], ids=["2d", "3d"])
def test_mass_conserved_and_energy_never_increases(grid):
    """Long spinodal decomposition with the Darken mobility under adaptive steps."""
    fe = FreeEnergy.regular_solution(CHI * KT, T)
    case = small_case(grid=grid, final_time_t0=50_000.0 if len(grid) == 2 else 400.0)
    result = simulate(case, fe, D_CM2_S)
    hist = result.history
    assert result.raw.n_steps >= (2000 if len(grid) == 2 else 200)
    mean = hist["mean_composition"]
    assert np.max(np.abs(mean - mean[0])) / mean[0] < 1e-10
    assert mean[0] == pytest.approx(0.5, abs=1e-15)
    energy = hist["free_energy_eV_per_site"]
    assert np.all(np.diff(energy) <= 1e-12 * KT * np.maximum(1, np.abs(energy[:-1]) / KT))
    assert energy[-1] < energy[0]
    assert result.summary["outcome"]["phase_separated"]
    # the scheme itself kept the energy down: the energy guard never had to reject a step
    assert result.raw.n_rejected_energy == 0


def test_energy_never_increases_for_huge_fixed_steps():
    """Constant mobility, s = 1: the Shen–Yang bound holds for any Δt (here 250× the explicit
    stability limit 2/(M κ k_max⁴)), with no error control and no rejection."""
    f, df, d2f = regular_solution_kt()
    grid = SpectralGrid((64, 64), 1.0)
    kappa, mobility = 1.0, 0.25
    explicit_limit = 2 / (mobility * kappa * grid.k2.max() ** 2)
    model = CahnHilliardModel(grid, f, df, d2f, kappa, mobility, (0.0, 1.0), stabilisation=1.0)
    u0 = ch.initial_field(grid.shape, 0.5, 0.05, seed=1)
    dt = 250 * explicit_limit
    control = StepControl(adaptive=False, dt_initial=dt, energy_control=False)
    u, hist = integrate(model, u0, 300 * dt, control)
    energy = hist.array("energy")
    assert hist.n_steps == 300
    assert np.all(np.diff(energy) <= 1e-13)
    assert u.std() > 0.3  # it phase separated meanwhile
    assert abs(u.mean() - 0.5) < 1e-13


# -- linear stability ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("c0", "mode"),
    [(0.5, 10), (0.15, 10), (0.5, 20)],
    ids=["inside-spinodal-grows", "outside-spinodal-decays", "short-wave-decays"],
)
def test_linear_dispersion(c0, mode):
    """A small sinusoid grows or decays at ω(k) = −M(c₀) k² (f''(c₀) + κ k²), within 2 %."""
    f, df, d2f = regular_solution_kt()
    n, kappa, eps = 64, 1.0, 1e-5
    grid = SpectralGrid((n, 8), 1.0)
    k = 2 * np.pi * mode / n
    omega = -darken_mobility(c0) * k**2 * (d2f(c0) + kappa * k**2)
    model = CahnHilliardModel(grid, f, df, d2f, kappa, darken_mobility, (0.0, 1.0))
    x = np.arange(n)[:, None] * np.ones((1, 8))
    u0 = c0 + eps * np.cos(k * x)
    t_final = 2.0 / abs(omega)
    control = StepControl(rtol=1e-5, atol=1e-15)
    u, _ = integrate(model, u0, t_final, control)
    amplitude = 2 * np.abs(np.fft.rfft(u[:, 0] - c0)[mode]) / n
    rate = np.log(amplitude / eps) / t_final
    assert np.sign(rate) == np.sign(omega)
    assert rate == pytest.approx(omega, rel=0.02)


def test_linear_stage_resolved_at_default_settings():
    """At the default solver settings (what users run) every unstable Fourier mode of a noisy
    homogeneous state grows at σ(k) = −M k² (f'' + κ k²) within 2 % over four e-folds of the
    fastest one. Noise of 1e-4: far below any absolute tolerance floor a default might set."""
    f, df, d2f = regular_solution_kt()
    c0, kappa, n = 0.5, 1.0, 64
    grid = SpectralGrid((n, n), 1.0)
    model = CahnHilliardModel(grid, f, df, d2f, kappa, darken_mobility, (0.0, 1.0))
    u0 = ch.initial_field(grid.shape, c0, 1e-4, seed=0)
    sigma = -darken_mobility(c0) * grid.k2 * (d2f(c0) + kappa * grid.k2)
    t_final = 4.0 / sigma.max()
    u, _ = integrate(model, u0, t_final, SolverSettings().control())
    unstable = sigma > 0.2 * sigma.max()
    grown = np.abs(grid.rfft(u - c0))[unstable] / np.abs(grid.rfft(u0 - c0))[unstable]
    rate = np.log(grown) / t_final
    assert np.max(np.abs(rate / sigma[unstable] - 1)) < 0.02


# -- equilibrium interface ----------------------------------------------------------------------
def test_equilibrium_interface_is_tanh():
    """1-D double well: the relaxed interface is ½[1 + tanh((x − x₀)/δ)], δ = √(2κ/W)."""
    w, kappa = 1.0, 1.0
    f = lambda c: w * c**2 * (1 - c) ** 2  # noqa: E731
    df = lambda c: 2 * w * c * (1 - c) * (1 - 2 * c)  # noqa: E731
    d2f = lambda c: w * (2 - 12 * c + 12 * c**2)  # noqa: E731
    n, dx = 256, 0.5
    length = n * dx
    grid = SpectralGrid((n,), dx)
    x = np.arange(n) * dx
    u0 = np.where((x > length / 4) & (x < 3 * length / 4), 1.0, 0.0)
    model = CahnHilliardModel(grid, f, df, d2f, kappa, 1.0, (-1.0, 2.0))
    u, _ = integrate(model, u0, 200.0, StepControl(rtol=1e-4, atol=1e-8))
    delta = np.sqrt(2 * kappa / w)
    near = np.abs(x - length / 4) < 8 * delta
    profile = lambda x, x0, d: 0.5 * (1 + np.tanh((x - x0) / d))  # noqa: E731
    (x0, d_fit), _ = curve_fit(profile, x[near], u[near], p0=(length / 4, 1.0))
    assert d_fit == pytest.approx(delta, rel=0.01)
    assert np.max(np.abs(u[near] - profile(x[near], x0, delta))) < 2e-3
    assert u.min() > -1e-3 and u.max() < 1 + 1e-3  # plateaus at the binodals 0 and 1


# -- reproducibility ----------------------------------------------------------------------------
def test_same_case_and_seed_give_identical_fields():
    fe = FreeEnergy.regular_solution(CHI * KT, T)
    a = simulate(small_case(), fe, D_CM2_S, master_seed=5)
    b = simulate(small_case(), fe, D_CM2_S, master_seed=5)
    assert np.array_equal(a.final_field, b.final_field)
    assert np.array_equal(
        a.history["free_energy_eV_per_site"], b.history["free_energy_eV_per_site"]
    )
    c = simulate(small_case(seed=4), fe, D_CM2_S, master_seed=5)
    assert not np.array_equal(a.final_field, c.final_field)


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "diffusivity", "message"),
    [
        ({"grid": (0, 16)}, D_CM2_S, "positive integer"),
        ({"grid": (16.5, 16)}, D_CM2_S, "positive integer"),
        ({"grid": (16, -4, 8)}, D_CM2_S, "positive integer"),
        ({"kappa_eV_nm2": -0.1}, D_CM2_S, "kappa_eV_nm2"),
        ({}, -1e-9, "diffusivity"),
        ({"mean_composition": 1.2}, D_CM2_S, "mean_composition 1.2"),
        ({"mean_composition": 0.995, "noise_amplitude": 0.01}, D_CM2_S, "where f is defined"),
        ({"mean_composition": "middle"}, D_CM2_S, "mean_composition"),
        ({"temperature_K": -3.0}, D_CM2_S, "temperature_K"),
    ],
)
def test_bad_input_fails_before_time_stepping(monkeypatch, changes, diffusivity, message):
    def no_stepping(*args, **kwargs):
        raise AssertionError("time stepping started")

    monkeypatch.setattr(ch, "integrate", no_stepping)
    fe = FreeEnergy.regular_solution(CHI * KT, T, c_range=(0.01, 0.99))
    with pytest.raises(ValueError, match=message):
        simulate(small_case(**changes), fe, diffusivity)


def test_bad_model_input():
    f, df, d2f = regular_solution_kt()
    grid = SpectralGrid((8, 8), 1.0)
    with pytest.raises(ValueError, match="mobility"):
        CahnHilliardModel(grid, f, df, d2f, 1.0, -0.5, (0.0, 1.0))
    with pytest.raises(ValueError, match="kappa"):
        CahnHilliardModel(grid, f, df, d2f, -1.0, 1.0, (0.0, 1.0))
    negative = CahnHilliardModel(grid, f, df, d2f, 1.0, lambda c: c - 0.6, (0.0, 1.0))
    with pytest.raises(ValueError, match="mobility"):
        integrate(negative, np.full((8, 8), 0.5), 1.0, StepControl())
    with pytest.raises(ValueError, match="positive integer"):
        SpectralGrid((8, 0), 1.0)
    # f defined on (0.3, 0.7) only, binodals at 0.07 and 0.93: phase separation drives c out of
    # the domain of f; the run stops with a clear error instead of inventing numbers
    model = CahnHilliardModel(grid, f, df, d2f, 1.0, 1.0, (0.3, 0.7))
    u0 = ch.initial_field(grid.shape, 0.5, 0.05, seed=0)
    for control in (StepControl(), StepControl(adaptive=False, dt_initial=0.5)):
        with pytest.raises(PhaseFieldError, match="where f is defined"):
            integrate(model, u0, 1000.0, control)


def test_handoff_temperature_outside_table_is_named():
    params = regular_solution_parameters(temperatures_K=(280.0, 320.0))
    with pytest.raises(ValueError, match="temperature_K = 400"):
        FreeEnergy.from_handoff(params, 400.0)


# -- handoff file --------------------------------------------------------------------------------
def test_handoff_file_gives_the_same_run_as_callables(tmp_path):
    path = tmp_path / "parameters.h5"
    regular_solution_parameters().write(path, Provenance(stage="test"))
    params = read_parameters(path)
    from_file = FreeEnergy.from_handoff(params, T)
    exact = FreeEnergy.regular_solution(CHI * KT, T)
    c = np.linspace(0.05, 0.95, 101)
    assert np.allclose(from_file.dfdc_eV(c), exact.dfdc_eV(c), atol=1e-9)
    assert np.allclose(from_file.d2fdc2_eV(c), exact.d2fdc2_eV(c), rtol=1e-5)
    assert float(params.diffusivity_cm2_s_at(T)) == pytest.approx(D_CM2_S, rel=1e-12)

    case = small_case(final_time_t0=150.0)
    a = simulate(case, from_file, float(params.diffusivity_cm2_s_at(T)))
    b = simulate(case, exact, D_CM2_S)
    assert a.raw.n_steps == b.raw.n_steps
    assert np.max(np.abs(a.final_field - b.final_field)) < 1e-8
    out_a, out_b = a.summary["outcome"], b.summary["outcome"]
    assert out_a["phase_separated"] and out_b["phase_separated"]
    for key in ("time_to_phase_separation_s", "domain_length_nm", "equilibrium_composition_std"):
        assert out_a[key] == pytest.approx(out_b[key], rel=1e-6), key


def test_run_case_writes_fields_summary_and_plots(tmp_path):
    params = regular_solution_parameters()
    case = small_case(mean_composition="spinodal_center", final_time_t0=300.0)
    solver = SolverSettings(n_snapshots=5)
    fields, summary_path = tmp_path / "fields.h5", tmp_path / "summary.json"
    prov = Provenance(stage="phasefield", config={"case": "t"})
    summary = run_case(case, solver, params, fields, summary_path, prov, master_seed=1)

    on_disk = json.loads(summary_path.read_text())
    assert on_disk["outcome"] == json.loads(json.dumps(summary["outcome"]))
    assert on_disk["mean_composition"] == pytest.approx(0.5, abs=1e-3)
    assert on_disk["mean_composition_from"] == "spinodal_center"
    assert on_disk["outcome"]["phase_separated"]
    fractions = on_disk["outcome"]["phase_fractions"]
    assert fractions["li_rich"] + fractions["li_poor"] == pytest.approx(1.0)
    assert fractions["li_rich"] == pytest.approx(
        on_disk["outcome"]["lever_rule_fraction_li_rich"], abs=0.1
    )
    assert on_disk["thermodynamics"]["interface_energy_J_m2"] > 0
    assert on_disk["time_unit_t0_s"] == pytest.approx(1e-14 / D_CM2_S)
    assert read_provenance(fields)["stage"] == "phasefield"

    with h5py.File(fields, "r") as h5:
        assert h5["snapshots/c"].shape == (5, 32, 32)
        times = h5["snapshots/time_s"][()]
        assert times[0] == 0 and times[-1] == pytest.approx(on_disk["final_time_s"])

        def has_units(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert "units" in obj.attrs, name

        h5.visititems(has_units)
        assert h5["history/free_energy_eV_per_site"].attrs["units"] == "eV/site"
        assert np.array_equal(h5["snapshots/c"][0].shape, h5["grid/shape"][()])

    snap, hist = tmp_path / "snapshots.png", tmp_path / "history.png"
    plot_snapshots(fields, snap)
    plot_history(fields, on_disk, hist)
    assert snap.stat().st_size > 10_000 and hist.stat().st_size > 10_000
