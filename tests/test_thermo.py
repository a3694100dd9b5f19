"""thermo stage: the integrable network, Monte Carlo, hull, phase analysis, bad input.

Known answers: the network's derivatives are those of f (finite differences); a regular
solution μ = Ω(1−2x) + kT ln(x/(1−x)) gives back its f, spinodal and binodal; Monte Carlo on a
cluster expansion with zero interactions gives the ideal lattice gas. The DeePMD-based tests use
a tiny ensemble trained on GPAW frames (tests/_thermo_dp.py) and assert bookkeeping identities.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import brentq

from ionscale.thermo.analysis import lower_envelope, spinodal_intervals, two_phase_regions
from ionscale.thermo.hull import convex_hull, formation_energies
from ionscale.thermo.montecarlo import (
    MCResult,
    MCSettings,
    MonteCarloDataError,
    check_sgc_monotone,
    lattice_gas_mu,
)
from ionscale.thermo.network import (
    FreeEnergyDataError,
    IntegrableFreeEnergy,
    NetworkSettings,
    clean_mu_data,
    fit_free_energy,
    regular_solution,
)
from ionscale.thermo.stage import check_grid_within_data, learn_free_energy
from ionscale.thermo.structures import HostLattice, HostStructureError, load_host
from ionscale.units import BOLTZMANN_eV_K

T = 300.0
KT = BOLTZMANN_eV_K * T
OMEGA = 0.1  # eV; Ω > 2kT = 0.052 eV: a miscibility gap


def lic6_host() -> HostLattice:
    from ionscale.reference.structures import lic6_aa

    return HostLattice(lic6_aa(), "Li", "LiC6 prototype")


def spinodal_analytic(omega: float, kT: float) -> tuple[float, float]:
    d = np.sqrt(1 - 2 * kT / omega)
    return (1 - d) / 2, (1 + d) / 2


def binodal_analytic(omega: float, kT: float) -> tuple[float, float]:
    # symmetric regular solution: the common tangent is horizontal, μ(x_b) = 0
    xb = brentq(
        lambda x: omega * (1 - 2 * x) + kT * np.log(x / (1 - x)),
        1e-9,
        spinodal_analytic(omega, kT)[0],
    )
    return xb, 1 - xb


# -- the integrable network -----------------------------------------------------------------------
@pytest.mark.parametrize("ideal", [True, False])
@pytest.mark.parametrize("activation", ["tanh", "softplus"])
def test_network_derivatives_are_finite_differences_of_f(ideal, activation):
    model = IntegrableFreeEnergy(16, 2, activation, ideal, T, 0.05, seed=3)
    x = np.linspace(0.05, 0.95, 37)
    _, mu, d2f = model.evaluate(x)
    h = 1e-5
    fd_mu = (model.value(x + h) - model.value(x - h)) / (2 * h)
    np.testing.assert_allclose(mu, fd_mu, rtol=1e-7, atol=1e-9)
    h2 = 1e-4
    fd_d2 = (model.value(x + h2) - 2 * model.value(x) + model.value(x - h2)) / h2**2
    np.testing.assert_allclose(d2f, fd_d2, rtol=1e-5, atol=1e-6)
    # f(0) = 0 by construction, f(1) finite with the ideal term
    assert model.value([0.0])[0] == 0.0
    assert np.isfinite(model.value([1.0])[0])


def test_network_round_trips_through_its_arrays():
    model = IntegrableFreeEnergy(8, 2, "tanh", True, T, 0.05, seed=1)
    copy = IntegrableFreeEnergy.from_arrays(model.config, model.state_arrays())
    x = np.linspace(0.1, 0.9, 9)
    np.testing.assert_array_equal(model.evaluate(x)[2], copy.evaluate(x)[2])


@pytest.fixture(scope="module")
def regular_fit():
    rng = np.random.default_rng(5)
    x = np.linspace(0.03, 0.97, 30)
    _, mu, _ = regular_solution(x, OMEGA, T)
    sigma = np.full_like(x, 1e-3)
    settings = NetworkSettings(
        width=16, form="auto", adam_steps=1500, lbfgs_steps=100, n_bootstrap=0, seed=2
    )
    return fit_free_energy(x, mu + rng.normal(0, 1e-3, len(x)), sigma, 0.0, T, settings)


def test_regular_solution_free_energy_is_recovered(regular_fit):
    assert regular_fit.form == "ideal"  # the right asymptotics win on this data
    x = np.linspace(0.02, 0.98, 400)
    f, mu, _ = regular_fit.model.evaluate(x)
    fa, mua, _ = regular_solution(x, OMEGA, T)
    assert np.max(np.abs(f - fa)) < 2e-3  # eV/site
    inner = (x > 0.05) & (x < 0.95)
    assert np.max(np.abs(mu - mua)[inner]) < 5e-3  # eV
    assert abs(regular_fit.anchor_residual_eV) < 2e-3
    assert regular_fit.rmse_validation_eV < 3e-3


def test_learned_f_honours_the_ocv_identity(regular_fit):
    """∫₀¹ OCV dx of the network's table (x = 0.02..0.98, closed-form tails) is −f(1)/e: the
    anchor the network was trained to (0 here), within its anchor residual and μ error."""
    from ionscale.thermo.gates import ocv_integral_V

    x = np.linspace(0.02, 0.98, 481)
    _, mu, _ = regular_fit.model.evaluate(x)
    integral, _ = ocv_integral_V(x, -mu, T)
    assert abs(integral - 0.0) < 3e-3  # V; f(1) is within 2 meV of its anchor
    assert integral == pytest.approx(-regular_fit.model.value([1.0])[0], abs=5e-4)


def test_regular_solution_spinodal_and_binodal(regular_fit):
    x = np.linspace(0.02, 0.98, 961)
    f, _, d2f = regular_fit.model.evaluate(x)
    (lo, hi), *rest = spinodal_intervals(x, d2f)
    assert not rest
    s_lo, s_hi = spinodal_analytic(OMEGA, KT)
    assert abs(lo - s_lo) < 0.01 and abs(hi - s_hi) < 0.01
    m = regular_fit.model
    (xa, xb, mu_c), *rest = two_phase_regions(x, f, f_fn=m.value, mu_fn=lambda v: m.evaluate(v)[1])
    assert not rest
    b_lo, b_hi = binodal_analytic(OMEGA, KT)
    assert abs(xa - b_lo) < 0.01 and abs(xb - b_hi) < 0.01
    assert abs(mu_c) < 3e-3  # the coexistence μ (plateau voltage) of the symmetric solution is 0


def test_phase_analysis_on_analytic_tables():
    x = np.linspace(0.001, 0.999, 4001)
    f, _, d2f = regular_solution(x, OMEGA, T)
    ((lo, hi),) = spinodal_intervals(x, d2f)
    np.testing.assert_allclose((lo, hi), spinodal_analytic(OMEGA, KT), atol=1e-6)
    ((xa, xb, mu_c),) = two_phase_regions(
        x,
        f,
        f_fn=lambda v: regular_solution(v, OMEGA, T)[0],
        mu_fn=lambda v: regular_solution(v, OMEGA, T)[1],
    )
    np.testing.assert_allclose((xa, xb), binodal_analytic(OMEGA, KT), atol=1e-8)
    assert abs(mu_c) < 1e-10
    # above the critical temperature Ω = 2kT there is neither
    f2, _, d2 = regular_solution(x, 0.04, T)
    assert spinodal_intervals(x, d2) == [] and two_phase_regions(x, f2) == []


# -- hull ---------------------------------------------------------------------------------------
def test_pymatgen_hull_equals_lower_envelope():
    rng = np.random.default_rng(1)
    x = np.concatenate([[0.0, 1.0], rng.uniform(0, 1, 40)])
    e = np.concatenate([[0.0, -0.1], -0.3 * x[2:] * (1 - x[2:]) + rng.normal(0, 0.03, 40)])
    hull = convex_hull(x, e)
    order = np.argsort(x)
    env = order[lower_envelope(x[order], e[order])]
    np.testing.assert_array_equal(np.sort(hull.vertex_indices), np.sort(env))
    assert np.all(hull.e_above_hull_eV_per_site >= 0)
    np.testing.assert_allclose(hull.e_above_hull_eV_per_site[hull.vertex_indices], 0, atol=1e-12)
    # voltages fall with x along a convex hull
    volts = [v for *_, v in hull.two_phase_regions()]
    assert np.all(np.diff(volts) < 0)


def test_formation_energy_references():
    # E = n e_host + N_Li mu_metal + n * dE  ->  formation energy dE per site
    e_host, mu = -55.0, -1.9
    n_sites = np.array([1, 2, 3, 4])
    n_li = np.array([0, 1, 3, 2])
    de = np.array([0.0, -0.05, -0.2, 0.01])
    energy = n_sites * e_host + n_li * mu + n_sites * de
    np.testing.assert_allclose(formation_energies(energy, n_li, n_sites, e_host, mu), de)


def test_hull_needs_end_members():
    with pytest.raises(ValueError, match="end members"):
        convex_hull(np.array([0.0, 0.5]), np.array([0.0, -0.1]))


# -- Monte Carlo --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ideal_ce():
    from ionscale.thermo.cluster_expansion import zero_interaction_expansion

    host = lic6_host()
    return host, zero_interaction_expansion(host, [6.0])


@pytest.mark.engine
def test_sgc_monte_carlo_on_zero_interactions_is_ideal_lattice_gas(ideal_ce):
    from ionscale.thermo.montecarlo import run_monte_carlo

    host, ce = ideal_ce
    settings = MCSettings(
        ensemble="sgc",
        supercell=[6, 6, 4],
        n_points=5,
        x_min=0.1,
        x_max=0.9,
        equilibration_sweeps=20,
        production_sweeps=300,
        seed=4,
    )
    r = run_monte_carlo(ce, host, T, settings)
    x_exact = 1 / (1 + np.exp(-r.control / KT))  # independent sites: exact at any size
    z = (r.li_fraction - x_exact) / r.li_fraction_uncertainty
    assert np.all(np.abs(z) < 4), z
    check_sgc_monotone(r)
    # μ data in the form the network takes
    z_mu = (r.chemical_potential_eV - lattice_gas_mu(r.li_fraction, T)) / (
        r.chemical_potential_eV_uncertainty
    )
    assert np.all(np.abs(z_mu) < 4), z_mu


@pytest.mark.engine
def test_vcsgc_monte_carlo_on_zero_interactions_gives_ideal_mu(ideal_ce):
    from ionscale.thermo.montecarlo import run_monte_carlo

    host, ce = ideal_ce
    settings = MCSettings(
        ensemble="vcsgc",
        supercell=[6, 6, 4],
        n_points=5,
        x_min=0.1,
        x_max=0.9,
        kappa=20.0,
        equilibration_sweeps=20,
        production_sweeps=300,
        seed=5,
    )
    r = run_monte_carlo(ce, host, T, settings)
    n = r.n_sites
    x = r.li_fraction
    assert np.all(np.diff(x) > 0)  # φ = −2x_target orders the points (κ pins only loosely)
    # finite N: the discrete free energy -kT ln C(N, n) differs from Stirling's by
    # ≈ kT/(2N) (1/x − 1/(1−x)) in its derivative; allow that on top of 4σ
    finite_size = KT / (2 * n) * np.abs(1 / x - 1 / (1 - x))
    err = np.abs(r.chemical_potential_eV - lattice_gas_mu(x, T))
    assert np.all(err < 4 * r.chemical_potential_eV_uncertainty + finite_size), err


def _mc_result(x, mu, sx, ensemble="sgc", temperature=T):
    n = len(x)
    return MCResult(
        temperature_K=temperature,
        ensemble=ensemble,
        control=np.asarray(mu, dtype=float),
        li_fraction=np.asarray(x, dtype=float),
        li_fraction_uncertainty=np.full(n, sx),
        chemical_potential_eV=np.asarray(mu, dtype=float),
        chemical_potential_eV_uncertainty=np.full(n, 1e-3),
        correlation_length_sweeps=np.ones(n),
        converged_autocorrelation=np.ones(n, bool),
        acceptance_ratio=np.full(n, 0.5),
        energy_eV_per_site=np.zeros(n),
        n_sites=144,
        n_samples=100,
    )


def test_non_monotone_sgc_data_is_an_error_naming_the_values():
    mu = np.linspace(-0.1, 0.1, 6)
    x = np.array([0.05, 0.2, 0.45, 0.30, 0.8, 0.95])  # drops at Δμ = 0.02 -> -0.02 ... wrong
    with pytest.raises(MonteCarloDataError, match=r"x = 0\.4500 at Δμ = -0\.0200 eV"):
        check_sgc_monotone(_mc_result(x, mu, 0.005))
    # within noise: a warning, not an error
    x_noisy = np.array([0.05, 0.2, 0.45, 0.44, 0.8, 0.95])
    with pytest.warns(UserWarning, match="not monotone"):
        check_sgc_monotone(_mc_result(x_noisy, mu, 0.01))
    # VCSGC data may have μ decreasing with x (concave f): no check
    check_sgc_monotone(_mc_result(x, mu, 0.005, ensemble="vcsgc"))


def test_temperature_without_monte_carlo_data_is_named():
    x = np.linspace(0.1, 0.9, 9)
    r = _mc_result(x, regular_solution(x, OMEGA, T)[1], 0.002, ensemble="vcsgc")
    settings = NetworkSettings(width=4, form="ideal", adam_steps=5, lbfgs_steps=0, n_bootstrap=0)
    with pytest.raises(MonteCarloDataError, match=r"T = \[400\.0\] K"):
        learn_free_energy([r], [300, 400], 0.0, np.linspace(0.1, 0.9, 9), settings)


def test_grid_outside_sampled_x_warns_with_the_values():
    with pytest.warns(UserWarning, match=r"x = 0\.01–0\.1.*outside the Monte Carlo data"):
        out = check_grid_within_data(np.linspace(0.01, 0.9, 50), np.linspace(0.1, 0.9, 9), T)
    assert out == [(0.01, 0.1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_grid_within_data(np.linspace(0.1, 0.9, 5), np.linspace(0.1, 0.9, 9), T) == []


def test_saturated_and_too_few_mu_points():
    with pytest.warns(UserWarning, match=r"x = \[0\.0, 1\.0\]"):
        x, _, _ = clean_mu_data([0.0, 0.2, 0.5, 0.7, 1.0], [-1, -0.1, 0, 0.1, 1], [1e-3] * 5, T)
    assert x.tolist() == [0.2, 0.5, 0.7]
    with pytest.raises(FreeEnergyDataError, match="1 usable"), pytest.warns(UserWarning):
        clean_mu_data([0.0, 0.2, 0.5], [-1, 0, np.nan], [1e-3] * 3, T)


def test_points_pinned_at_an_ordered_composition_become_one_window():
    from ionscale.thermo.network import merge_pinned_points

    # VCSGC holds a line compound at x = 0.5 while φ sweeps μ across its stability window
    x = np.array([0.30, 0.45, 0.5, 0.5, 0.5001, 0.55, 0.7])
    mu = np.array([-0.26, -0.25, -0.20, -0.10, 0.00, -0.05, -0.04])
    s = np.full(7, 0.002)
    xm, mm, sm = merge_pinned_points(x, mu, s, x_tolerance=0.5 / 144)
    assert xm.tolist()[:2] == [0.30, 0.45] and len(xm) == 5
    assert mm[2] == pytest.approx(-0.10) and sm[2] == pytest.approx(0.102)
    assert xm[2] == pytest.approx(np.mean([0.5, 0.5, 0.5001]))


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="unknown Monte Carlo ensemble 'canonical'"):
        MCSettings(ensemble="canonical")
    with pytest.raises(ValueError, match="unknown network form 'spline'"):
        NetworkSettings(form="spline")


def test_host_without_the_mobile_species_is_named(tmp_path):
    import ase.io
    from ase.build import bulk

    path = tmp_path / "graphite.cif"
    ase.io.write(path, bulk("C", "diamond", a=3.57))
    with pytest.raises(HostStructureError, match=f"{path}.*no Li"):
        load_host(file=path, mobile_species="Li")
    with pytest.raises(HostStructureError, match="does not exist"):
        load_host(file=tmp_path / "missing.cif")
    host = load_host(prototype="LiC6")
    assert host.n_sites == 1 and host.host_symbols == ["C"]


def test_enumeration_counts_and_end_members():
    from ionscale.thermo.structures import enumerate_orderings

    host = lic6_host()
    orderings = enumerate_orderings(host, 3)
    # symmetry-distinct binary decorations of the LiC6 lattice in 1-3 cells (Hart–Forcade)
    assert len(orderings) == 15
    x = [a.info["li_fraction"] for a in orderings]
    assert 0.0 in x and 1.0 in x
    for a in orderings:  # vacancies are kept as X on the full lattice
        assert len(a) == 7 * a.info["supercell_size"]


# -- with a real (tiny) DeePMD ensemble ---------------------------------------------------------
@pytest.mark.engine
@pytest.mark.slow
def test_orderings_with_deepmd_bookkeeping(tiny_dp, tmp_path):
    from ionscale.io import read_quantity
    from ionscale.provenance import Provenance
    from ionscale.thermo.atomistic import RelaxSettings
    from ionscale.thermo.stage import compute_orderings, write_orderings

    host = lic6_host()
    relax = RelaxSettings(fmax_eV_A=0.1, max_steps=15)
    o = compute_orderings(host, [str(m) for m in tiny_dp], 2, 0, 3.44, relax)
    x, n = o.x, o.n_sites
    # per model: the empty host is the zero, the x = 1 end member is E(LiC6) − e_host − μ_Li
    empty = np.flatnonzero(x == 0)[0]
    np.testing.assert_allclose(o.formation_eV_per_site[:, empty], 0.0, atol=1e-12)
    full = np.flatnonzero((x == 1) & (n == 1))[0]
    np.testing.assert_allclose(
        o.formation_eV_per_site[:, full],
        o.energy_eV[:, full] - o.host_eV_per_site - o.li_metal_eV_per_atom,
        rtol=1e-12,
    )
    # the ensemble members differ (seeds), so interior orderings get a non-zero spread
    assert np.all(np.std(o.formation_eV_per_site[:, (x > 0) & (x < 1)], axis=0) > 0)
    paths = [tmp_path / p for p in ("o.h5", "lattice.extxyz", "relaxed.extxyz", "f.png")]
    write_orderings(o, *paths, Provenance("thermo"), host)
    q = read_quantity(paths[0], "formation_energy_eV_per_site")
    assert q.units == "eV/site" and q.uncertainty is not None
    e_above = read_quantity(paths[0], "e_above_hull_eV_per_site").value
    assert np.all(e_above[np.isfinite(e_above)] >= 0)
    assert read_quantity(paths[0], "on_hull").value[[empty, full]].tolist() == [1, 1]
