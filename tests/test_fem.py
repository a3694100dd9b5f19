"""fem stage: manufactured solution, Crank's series, lithium balance, analytic stress, MPI, errors.

Handoff-driven tests use a regular-solution free energy (ionscale.fem.analytic), whose OCV,
thermodynamic factor and D(T) are known in closed form.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from ionscale.fem import FemInputError, ParticleCase, ParticleMaterial, SolverSettings
from ionscale.fem.analytic import (
    crank_constant_flux_sphere,
    regular_solution_parameters,
    sphere_stress_from_concentration,
)
from ionscale.fem.model import (
    ChebyshevFit,
    Scales,
    cases_by_name,
    exchange_current_density_A_m2,
    fit_chebyshev,
    fit_thermodynamic_factor,
    overpotential_V,
)
from ionscale.io import ResultFileError, read_provenance
from ionscale.provenance import Provenance
from ionscale.units import BOLTZMANN_eV_K, FARADAY_C_mol, GAS_CONSTANT_J_mol_K

BIN = Path(sys.executable).parent
COARSE = SolverSettings(mesh_cells=24, time_step_tolerance=3e-3, output_frames=3)


@pytest.fixture(scope="module")
def params():
    return regular_solution_parameters()


@pytest.fixture(scope="module")
def handoff_file(tmp_path_factory, params):
    path = tmp_path_factory.mktemp("handoff") / "parameters.h5"
    params.write(path, Provenance(stage="handoff-test"))
    return path


def _case(**kw) -> ParticleCase:
    values = dict(name="t", c_rate=1.0, radius_um=5.0, temperature_K=300.0, cutoff_voltage_V=0.05)
    values.update(kw)
    return ParticleCase(**values)


# -- kinetics and material (no DOLFINx) --------------------------------------------------------
def test_butler_volmer_inverts_and_matches_symmetric_closed_form():
    T = 300.0
    f = FARADAY_C_mol / (GAS_CONSTANT_J_mol_K * T)
    for i in (-7.0, -0.3, 0.0, 0.05, 12.0):
        eta = overpotential_V(i, 1.3, T, 0.5)
        assert eta == pytest.approx(2 / f * math.asinh(i / (2 * 1.3)), abs=1e-12)
    # asymmetric α: the root satisfies the Butler–Volmer equation itself
    alpha, i0, i = 0.3, 0.7, -4.0
    eta = overpotential_V(i, i0, T, alpha)
    assert i0 * (math.exp((1 - alpha) * f * eta) - math.exp(-alpha * f * eta)) == pytest.approx(i)
    assert eta < 0  # cathodic current: lithiation needs a negative overpotential
    # i0(x) peaks at x = 1/2 for α = 1/2 and vanishes at the ends
    assert exchange_current_density_A_m2(0.5, 2.0) == pytest.approx(2.0)
    assert exchange_current_density_A_m2(0.0, 2.0) == 0.0
    assert exchange_current_density_A_m2(0.2, 2.0) == pytest.approx(
        exchange_current_density_A_m2(0.8, 2.0)
    )


def test_material_from_handoff_matches_regular_solution(params):
    T = 300.0
    mat = ParticleMaterial.from_handoff(params, T)
    kt, omega = BOLTZMANN_eV_K * T, 1.8 * BOLTZMANN_eV_K * 300.0
    x = np.linspace(0.01, 0.99, 97)
    assert np.allclose(mat.thermodynamic_factor(x), 1 - 2 * omega * x * (1 - x) / kt, atol=1e-6)
    mu = -0.12 + omega * (1 - 2 * x) + kt * np.log(x / (1 - x))
    assert np.allclose(mat.ocv_V(x), -mu, atol=1e-6)
    assert mat.diffusivity_m2_s == pytest.approx(1e-14)  # 1e-10 cm²/s at 300 K
    fit = fit_chebyshev(mat.thermodynamic_factor, mat.x_range, 1e-6)
    assert fit.degree <= 8 and np.allclose(fit(x), mat.thermodynamic_factor(x), atol=1e-6)


def test_chebyshev_fit_refuses_a_kink():
    with pytest.raises(FemInputError, match="not smooth"):
        fit_chebyshev(lambda x: np.abs(x - 0.5) + 0.1, (0.0, 1.0), 1e-6)


def test_thermodynamic_factor_is_smoothed_only_at_a_two_phase_edge():
    """A plateau (Θ = 0 inside a two-phase region) jumps at its edges: the fit smooths the
    jump over a recorded width and matches Θ away from it; a kink without such a region is
    still refused."""
    params = regular_solution_parameters(chi=3.0, x_limits=(0.02, 0.98), n_x=481, two_phase=True)
    mat = ParticleMaterial.from_handoff(params, 300.0)
    with pytest.raises(FemInputError, match="not smooth"):
        fit_chebyshev(mat.thermodynamic_factor, mat.x_range, 1e-3)
    fit = fit_thermodynamic_factor(mat.thermodynamic_factor, mat.x_range, 1e-3, 1e-2)
    assert 0 < fit.smoothing_width <= 0.04 and fit.max_error <= 1e-3
    x = np.linspace(*mat.x_range, 961)
    (edges,) = np.nonzero(np.diff(mat.thermodynamic_factor(x) > 0.1))
    far = np.min(np.abs(x[:, None] - x[edges][None, :]), axis=1) > 4 * fit.smoothing_width
    theta = mat.thermodynamic_factor(x)
    assert np.max(np.abs(fit(x[far]) - theta[far])) < 0.02 * np.max(theta)
    inside = (x > x[edges[0]] + 4 * fit.smoothing_width) & (
        x < x[edges[-1]] - 4 * fit.smoothing_width
    )
    assert np.all(fit(x[inside]) < 1e-2)  # D uses Θ_min on the plateau
    with pytest.raises(FemInputError, match="not smooth"):
        fit_thermodynamic_factor(lambda x: np.abs(x - 0.5) + 0.1, (0.0, 1.0), 1e-6, 1e-2)
    spinodal = ParticleMaterial.from_handoff(regular_solution_parameters(chi=3.0), 300.0)
    smooth = fit_thermodynamic_factor(spinodal.thermodynamic_factor, (0.02, 0.98), 1e-3, 1e-2)
    assert smooth.smoothing_width == 0.0  # Θ < Θ_min without a jump: fitted as it is


def test_scales_and_c_rate():
    mat = _constant_d_material()
    s = Scales.of(_case(c_rate=2.0, radius_um=5.0), mat)
    # 1 C: the flux that fills the sphere (volume/area = R/3) with c_max in one hour
    assert s.flux_mol_m2_s * 4 * math.pi * (5e-6) ** 2 * 1800 == pytest.approx(
        30000.0 * 4 / 3 * math.pi * (5e-6) ** 3
    )
    assert s.current_density_A_m2 == pytest.approx(-FARADAY_C_mol * s.flux_mol_m2_s)
    assert s.diffusion_time_s == pytest.approx(2500.0)


# -- bad input: clear errors naming the key or dataset, before any mesh -------------------------
@pytest.fixture
def no_meshing(monkeypatch):
    import mpi4py.MPI  # noqa: F401

    import ionscale.fem.transport as transport

    def refuse(*args, **kwargs):
        raise AssertionError("a mesh was built before the input checks")

    monkeypatch.setattr(transport, "create_radial_mesh", refuse)  # where RadialDiffusion finds it


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"radius_um": 0.0}, r"fem\.cases\[t\]\.radius_um = 0\.0: must be a positive"),
        ({"radius_um": -3.0}, r"fem\.cases\[t\]\.radius_um"),
        ({"c_rate": 0.0}, r"fem\.cases\[t\]\.c_rate = 0\.0: must be a positive"),
        ({"c_rate": -1.0}, r"fem\.cases\[t\]\.c_rate"),
        ({"cutoff_voltage_V": -2.0}, r"cutoff_voltage_V = -2\.0 V: outside the handoff's OCV"),
        ({"cutoff_voltage_V": 3.0}, r"cutoff_voltage_V = 3\.0 V: outside the handoff's OCV"),
        ({"cutoff_voltage_V": 0.2}, r"cutoff_voltage_V = 0\.2 V: the OCV at initial"),
        ({"temperature_K": 500.0}, r"fem\.cases\[t\]\.temperature_K = 500\.0"),
        ({"initial_li_fraction": 0.0005}, r"initial_li_fraction = 0\.0005: outside the handoff"),
        ({"final_li_fraction": 0.01}, r"final_li_fraction 0\.01 must be above"),
    ],
)
def test_bad_case_is_named_before_meshing(tmp_path, params, no_meshing, changes, match):
    from ionscale.fem.run import run_case

    with pytest.raises(FemInputError, match=match):
        run_case(_case(**changes), COARSE, params, tmp_path, Provenance("fem"))
    assert not list(tmp_path.iterdir())


def test_missing_handoff_dataset_is_named_before_meshing(tmp_path, handoff_file, no_meshing):
    from ionscale.fem.run import run_case

    broken = tmp_path / "parameters.h5"
    broken.write_bytes(handoff_file.read_bytes())
    with h5py.File(broken, "a") as h5:
        del h5["host/partial_molar_volume_Li_m3_mol"]
    with pytest.raises(
        ResultFileError, match="missing dataset 'host/partial_molar_volume_Li_m3_mol'"
    ):
        run_case(_case(), COARSE, broken, tmp_path / "out", Provenance("fem"))
    with pytest.raises(ResultFileError, match="does not exist"):
        run_case(_case(), COARSE, tmp_path / "nope.h5", tmp_path / "out", Provenance("fem"))
    assert not (tmp_path / "out").exists()


def test_config_cases_are_checked():
    with pytest.raises(FemInputError, match="appears more than once"):
        cases_by_name([{"name": "a"}, {"name": "a"}])
    with pytest.raises(FemInputError, match=r"fem\.cases\[b\]\.radius_um"):
        cases_by_name([{"name": "b", "radius_um": 0}])
    with pytest.raises(FemInputError, match="unknown key"):
        cases_by_name([{"name": "c", "radius": 5}])


# -- the discretisation -------------------------------------------------------------------------
@pytest.mark.engine
def test_manufactured_solution_converges_at_order_two():
    """u = 0.4 + 0.1 (1 + t) cos(πξ/2), D(u) = 1 + 2u²; linear in t, so backward Euler is exact
    in time and the error is the spatial one: O(h²) in the (r²-weighted) L2 norm for P1."""
    import mpi4py.MPI as MPI
    import ufl
    from dolfinx import fem

    from ionscale.fem.solver import RadialDiffusion

    theta_fn = lambda x: 1 + 2 * np.asarray(x) ** 2  # noqa: E731
    fit = fit_chebyshev(theta_fn, (0.0, 1.0), 1e-12)

    def exact(xi, t):
        return 0.4 + 0.1 * (1 + t) * ufl.cos(ufl.pi * xi / 2)

    def dexact(xi, t):  # ∂u/∂ξ
        return -0.1 * (1 + t) * ufl.pi / 2 * ufl.sin(ufl.pi * xi / 2)

    def d2exact(xi, t):
        return -0.1 * (1 + t) * (ufl.pi / 2) ** 2 * ufl.cos(ufl.pi * xi / 2)

    def source(xi, t):  # ∂u/∂t − ξ⁻² ∂ξ(ξ² D(u) ∂ξu)
        u, du, d2u = exact(xi, t), dexact(xi, t), d2exact(xi, t)
        dudt = 0.1 * ufl.cos(ufl.pi * xi / 2)
        return dudt - ((4 * u * du) * du + (1 + 2 * u**2) * (d2u + 2 * du / xi))

    def flux(xi, t):
        return (1 + 2 * exact(xi, t) ** 2) * dexact(xi, t)

    errors, sizes = [], [8, 16, 32, 64]
    for n in sizes:
        settings = SolverSettings(mesh_cells=n, mesh_grading=1.0)
        model = RadialDiffusion(
            MPI.COMM_WORLD, settings, 1.0, fit, source=source, surface_flux=flux
        )
        xi = model.xi
        model.t.value = 0.0
        model.x_old.interpolate(
            fem.Expression(exact(xi, model.t), model.V.element.interpolation_points)
        )
        for step in range(4):
            model.t.value = 0.25 * (step + 1)
            ok, _ = model.solve_step(0.25)
            assert ok
            model.x_old.x.array[:] = model.x.x.array
        dx = ufl.Measure("dx", domain=model.msh, metadata={"quadrature_degree": 10})
        err2 = fem.assemble_scalar(fem.form((model.x - exact(xi, model.t)) ** 2 * xi**2 * dx))
        errors.append(math.sqrt(MPI.COMM_WORLD.allreduce(err2)))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(rates > 1.9), (errors, rates)


def _constant_d_material(**kw) -> ParticleMaterial:
    values = dict(
        ocv_V=lambda x: 0.5 - 0.3 * np.asarray(x),
        thermodynamic_factor=np.ones_like,
        diffusivity_m2_s=1e-14,
        c_max_mol_m3=30000.0,
        partial_molar_volume_m3_mol=3e-6,
        youngs_modulus_GPa=30.0,
        poisson_ratio=0.3,
        x_range=(0.0, 1.0),
    )
    values.update(kw)
    return ParticleMaterial(**values)


@pytest.mark.engine
def test_constant_flux_matches_crank_series_at_the_default_settings():
    """Θ ≡ 1 and a constant surface flux, at SolverSettings() defaults: the surface and centre
    follow Crank's series (eq. 6.59) within 1 % of their own rise at every step, the first
    included (a backward-Euler first step undershoots the √τ rise by 11 % at any size)."""
    from ionscale.fem.solver import simulate

    material = _constant_d_material()
    case = _case(
        c_rate=2.16, cutoff_voltage_V=None, initial_li_fraction=0.02, final_li_fraction=0.6
    )
    res = simulate(material, case, SolverSettings())
    sc = res.scales
    assert res.stop_reason == "full_capacity"
    h = res.history
    tau = h["time_s"][1:] / sc.diffusion_time_s
    for key, xi in (("surface_li_fraction", 1.0), ("centre_li_fraction", 0.0)):
        rise = np.array(
            [crank_constant_flux_sphere(np.array([xi]), t, sc.dimensionless_flux)[0] for t in tau]
        )
        # the centre, once the diffusion layer gets there: before that its rise is
        # exponentially small and 1 % of it is below the solver's tolerance
        seen = np.abs(rise) > (0.01 * np.abs(rise).max() if xi == 0.0 else 0.0)
        rel = (h[key][1:] - 0.02)[seen] / rise[seen] - 1
        assert np.max(np.abs(rel)) < 0.01, (key, rel[:5])
        assert seen.sum() > len(tau) // 2
    prof = res.profiles
    xi = prof["r_um"] / case.radius_um
    exact = 0.02 + crank_constant_flux_sphere(xi, tau[-1], sc.dimensionless_flux)
    assert np.max(np.abs(prof["li_fraction"] - exact)) < 0.01 * np.ptp(exact) + 1e-12
    # relative error of the concentration itself, everywhere
    assert np.max(np.abs(prof["li_fraction"] / exact - 1)) < 0.01


@pytest.mark.engine
def test_stress_matches_analytic_sphere_solution():
    """A parabolic Δx(ξ) in the FE elasticity vs the closed-form sphere stress."""
    import mpi4py.MPI as MPI
    from dolfinx import fem

    from ionscale.fem.solver import RadialDiffusion, RadialElasticity

    material = _constant_d_material()
    fit = fit_chebyshev(material.thermodynamic_factor, (0.0, 1.0))
    diff = RadialDiffusion(
        MPI.COMM_WORLD, SolverSettings(mesh_cells=48, element_degree=2), 3.0, fit
    )
    a, x0 = 0.3, 0.1
    diff.x.interpolate(fem.Expression(x0 + a * diff.xi**2, diff.V.element.interpolation_points))
    mech = RadialElasticity(diff, material, x0)
    mech.solve()
    r = np.linspace(0.0, 3.0, 3001)
    E = material.youngs_modulus_GPa * 1e3
    omega_c = material.partial_molar_volume_m3_mol * material.c_max_mol_m3
    sr, st = sphere_stress_from_concentration(r, a * (r / 3.0) ** 2, E, 0.3, omega_c)
    coords = mech._coords
    for key, ref in (("radial", sr), ("hoop", st)):
        fe = mech.fields[key][0].x.array[: mech._n] * mech.stress_scale_MPa
        assert np.max(np.abs(fe - np.interp(coords, r, ref))) < 2e-3 * np.max(np.abs(ref)), key
    # free surface and symmetric centre
    assert abs(mech.point_stress(3.0)["radial"]) < 1e-3 * np.max(np.abs(sr))
    centre = mech.point_stress(0.0)
    assert centre["radial"] == pytest.approx(centre["hoop"], rel=1e-3)


# -- runs from the handoff file -----------------------------------------------------------------
@pytest.mark.engine
@pytest.mark.parametrize("direction", ["lithiation", "delithiation"])
def test_lithium_balance_and_result_files(tmp_path, handoff_file, direction):
    """Δ∫c dV equals the integrated surface flux; files carry units and provenance."""
    from ionscale.fem.run import run_case

    if direction == "lithiation":
        case = _case(c_rate=1.5, cutoff_voltage_V=0.05)
    else:
        case = _case(
            c_rate=1.5, direction=direction, initial_li_fraction=0.95, final_li_fraction=0.05,
            cutoff_voltage_V=0.2,
        )  # fmt: skip
    summary = run_case(
        case, COARSE, handoff_file, tmp_path, Provenance("fem", {"fem.case": {}}, [handoff_file])
    )
    assert summary["stop_reason"] == "cutoff_voltage"
    with h5py.File(tmp_path / "history.h5", "r") as h5:
        h = {k: h5["history"][k][()] for k in h5["history"]}
        assert all("units" in h5["history"][k].attrs for k in h5["history"])
        assert h5["history/time_s"].attrs["units"] == "s"
        assert h5["final/radial_stress_MPa"].attrs["units"] == "MPa"
    c_max, R = 30_555.0, 5e-6
    volume, area = 4 / 3 * math.pi * R**3, 4 * math.pi * R**2
    flux = case.sign * c_max * R * case.c_rate / (3 * 3600.0)  # mol m⁻² s⁻¹, inward
    li_change = c_max * volume * (h["mean_li_fraction"] - case.initial_li_fraction)
    li_in = flux * area * h["time_s"]
    assert np.allclose(li_change, li_in, rtol=1e-9, atol=1e-12 * abs(li_in[-1]))
    assert summary["lithium_balance_relative_error"] < 1e-9
    # the voltage ends on the cut-off and moves monotonically away from the OCV at the start
    assert h["voltage_V"][-1] == pytest.approx(0.05 if case.sign > 0 else 0.2, abs=2e-5)
    x_s, x_c = h["surface_li_fraction"][-1], h["centre_li_fraction"][-1]
    assert case.sign * (x_s - x_c) > 0  # Li enters (leaves) through the surface
    # the surface shell is compressed (hoop) on lithiation, stretched on delithiation
    assert case.sign * h["surface_hoop_stress_MPa"][-1] < 0
    assert (tmp_path / "solution.bp").is_dir()
    assert read_provenance(tmp_path / "summary.json")["stage"] == "fem"
    assert not [p for p in tmp_path.rglob("*") if ".partial" in p.name]


@pytest.mark.engine
def test_fast_diffusion_takes_long_steps_without_newton_failures():
    """A particle whose diffusion time is far below the fill time (uniform filling).

    Steps then span thousands of diffusion times; Newton must still reach its tolerance there
    (no rejected-step cascade), and x stays uniform: the mean follows the charge passed.
    """
    from ionscale.fem.solver import simulate

    material = _constant_d_material(diffusivity_m2_s=1e-9)  # t_d = R²/D = 25 ms at 5 µm
    case = _case(c_rate=0.2, cutoff_voltage_V=None, initial_li_fraction=0.02, final_li_fraction=0.9)
    res = simulate(material, case, COARSE)
    assert res.scales.diffusion_time_s < 1e-4 * res.history["time_s"][-1]
    assert res.stop_reason == "full_capacity"
    assert res.n_rejected <= 0.2 * res.n_steps, (res.n_steps, res.n_rejected)
    h = res.history
    assert np.max(np.abs(h["surface_li_fraction"] - h["centre_li_fraction"])) < 1e-3
    passed = 0.02 + h["time_s"] / 3600 * 0.2  # x after t at 0.2 C (1 C fills x 0→1 in 1 h)
    assert np.max(np.abs(h["mean_li_fraction"] - passed)) < 1e-6


@pytest.mark.engine
def test_capacity_falls_with_c_rate_and_slow_rate_follows_ocv(params):
    from ionscale.fem.run import check_inputs
    from ionscale.fem.solver import simulate

    caps = {}
    for rate in (0.05, 0.5, 2.0):
        case = _case(c_rate=rate, exchange_current_density_A_m2=5.0, cutoff_voltage_V=0.05)
        material = check_inputs(case, COARSE, params)
        res = simulate(material, case, COARSE)
        h = res.history
        caps[rate] = h["capacity_mAh_cm3"][-1]
        # lithiation: V = OCV(x_s) + η < OCV(x̄) at every step (x_s > x̄, OCV falls, η < 0)
        assert np.all(h["voltage_V"][1:] < h["ocv_mean_V"][1:])
        if rate == 0.05:  # near equilibrium the curve follows the handoff OCV
            mid = (h["mean_li_fraction"] > 0.2) & (h["mean_li_fraction"] < 0.8)
            assert np.max(np.abs(h["voltage_V"][mid] - h["ocv_mean_V"][mid])) < 0.01
    assert caps[0.05] > caps[0.5] > caps[2.0] > 0
    # without a voltage cut-off the run ends when the surface reaches the handoff's x range
    case = _case(c_rate=2.0, exchange_current_density_A_m2=5.0, cutoff_voltage_V=None)
    res = simulate(check_inputs(case, COARSE, params), case, COARSE)
    assert res.stop_reason == "surface_at_x_range_end"
    assert res.history["surface_li_fraction"][-1] == pytest.approx(params.x_range[1], abs=1e-6)
    assert caps[0.5] > res.history["capacity_mAh_cm3"][-1] > caps[2.0]


@pytest.mark.engine
def test_two_mpi_ranks_equal_serial(tmp_path, handoff_file):
    job = {
        "case": {"name": "mpi", "c_rate": 1.0, "cutoff_voltage_V": 0.05},
        "solver": {"mesh_cells": 20, "time_step_tolerance": 3e-3, "output_frames": 2},
        "handoff": str(handoff_file),
        "provenance": {"stage": "fem", "config": {}, "inputs": []},
    }
    runs = {}
    for ranks in (1, 2):
        out = tmp_path / f"n{ranks}"
        path = tmp_path / f"job{ranks}.json"
        path.write_text(json.dumps({**job, "outdir": str(out)}))
        cmd = [sys.executable, "-m", "ionscale.fem", str(path)]
        if ranks > 1:
            cmd = [str(BIN / "mpirun"), "-n", str(ranks), *cmd]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        with h5py.File(out / "history.h5", "r") as h5:
            runs[ranks] = {f"{g}/{k}": h5[g][k][()] for g in ("history", "final") for k in h5[g]}
        summary = json.loads((out / "summary.json").read_text())
        assert summary["numerics"]["n_ranks"] == ranks
    assert runs[1].keys() == runs[2].keys()
    for key, serial in runs[1].items():
        parallel = runs[2][key]
        assert serial.shape == parallel.shape, key
        scale = max(np.max(np.abs(serial)), 1e-30)
        assert np.max(np.abs(serial - parallel)) <= 1e-8 * scale, key


def test_chebyshev_fit_object_evaluates_like_numpy():
    fit = ChebyshevFit(np.array([1.0, 0.5, 0.25]), 0.0, 2.0, 0.0, 0.0, 2.0)
    s = np.array([-1.0, 0.0, 1.0])
    x = (s + 1) * 1.0
    assert np.allclose(fit(x), 1 + 0.5 * s + 0.25 * (2 * s**2 - 1))


@pytest.mark.engine
def test_miscibility_gap_is_regularised_and_reported():
    """χ = 3 (f'' < 0 on the spinodal): D uses Θ_min there, the interval is reported, Li is
    conserved."""
    from ionscale.fem.run import check_inputs
    from ionscale.fem.solver import simulate

    params = regular_solution_parameters(chi=3.0, x_limits=(0.02, 0.98), n_x=481)
    case = _case(c_rate=2.0, exchange_current_density_A_m2=2.0, cutoff_voltage_V=None)
    res = simulate(check_inputs(case, COARSE, params), case, COARSE)
    # Θ = 1 − 2χx(1 − x) < Θ_min inside x(1 − x) > (1 − Θ_min)/(2χ)
    half = math.sqrt(1 - 2 * (1 - COARSE.min_thermodynamic_factor) / 3.0) / 2
    ((lo, hi),) = res.clipped_intervals
    assert lo == pytest.approx(0.5 - half, abs=1e-3) and hi == pytest.approx(0.5 + half, abs=1e-3)
    assert res.stop_reason == "surface_at_x_range_end"
    h, sc = res.history, res.scales
    expected = 3 * sc.dimensionless_flux * h["time_s"] / sc.diffusion_time_s
    assert np.allclose(h["mean_li_fraction"] - case.initial_li_fraction, expected, rtol=1e-9)


@pytest.mark.engine
def test_two_phase_plateau_runs_at_the_default_fit_tolerance():
    """The handoff's f is a convex envelope (an OCV plateau with f'' = 0): the default fit takes
    the jump in Θ at the plateau's edges, Li is conserved and the voltage sits below the plateau
    during lithiation."""
    from ionscale.fem.run import check_inputs
    from ionscale.fem.solver import simulate

    params = regular_solution_parameters(chi=3.0, x_limits=(0.02, 0.98), n_x=481, two_phase=True)
    case = _case(c_rate=1.0, exchange_current_density_A_m2=2.0, cutoff_voltage_V=None)
    settings = dataclasses.replace(COARSE, fit_tolerance=SolverSettings().fit_tolerance)
    res = simulate(check_inputs(case, settings, params), case, settings)
    assert res.fit.smoothing_width > 0
    ((lo, hi),) = res.clipped_intervals
    assert 0.05 < lo < 0.12 and 0.88 < hi < 0.95  # the binodal at χ = 3: x_b = 0.0707
    h, sc = res.history, res.scales
    expected = 3 * sc.dimensionless_flux * h["time_s"] / sc.diffusion_time_s
    assert np.allclose(h["mean_li_fraction"] - case.initial_li_fraction, expected, rtol=1e-9)
    on_plateau = (h["surface_li_fraction"] > 0.15) & (h["surface_li_fraction"] < 0.85)
    assert on_plateau.sum() > 3
    assert np.all(h["voltage_V"][on_plateau] < 0.12)


# -- event location (the root finder alone, on a closed-form state) -----------------------------
class _LinearState:
    """x(Δτ) = x₀ + r Δτ for a trial step Δτ; the step fails (Newton) beyond ``dt_fail``."""

    def __init__(self, x0: float, rate: float, dt_fail: float) -> None:
        from ionscale.fem.transport import Observation

        self.obs, self.x0, self.rate, self.dt_fail, self.x = Observation, x0, rate, dt_fail, x0

    def advance(self, dt):
        if dt > self.dt_fail:
            return False, 30, 1, math.inf
        self.x = self.x0 + self.rate * dt
        return True, 2, 3, 0.0

    def observe(self):
        return self.obs(mean_x=self.x, surface_x=self.x, centre_x=self.x)


def _events(final):
    from ionscale.fem.events import EVENT_TOLERANCES

    return lambda o: {"full_capacity": (final - o.mean_x) / EVENT_TOLERANCES["full_capacity"]}


@pytest.mark.parametrize("dt_fail", [math.inf, 0.6, 0.3])
def test_event_located_or_a_step_short_where_newton_fails_beyond(dt_fail):
    """The event at Δτ = 0.5: located within its tolerance when the solves converge there; when
    every solve fails beyond Δτ = 0.3, the largest step that converges is returned short of
    the event (the time loop goes on from it) instead of an error after 60 bisections of a
    secant that, with a far-away lower end, barely moved."""
    from ionscale.fem.events import LOCATE_FALLBACK_TOLERANCES, locate_event

    state, events = _LinearState(0.0, 1.0, dt_fail), _events(0.5)
    g_lo = events(state.observe())
    dt, _obs, g, _, solves = locate_event(
        state, 1.0, g_lo, events(state.obs(1.0, 1.0, 1.0)), lambda o: o, events
    )
    if dt_fail > 0.5:
        assert abs(g["full_capacity"]) <= 1.0 and dt == pytest.approx(0.5, abs=1e-6)
    else:
        assert dt == pytest.approx(dt_fail, rel=1e-9)
        assert g["full_capacity"] > LOCATE_FALLBACK_TOLERANCES
    assert solves % 3 == 0  # three backward-Euler solves per extrapolated step
