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


# -- the empty host end member as x = 0, cell relaxation along c, the host-phase envelope -------
def test_relax_cell_modes_and_their_masks():
    from ionscale.thermo.atomistic import RelaxSettings, cell_mask, more_relaxed_mode

    assert cell_mask(False) is None
    assert cell_mask(True) == (1, 1, 1, 1, 1, 1)
    assert cell_mask("c") == (0, 0, 1, 0, 0, 0)  # Voigt xx, yy, zz, yz, xz, xy: only ε_zz
    assert RelaxSettings(relax_cell="c").relax_cell == "c"
    for bad in ("ab", "true", 1, 0, None):
        with pytest.raises(ValueError, match=r"thermo\.relax\.relax_cell"):
            RelaxSettings(relax_cell=bad)
    # the empty host relaxes at least along c, fully when the orderings do
    assert more_relaxed_mode(False, "c") == "c"
    assert more_relaxed_mode("c", "c") == "c"
    assert more_relaxed_mode(True, "c") is True


def test_c_mode_needs_layers_in_the_xy_plane():
    from ase.build import bulk

    from ionscale.reference.structures import graphite_ab
    from ionscale.thermo.atomistic import check_layers_in_xy

    check_layers_in_xy(graphite_ab(), "graphite")
    with pytest.raises(ValueError, match="layers lie in the xy plane"):
        check_layers_in_xy(bulk("C", "diamond", a=3.57), "diamond")  # fcc primitive vectors


def test_framework_formula_units_of_the_empty_host():
    from ase.build import bulk

    from ionscale.reference.structures import graphite_ab, lic6_aa
    from ionscale.thermo.structures import framework_formula_units

    host = lic6_host()
    assert framework_formula_units(graphite_ab(), host, "AB") == pytest.approx(4 / 6)
    assert framework_formula_units(graphite_ab().repeat((2, 1, 1)), host, "AB") == pytest.approx(
        8 / 6
    )
    with pytest.raises(HostStructureError, match="must hold no Li"):
        framework_formula_units(lic6_aa(), host, "LiC6")
    with pytest.raises(HostStructureError, match=r"Si2 is not the framework.*C6 per Li site"):
        framework_formula_units(bulk("Si", "diamond", a=5.43), host, "Si")


def test_gallery_spacing_follows_the_strain_normal_to_the_layers():
    from ionscale.reference.structures import graphite_ab
    from ionscale.thermo.structures import enumerate_orderings, gallery_spacing_A, layer_count

    host = lic6_host()
    assert layer_count(host.primitive, ["C"]) == 1
    assert layer_count(graphite_ab(), ["C"]) == 2  # AB: two layers per cell
    d0 = host.primitive.cell[2, 2]
    for ref in enumerate_orderings(host, 3):  # supercells with c mixed into a and b, too
        for eps, expected in (
            (np.diag([1.0, 1.0, 1.05]), 1.05 * d0),  # ε_zz: the spacing scales
            (np.diag([1.02, 0.98, 1.0]), d0),  # in-plane strain leaves it
            (np.array([[1.0, 0, 0.1], [0, 1, 0], [0, 0, 1]]), d0),  # shear x += 0.1 z: too
        ):
            deformed = ref.copy()
            deformed.set_cell(np.asarray(ref.cell) @ eps.T, scale_atoms=True)
            assert gallery_spacing_A(ref, deformed, d0) == pytest.approx(expected, rel=1e-12)


def test_hull_with_the_host_phase_at_x0():
    from ionscale.thermo.hull import hull_with_host

    stacking = 0.12  # empty lattice cell (AA C6) above the host (AB graphite), eV/site
    x = np.array([0.0, 0.25, 0.5, 1.0])
    ef = np.array([stacking, 0.05, -0.06, -0.09])
    hull, on, host_vertex = hull_with_host(x, ef, host=True)
    assert host_vertex and hull.x[0] == 0 and hull.formation_energy_eV_per_site[0] == 0
    assert not on[0]  # the empty lattice cell is not the x = 0 vertex ...
    assert hull.e_above_hull_eV_per_site[0] == pytest.approx(stacking)  # ... it lies above it
    assert on.tolist() == [False, False, True, True]
    # voltages integrate to the end member's formation energy: Σ V Δx = −ΔE_f(1)
    volts = np.array([v for _, _, v in hull.two_phase_regions()])
    assert np.sum(volts * np.diff(hull.x)) == pytest.approx(-ef[-1])
    # without a host structure x = 0 is the empty lattice cell (the old reference)
    hull0, on0, host0 = hull_with_host(x, ef - stacking, host=False)
    assert not host0 and on0[0] and hull0.formation_energy_eV_per_site[0] == 0


def _lattice_phase(x, f0, temperature_K=T):
    """A synthetic lattice phase: f(0) = f0 above the host, ideal entropy, a linear drop and
    some curvature (f, μ, f'')."""
    kT = BOLTZMANN_eV_K * temperature_K
    x = np.asarray(x, dtype=float)
    f = f0 - 0.3 * x + 0.1 * x**2 + kT * (x * np.log(x) + (1 - x) * np.log(1 - x))
    mu = -0.3 + 0.2 * x + kT * np.log(x / (1 - x))
    d2f = 0.2 + kT / (x * (1 - x))
    return f, mu, d2f


def test_envelope_with_a_host_phase_is_the_common_tangent_from_the_host():
    from ionscale.thermo.analysis import envelope_with_host_phase, regions_beside_host

    f0 = 0.1  # the lattice's empty cell 0.1 eV/site above the host phase (0, 0)
    x = np.linspace(0.01, 0.99, 981)

    def f_fn(v):
        return _lattice_phase(v, f0)[0]

    f_l, mu_l, d2_l = _lattice_phase(x, f0)
    f, mu, d2f, co = envelope_with_host_phase(x, f_l, mu_l, d2_l, f0, 0.0, f_fn=f_fn)
    assert co is not None and 0 < co.x_tangent < 1
    xt, s = co.x_tangent, co.mu_eV
    # the tangent: the chord from the host point meets f_lattice where f_lattice' equals it
    assert s == pytest.approx((f_fn(np.array([xt]))[0]) / xt, abs=1e-12)
    assert s == pytest.approx(_lattice_phase(xt, f0)[1], abs=1e-6)
    inside = x < xt
    assert inside.sum() > 10
    # a straight segment from (0, 0): f = μ_t x, an OCV plateau at −μ_t, no curvature
    np.testing.assert_allclose(f[inside], s * x[inside], atol=1e-15)
    np.testing.assert_allclose(mu[inside], s)
    assert np.all(d2f[inside] == 0)
    # beyond the tangent point the lattice phase itself; everywhere at or below it
    np.testing.assert_array_equal(f[~inside], f_l[~inside])
    assert np.all(f <= f_l + 1e-12)
    # the segment is a supporting line of f_lattice (the envelope is convex across x_t)
    assert np.all(f_l - s * x >= -1e-9)
    # energy identity: μ integrates to f (∫ μ dx between grid ends = Δf), continuous at x_t
    integral = np.trapezoid(mu, x)
    assert integral == pytest.approx(f[-1] - f[0], abs=2e-4)
    # lever rule: at x < x_t a fraction x/x_t of the sites is lattice phase at x_t; its energy
    xm = 0.5 * xt
    assert np.interp(xm, x, f) == pytest.approx((xm / xt) * f_fn(np.array([xt]))[0], abs=1e-9)
    # the host–lattice region comes first among the two-phase regions; regions under it go
    regions = regions_beside_host([(0.02, 0.5 * xt, -0.2), (0.6, 0.8, -0.1)], co)
    assert regions == [(0.0, xt, s), (0.6, 0.8, -0.1)]


def test_envelope_without_a_stable_host_phase_is_the_lattice_phase():
    from ionscale.thermo.analysis import envelope_with_host_phase

    x = np.linspace(0.01, 0.99, 99)
    for f0 in (0.0, -0.05):  # host at or above the lattice's empty cell: not on the envelope
        f_l, mu_l, d2_l = _lattice_phase(x, f0)
        f, mu, _, co = envelope_with_host_phase(x, f_l, mu_l, d2_l, f0)
        assert co is None
        np.testing.assert_array_equal(f, f_l)
        np.testing.assert_array_equal(mu, mu_l)


def test_learned_free_energy_with_a_host_phase():
    """The network learns the lattice phase from μ data; with f_lattice(0) > 0 the tables are
    its envelope with the host phase: straight from (0, 0), μ flat, then the network + f0."""
    f0 = 0.1
    x = np.linspace(0.05, 0.95, 19)
    _, mu, _ = _lattice_phase(x, f0)
    r = _mc_result(x, mu, 0.002, ensemble="vcsgc")
    f_end = float(_lattice_phase(np.array([1 - 1e-12]), 0.0)[0][0])  # f(1) − f(0)
    grid = np.linspace(0.02, 0.98, 97)
    settings = NetworkSettings(width=8, form="ideal", adam_steps=300, lbfgs_steps=20, n_bootstrap=0)
    res = learn_free_energy([r], [T], f_end, grid, settings, f_lattice_at_0=f0)
    co = res.host[0]
    assert co is not None and grid[0] < co.x_tangent < 0.9
    f, m = res.f[0], res.mu[0]
    inside = grid < co.x_tangent
    np.testing.assert_allclose(f[inside], co.mu_eV * grid[inside], atol=1e-12)
    np.testing.assert_allclose(m[inside], co.mu_eV)
    # outside, the lattice network shifted by f0: f(1) − f(0) of the network is the anchor
    model = res.fits[0].model
    np.testing.assert_allclose(f[~inside], model.value(grid[~inside]) + f0, atol=1e-12)
    assert res.two_phase[0][0] == (0.0, co.x_tangent, co.mu_eV)
    # the tangent is where the network's μ equals the chord from the host point
    assert model.evaluate(np.array([co.x_tangent]))[1][0] == pytest.approx(co.mu_eV, abs=1e-5)


def test_bootstrap_bands_follow_the_envelope():
    """Each bootstrap replicate goes through the host-phase envelope: inside the plateau the μ
    band is one number (the spread of the replicates' coexistence μ) and f's band grows
    linearly from 0 at the host point."""
    f0 = 0.1
    x = np.linspace(0.05, 0.95, 19)
    _, mu, _ = _lattice_phase(x, f0)
    r = _mc_result(x, mu, 0.002, ensemble="vcsgc")
    f_end = float(_lattice_phase(np.array([1 - 1e-12]), 0.0)[0][0])
    grid = np.linspace(0.01, 0.98, 98)
    settings = NetworkSettings(width=8, form="ideal", adam_steps=300, lbfgs_steps=20, n_bootstrap=4)
    res = learn_free_energy([r], [T], f_end, grid, settings, f_lattice_at_0=f0)
    co = res.host[0]
    inside = grid < co.x_tangent - 0.05  # clear of the replicates' own tangents
    mu_band, f_band = res.mu_unc[0], res.f_unc[0]
    assert np.all(mu_band[inside] > 0) and np.ptp(mu_band[inside]) < 1e-9
    # f = μ_co·x on the plateau (through the host point): its band is x times μ's
    np.testing.assert_allclose(f_band[inside], mu_band[inside] * grid[inside], rtol=1e-6)


def test_chemical_strain_with_the_host_volume_at_x0():
    from ionscale.thermo.host import chemical_strain, chemical_strain_points
    from ionscale.units import A3_TO_M3, AVOGADRO_per_mol

    v_host, dv = 52.93, 6.55  # Å³ per C6: AB graphite, and the rise to LiC6
    x = np.array([0.0, 0.25, 1 / 3, 0.5, 2 / 3, 1.0])
    v = v_host + dv * x
    v[0] = 56.0  # the empty lattice cell (AA) is not the x = 0 phase: left out of the fit
    ok = np.array([True, True, True, True, False, True])
    v[4] = 1e3  # failed: left out
    fx, fv = chemical_strain_points(x, v, ok, v_host)
    assert fx.tolist() == [0.0, 0.25, 1 / 3, 0.5, 1.0] and fv[0] == v_host
    strain = chemical_strain(fx, fv)
    assert strain.v0_A3 == pytest.approx(v_host) and strain.dv_dx_A3 == pytest.approx(dv)
    # Ω = N_A dv/dx in m³ per mol Li: ≈ 3.9e-6 for graphite → LiC6 (about +12 % volume)
    assert strain.partial_molar_volume_m3_mol == pytest.approx(dv * A3_TO_M3 * AVOGADRO_per_mol)
    assert 3e-6 < strain.partial_molar_volume_m3_mol < 5e-6
    # without a host structure every relaxed ordering counts, the empty lattice cell too
    fx0, _ = chemical_strain_points(x, v, ok, None)
    assert fx0.tolist() == [0.0, 0.25, 1 / 3, 0.5, 1.0]


@pytest.mark.engine
def test_c_axis_relaxation_changes_only_c(tiny_dp):
    from ionscale.reference.structures import graphite_ab, lic6_aa
    from ionscale.thermo.atomistic import RelaxSettings, dp_calculator, relax

    calc = dp_calculator(tiny_dp[0])
    settings = RelaxSettings(fmax_eV_A=0.01, max_steps=60, relax_cell="c")
    for start in (lic6_aa(), graphite_ab(c=7.4)):  # AB graphite started 10 % wide
        res = relax(start, calc, settings)
        a0, a1 = start.cell.cellpar(), res.atoms.cell.cellpar()
        np.testing.assert_allclose(a1[[0, 1, 3, 4, 5]], a0[[0, 1, 3, 4, 5]], atol=1e-9)
        assert abs(a1[2] - a0[2]) > 1e-3  # c followed the stress
        # σ_zz is what relaxed: it dropped; the in-plane cell, held, keeps its stress
        s0, s1 = (_stress(a, calc) for a in (start, res.atoms))
        assert abs(s1[2]) < abs(s0[2])


def _stress(atoms, calc):
    a = atoms.copy()
    a.calc = calc
    return a.get_stress()


@pytest.mark.engine
def test_orderings_refer_to_the_relaxed_host_structure(tiny_dp, tmp_path):
    from ionscale.io import read_quantity
    from ionscale.provenance import Provenance
    from ionscale.reference.structures import graphite_ab
    from ionscale.thermo.atomistic import RelaxSettings
    from ionscale.thermo.io import read_orderings_for_dft_check
    from ionscale.thermo.stage import compute_orderings, write_orderings

    host = lic6_host()
    relax = RelaxSettings(fmax_eV_A=0.1, max_steps=20, relax_cell="c")
    ab = graphite_ab()
    ab.info["source"] = "graphite-AB prototype"
    o = compute_orderings(host, [str(m) for m in tiny_dp], 1, 0, 3.44, relax, ab)
    ref = o.host_reference
    assert ref is not None and ref.relax_cell == "c" and o.x0_reference == "host structure"
    # per model: x = 0 is the AB host per C6 (4 atoms = 2/3 of a C6 unit)
    np.testing.assert_allclose(o.host_eV_per_site, ref.energy_eV * 6 / 4, rtol=1e-12)
    x = o.x
    empty, full = np.flatnonzero(x == 0)[0], np.flatnonzero(x == 1)[0]
    # the empty lattice cell lies above (or below) the host by its own energy difference
    np.testing.assert_allclose(
        o.formation_eV_per_site[:, empty], o.energy_eV[:, empty] - o.host_eV_per_site, rtol=1e-12
    )
    np.testing.assert_allclose(
        o.formation_eV_per_site[:, full],
        o.energy_eV[:, full] - o.host_eV_per_site - o.li_metal_eV_per_atom,
        rtol=1e-12,
    )
    # c only: the in-plane cell of every ordering and of the host stays as it started
    for lat, rel in zip(o.lattice, o.relaxed, strict=True):
        np.testing.assert_allclose(rel.cell[:, :2], lat.cell[:, :2], atol=1e-9)
    np.testing.assert_allclose(ref.atoms.cell[:2], ab.cell[:2], atol=1e-9)
    # one gallery per primitive cell: its spacing is the volume over the in-plane area
    area = np.linalg.norm(np.cross(*host.primitive.cell[:2]))
    np.testing.assert_allclose(o.gallery_spacing_A, [r.get_volume() / area for r in o.relaxed])
    paths = [tmp_path / p for p in ("o.h5", "lattice.extxyz", "relaxed.extxyz", "f.png")]
    write_orderings(o, *paths, Provenance("thermo"), host)
    assert read_quantity(paths[0], "reference/x0_reference").value == b"host structure"
    hull_x = read_quantity(paths[0], "hull/li_fraction").value
    hull_e = read_quantity(paths[0], "hull/formation_energy_eV_per_site").value
    stacking = o.formation_eV_per_site[0, empty]
    # the lower of the host (0) and the empty lattice cell (its stacking energy) is the x = 0
    # vertex, whatever the potential says about which (the tiny test model has AA below AB)
    assert hull_x[0] == 0 and hull_e[0] == pytest.approx(min(0.0, stacking))
    host_on_hull = read_quantity(paths[0], "reference/host/on_hull").value
    assert bool(host_on_hull) == (stacking >= 0)
    e_above = read_quantity(paths[0], "e_above_hull_eV_per_site").value
    assert e_above[empty] == pytest.approx(max(stacking, 0.0), abs=1e-12)
    v_host = read_quantity(paths[0], "reference/host/volume_A3_per_site").value
    assert v_host == pytest.approx(ref.atoms.get_volume() * 6 / 4)
    # the DFT check reads model 0's formation energies against the relaxed host, as stored (it
    # recomputes that host with DFT itself): the empty lattice cell keeps its stacking energy
    arrays, _ = read_orderings_for_dft_check(paths[0])
    np.testing.assert_allclose(
        arrays["formation_energy_eV_per_site"], o.formation_eV_per_site[0], atol=1e-12
    )
    assert arrays["formation_energy_eV_per_site"][empty] == pytest.approx(stacking, abs=1e-12)


def test_orderings_file_with_a_host_reference_round_trips(tmp_path):
    """orderings.h5 written from synthetic energies: the reference is recorded, the free-energy
    stage finds the lattice's f(0) vs the host, readers of older layouts keep working."""
    import h5py

    from ionscale.io import read_quantity
    from ionscale.provenance import Provenance
    from ionscale.reference.structures import graphite_ab
    from ionscale.thermo.energies import host_and_formation_energies
    from ionscale.thermo.free_energy import lattice_f0_vs_host
    from ionscale.thermo.io import (
        orderings_for_free_energy,
        read_orderings_for_dft_check,
        write_orderings,
    )
    from ionscale.thermo.results import HostReference, Orderings
    from ionscale.thermo.structures import enumerate_orderings, strip_vacancies

    host = lic6_host()
    lattice = enumerate_orderings(host, 2)
    relaxed = [strip_vacancies(a) for a in lattice]
    x = np.array([a.info["li_fraction"] for a in lattice])
    n = np.array([a.info["n_sites"] for a in lattice])
    e_c6, stacking, mu = -55.0, 0.12, -1.9  # eV per C6 (AB), AA above AB, bcc Li per atom
    energies = np.array([n * (e_c6 + stacking) + x * n * (mu - 0.3) - 0.05 * x * (1 - x) * n])
    energies = np.vstack([energies, energies + 0.01])  # two models
    ab = graphite_ab()
    ref = HostReference(ab, "AB", 4 / 6, np.array([e_c6, e_c6]) * 4 / 6, "c", True, 3, 3.354)
    host_e, ef, lattice_e = host_and_formation_energies(
        host, lattice, energies, [""] * len(x), np.array([mu, mu]), ref
    )
    np.testing.assert_allclose(host_e, e_c6)
    np.testing.assert_allclose(ef[0, x == 0], stacking)  # the empty lattice cell (AA) vs AB
    np.testing.assert_allclose(ef[0, x == 1], stacking - 0.3)
    o = Orderings(
        lattice, relaxed, energies, ef, host_e, np.array([mu, mu]), 3.44,
        np.ones(len(x), bool), np.zeros(len(x), int), [""] * len(x),
        np.full(len(x), 3.706), lattice_e, ref,
    )  # fmt: skip
    h5 = tmp_path / "orderings.h5"
    write_orderings(
        o, h5, tmp_path / "l.extxyz", tmp_path / "r.extxyz", None, Provenance("thermo"), host
    )
    assert read_quantity(h5, "reference/x0_reference").value == b"host structure"
    assert read_quantity(h5, "reference/host/on_hull").value == 1
    np.testing.assert_allclose(  # per model
        read_quantity(h5, "reference/empty_lattice_formation_energy_eV_per_site").value,
        ef[:, x == 0][:, 0],
    )
    assert read_quantity(h5, "reference/host/volume_A3_per_site").value == pytest.approx(
        ab.get_volume() * 6 / 4
    )
    # the free-energy stage: the lattice phase's f(0) vs the host is the CE's empty lattice cell
    ce = {"end_members_eV_per_site": {"x0": 0.118, "x1": -0.2}}
    assert lattice_f0_vs_host(h5, ce) == 0.118
    assert "reference/x0_reference" in orderings_for_free_energy(h5)
    # the DFT check reads model 0's energies against the relaxed host, as stored (it recomputes
    # that host itself), so the AA empty cell keeps its stacking energy
    arrays, _ = read_orderings_for_dft_check(h5)
    np.testing.assert_allclose(arrays["formation_energy_eV_per_site"], ef[0], atol=1e-12)
    assert arrays["formation_energy_eV_per_site"][x == 0][0] == pytest.approx(stacking)
    # an orderings.h5 from before the host reference: x = 0 is the empty lattice cell
    with h5py.File(h5, "a") as f:
        del f["reference/x0_reference"]
        del f["reference/empty_lattice_formation_energy_eV_per_site"]
    assert lattice_f0_vs_host(h5, ce) is None


# -- staged compounds: line phases beside the lattice phase -------------------------------------
def _regular(x, omega=0.12, kT=0.02585):
    return omega * x * (1 - x) + kT * (x * np.log(x) + (1 - x) * np.log(1 - x))


def test_a_line_phase_below_the_lattice_takes_the_common_tangents():
    from ionscale.thermo.analysis import envelope_with_line_phases

    x = np.linspace(0.02, 0.98, 481)
    f_l = 0.4 * (x - 0.8) ** 2 - 0.1 * x  # the lattice phase against the host phase
    mu_l = 0.8 * (x - 0.8) - 0.1
    d2_l = np.full_like(x, 0.8)
    # host at (0, 0) and a stage-2 compound at x = 1/2 well below the lattice
    f, mu, d2f, seg = envelope_with_line_phases(
        x, f_l, mu_l, d2_l, np.array([0.0, 0.5]), np.array([0.0, -0.06])
    )
    assert seg[0][:2] == (0.0, 0.5) and seg[0][2] == pytest.approx(-0.12)
    assert seg[1][0] == 0.5 and 0.5 < seg[1][1] < 0.98
    assert np.all(f <= f_l + 1e-12)  # the envelope is never above either phase
    inside = x < 0.5
    np.testing.assert_allclose(f[inside], -0.12 * x[inside])
    np.testing.assert_allclose(mu[inside], -0.12)
    assert np.all(d2f[x < seg[1][1]] == 0.0)
    assert seg[1][2] > seg[0][2]  # μ rises: the OCV steps down, LiC12 plateau above LiC6's
    lattice = x > seg[1][1]
    np.testing.assert_allclose(f[lattice], f_l[lattice])  # beyond the tangent: the lattice
    # the tangent touches the lattice where its slope equals the chord's (grid resolution)
    k = np.flatnonzero(x >= seg[1][1])[0]
    assert mu_l[k] == pytest.approx(seg[1][2], abs=5e-3)


def test_a_line_phase_above_the_lattice_changes_nothing():
    from ionscale.thermo.analysis import envelope_with_line_phases, regions_with_line_phases

    x = np.linspace(0.02, 0.98, 97)
    f_l = _regular(x, omega=0.0) - 0.1 * x
    mu_l = np.gradient(f_l, x)
    f, mu, _, seg = envelope_with_line_phases(
        x, f_l, mu_l, np.ones_like(x), np.array([0.5]), np.array([0.0])
    )
    assert seg == []
    np.testing.assert_array_equal(f, f_l)
    np.testing.assert_array_equal(mu, mu_l)
    # regions a line phase covers are replaced by it; the others stay
    assert regions_with_line_phases([(0.1, 0.2, -0.1), (0.6, 0.7, -0.05)], [(0.5, 0.8, -0.07)]) == [
        (0.1, 0.2, -0.1),
        (0.5, 0.8, -0.07),
    ]


def test_hull_with_line_phases_flags_the_staged_compound():
    from ionscale.thermo.hull import hull_with_phases

    x = np.array([0.0, 0.5, 1.0])
    e = np.array([0.12, -0.03, -0.09])  # the lattice: empty AA cell above AB, LiC6
    hull, on, host_vertex, above, phase_on = hull_with_phases(
        x, e, True, np.array([0.5, 1 / 3]), np.array([-0.07, -0.02])
    )
    assert host_vertex and phase_on.tolist() == [True, False]
    assert on.tolist() == [False, False, True]
    np.testing.assert_allclose(hull.x, [0.0, 0.5, 1.0])
    assert above[1] == pytest.approx(-0.02 - (-0.07) * (1 / 3) / 0.5)


@pytest.mark.engine
def test_staged_compounds_relax_and_refer_to_the_same_reference(tiny_dp, tmp_path):
    from ionscale.provenance import Provenance
    from ionscale.reference.structures import graphite_ab
    from ionscale.thermo.atomistic import RelaxSettings
    from ionscale.thermo.io import read_staged, read_staged_structures
    from ionscale.thermo.stage import compute_orderings, write_orderings

    host = lic6_host()
    relax = RelaxSettings(fmax_eV_A=0.1, max_steps=15, relax_cell="c")
    o = compute_orderings(host, [str(m) for m in tiny_dp], 1, 0, 3.44, relax, graphite_ab(), (2,))
    s = o.staged
    assert s is not None and s.stage.tolist() == [2] and s.li_fraction.tolist() == [0.5]
    np.testing.assert_allclose(
        s.formation_eV_per_site[:, 0],
        (s.energy_eV[:, 0] - 2 * o.host_eV_per_site - o.li_metal_eV_per_atom) / 2,
        rtol=1e-12,
    )
    a0 = s.relaxed[0]
    assert a0.get_chemical_formula() == "C12Li"
    paths = [tmp_path / n for n in ("o.h5", "l.extxyz", "r.extxyz")]
    write_orderings(o, *paths, None, Provenance("thermo"), host)
    d = read_staged(paths[0])
    assert d["stage"].tolist() == [2]
    assert d["formation_energy_eV_per_site"][0] == pytest.approx(s.formation_eV_per_site[0, 0])
    back = read_staged_structures(paths[0])[2]
    np.testing.assert_allclose(back.positions, a0.positions)


def test_chemical_strain_of_the_hull_phases_is_the_lever_rule_volume():
    """With on_hull only the equilibrium phases count: a two-phase material's volume is linear
    between its coexisting phases', so Ω = N_A [v(1) − v(0)] whatever the metastable orderings'
    volumes; a staged compound on the hull (other_phases) is a point of the line."""
    from ionscale.thermo.host import chemical_strain, chemical_strain_points

    v_host, v_lic6 = 52.93, 57.92  # Å³ per C6: AB graphite (3.354 Å), LiC6 (3.67 Å)
    x = np.array([0.0, 1 / 3, 0.5, 2 / 3, 1.0])
    # the demo's DFT cells (c 3.65, 3.65, 3.63 Å): AA empty galleries, wider than the line
    v = np.array([55.5, 57.6, 57.6, 57.3, v_lic6])
    ok = np.ones(5, bool)
    hull = np.array([True, False, False, False, True])
    fx, fv = chemical_strain_points(x, v, ok, v_host, hull)
    assert fx.tolist() == [0.0, 1.0] and fv.tolist() == [v_host, v_lic6]
    assert chemical_strain(fx, fv).dv_dx_A3 == pytest.approx(v_lic6 - v_host)
    everything = chemical_strain(*chemical_strain_points(x, v, ok, v_host))
    assert everything.dv_dx_A3 < 0.9 * (v_lic6 - v_host)  # the metastable cells flatten it
    fx, fv = chemical_strain_points(x, v, ok, v_host, hull, (np.array([0.5]), np.array([55.4])))
    assert fx.tolist() == [0.0, 0.5, 1.0] and fv[1] == 55.4
