"""The diffusion analysis: FFT MSD, calibrated D uncertainty, Arrhenius fit, conductivity.

Known-answer synthetic data only (seeded): Gaussian random walks with a known D, lattice hops
with a known number of hops, and D = D0·exp(−Ea/k_B T) with noise of a known size.
"""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
from scipy import constants

from ionscale.diffusion import (
    DIRECTIONS,
    ArrheniusSettings,
    DiffusionInputError,
    DiffusionWarning,
    MSDSettings,
    analyse_positions,
    analyse_trajectory,
    arrhenius_from_summaries,
    count_hops,
    find_diffusive_window,
    fit_arrhenius,
    format_arrhenius_summary,
    msd_direct,
    msd_fft,
    nernst_einstein_conductivity_S_cm,
    plot_arrhenius,
    plot_msd,
    read_arrhenius_result,
    read_msd_summary,
    report_at,
    write_arrhenius_h5,
    write_msd_h5,
    write_report_h5,
)
from ionscale.diffusion import io as contract
from ionscale.io import add_dataset, open_result_h5, read_provenance, read_quantity
from ionscale.provenance import Provenance
from ionscale.units import BOLTZMANN_eV_K

DT_PS = 0.1


def random_walk(seed, n_frames, n_atoms, D_A2_ps, dims=(0, 1, 2), start=0.0):
    """Gaussian random walk: each component in ``dims`` has step variance 2·D·Δt."""
    rng = np.random.default_rng(seed)
    steps = np.zeros((n_frames - 1, n_atoms, 3))
    for d in dims:
        steps[:, :, d] = rng.normal(
            scale=np.sqrt(2 * D_A2_ps * DT_PS), size=(n_frames - 1, n_atoms)
        )
    pos = np.concatenate([np.zeros((1, n_atoms, 3)), np.cumsum(steps, axis=0)]) + start
    return pos, np.arange(n_frames) * DT_PS


@pytest.mark.parametrize(("n_frames", "n_atoms"), [(2, 1), (17, 1), (64, 3), (301, 7)])
def test_fft_msd_equals_direct_windowed_msd(n_frames, n_atoms):
    rng = np.random.default_rng(n_frames)
    # far from the origin and wandering: round-off would show
    pos = rng.normal(size=(n_frames, n_atoms, 3)).cumsum(axis=0) + rng.uniform(-50, 50, size=3)
    fft_msd = msd_fft(pos)
    direct = msd_direct(pos)
    assert fft_msd.shape == (n_frames, 3)
    np.testing.assert_allclose(fft_msd, direct, rtol=1e-10, atol=1e-10)
    assert np.all(fft_msd[0] == pytest.approx(0.0, abs=1e-10))


def test_random_walk_D_recovered_and_interval_calibrated():
    """100 seeded walks: the mean D is right and the 95 % interval covers the truth ≥ 90 %."""
    D_true = 0.05  # Å²/ps
    s = MSDSettings(ballistic_time_ps=0.0, min_hops=0)
    hits = {"xyz": 0, "xy": 0}
    estimates = {"xyz": [], "xy": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiffusionWarning)
        for seed in range(100):
            pos, t = random_walk(seed, 600, 16, D_true)
            res = analyse_positions(pos, t, s)
            for dirs in hits:
                fit = res.fits[dirs]
                assert fit.window.diffusive
                estimates[dirs].append(fit.diffusivity_A2_ps)
                hits[dirs] += (
                    abs(fit.diffusivity_A2_ps - D_true) < 1.96 * fit.diffusivity_uncertainty_A2_ps
                )
    for dirs in hits:
        assert hits[dirs] >= 90, f"{dirs}: 95 % interval covered D in {hits[dirs]} of 100 walks"
        mean = np.mean(estimates[dirs])
        sem = np.std(estimates[dirs]) / 10
        assert abs(mean - D_true) < 3 * sem, (dirs, mean, sem)


def vacancy_walk(seed, n_frames, dt_ps=0.05, cells=3, layers=2, n_vacancies=2, rate_per_ps=2.0):
    """Li on a triangular lattice (a = 4.3 Å, LiC6-like), ``n_vacancies`` vacancies hopping to a
    random neighbour at ``rate_per_ps`` each direction (kinetic Monte Carlo): every Li hop is a
    vacancy hop, so the Li are not independent walkers. Positions sampled every ``dt_ps``."""
    rng = np.random.default_rng(seed)
    a1, a2 = np.array([4.3, 0.0, 0.0]), np.array([2.15, 4.3 * np.sqrt(3) / 2, 0.0])
    steps = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1)]
    sites = [(i, j, k) for i in range(cells) for j in range(cells) for k in range(layers)]
    empty = set(rng.choice(len(sites), n_vacancies, replace=False).tolist())
    occupant, pos, vacancies = {}, [], []
    for n, (i, j, k) in enumerate(sites):
        if n in empty:
            vacancies.append((i, j, k))
        else:
            occupant[(i, j, k)] = len(pos)
            pos.append(i * a1 + j * a2 + [0.0, 0.0, 3.7 * k])
    pos = np.array(pos)
    traj = np.empty((n_frames, len(pos), 3))
    t, frame = 0.0, 0
    while frame < n_frames:
        t += rng.exponential(1 / (6 * rate_per_ps * n_vacancies))
        while frame < n_frames and frame * dt_ps <= t:
            traj[frame] = pos
            frame += 1
        v = rng.integers(n_vacancies)
        di, dj = steps[rng.integers(6)]
        i, j, k = vacancies[v]
        target = ((i + di) % cells, (j + dj) % cells, k)
        if target in occupant:  # the Li there jumps into the vacancy
            m = occupant.pop(target)
            pos[m] -= di * a1 + dj * a2
            occupant[(i, j, k)] = m
        vacancies[v] = target
    return traj, np.arange(n_frames) * dt_ps


def test_vacancy_mechanism_counts_the_vacancies_as_carriers():
    """2 vacancies among 16 Li: the 95 % interval covers the ensemble D when the uncertainty
    model counts the 2 vacancies (carriers auto), and falls far short when it counts 16 Li."""
    s_auto = MSDSettings(directions="xy", min_hops=0)
    s_atoms = MSDSettings(directions="xy", min_hops=0, carriers=16)
    fits = {"auto": [], "atoms": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiffusionWarning)
        for seed in range(80):
            pos, t = vacancy_walk(seed, 301)
            for key, s in (("auto", s_auto), ("atoms", s_atoms)):
                res = analyse_positions(pos, t, s, mobile_vacancies=2)
                fit = res.fits["xy"]
                fits[key].append((fit.diffusivity_A2_ps, fit.diffusivity_uncertainty_A2_ps))
            assert res.n_carriers == 16 and analyse_positions(
                pos, t, s_auto, mobile_vacancies=2
            ).n_carriers == 2  # fmt: skip
    auto, atoms = np.array(fits["auto"]), np.array(fits["atoms"])
    ok = np.isfinite(auto).all(axis=1) & np.isfinite(atoms).all(axis=1)
    assert ok.sum() >= 70, ok.sum()  # a few short walks show no diffusive regime
    auto, atoms = auto[ok], atoms[ok]
    assert np.allclose(auto[:, 0], atoms[:, 0])  # the same D, another uncertainty
    truth = auto[:, 0].mean()  # the ensemble D (80 walks: its own error is ~1/9 of one walk's)
    spread = auto[:, 0].std(ddof=1)
    cover = {
        k: np.mean(np.abs(v[:, 0] - truth) < 1.96 * v[:, 1])
        for k, v in (("auto", auto), ("atoms", atoms))
    }
    assert cover["auto"] >= 0.85, cover
    assert cover["atoms"] < 0.7, cover
    assert np.median(atoms[:, 1]) < spread / 2 < np.median(auto[:, 1]), (spread, auto, atoms)


def test_hop_diffusivity_from_the_tracer_D_of_a_vacancy_walk():
    """Vacancies hop at a known rate Γ on a triangular lattice (6×6, 2 vacancies): the tracer
    D* the MSD measures, divided by f·c_v (f = 0.56006, the 2D triangular-lattice vacancy
    correlation factor), gives back the hop diffusivity Γ z a²/(2d) of the lattice gas."""
    rate, a = 2.0, 4.3
    d_hop = rate * 6 * a**2 / 4  # Å²/ps, z = 6 neighbours, d = 2
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiffusionWarning)
        for seed in range(30):
            pos, t = vacancy_walk(seed, 601, cells=6, layers=1, rate_per_ps=rate)
            res = analyse_positions(pos, t, MSDSettings(directions="xy"), mobile_vacancies=2)
            rows.append(res.fits["xy"].diffusivity_A2_ps)
    tracer = np.nanmean(rows)
    summary = {
        "temperature_K": 800.0, "diffusivity_cm2_s": tracer * 1e-4,
        "diffusivity_cm2_s_uncertainty": 1e-6, "n_hops": 100, "number_density_per_cm3": 1e22,
        "directions": "xy", "dimensionality": 2, "mobile_species": "Li",
        "n_mobile": 34, "mobile_vacancies": 2,
    }  # fmt: skip
    rows3 = [
        {**summary, "temperature_K": T, "diffusivity_cm2_s": tracer * 1e-4 * k}
        for T, k in ((800.0, 1.0), (900.0, 1.5), (1000.0, 2.0))
    ]
    st = ArrheniusSettings(correlation_factor=0.56006)
    result = arrhenius_from_summaries(rows3, st)
    assert result.vacancy_site_fraction == pytest.approx(2 / 36)
    hop = tracer * result.tracer_to_hop_factor
    assert abs(hop - d_hop) < 0.15 * d_hop, (tracer, hop, d_hop)


def test_carriers_setting_is_checked():
    with pytest.raises(DiffusionInputError, match=r"diffusion\.carriers"):
        MSDSettings(carriers=0)
    with pytest.raises(DiffusionInputError, match=r"diffusion\.carriers"):
        MSDSettings(carriers="vacancies")


def test_in_plane_walk_gives_in_plane_D_and_no_z_diffusion():
    """Diffusion in x, y only; z vibrates in a cage: D_xy = D, D_xyz = 2/3 D, D_z not reported."""
    D_true = 0.08
    pos, t = random_walk(3, 1500, 20, D_true, dims=(0, 1))
    pos[:, :, 2] = np.random.default_rng(4).normal(scale=0.1, size=pos.shape[:2])
    res = analyse_positions(pos, t, MSDSettings(ballistic_time_ps=0.5, directions="xy"))
    assert res.n_hops > 100
    xy, xyz, z = res.fits["xy"], res.fits["xyz"], res.fits["z"]
    assert abs(xy.diffusivity_A2_ps - D_true) < 3 * xy.diffusivity_uncertainty_A2_ps
    assert abs(xyz.diffusivity_A2_ps - 2 / 3 * D_true) < 3 * xyz.diffusivity_uncertainty_A2_ps
    assert xy.dimensionality == 2 and xyz.dimensionality == 3
    assert not z.window.diffusive and np.isnan(z.diffusivity_A2_ps)
    assert abs(z.window.loglog_slope) < 0.2


def test_window_starts_after_the_ballistic_time_and_rule_is_recorded():
    """A caged start (no displacement growth for 2 ps) then a random walk: the window skips it."""
    pos, t = random_walk(5, 2000, 16, 0.05)
    cage = t < 2.0
    pos[cage] = np.random.default_rng(6).normal(scale=0.05, size=pos[cage].shape)
    pos[~cage] = pos[~cage] - pos[~cage][0]
    s = MSDSettings(ballistic_time_ps=0.3, slope_tolerance=0.2, min_hops=0)
    fit = analyse_positions(pos, t, s).fits["xyz"]
    assert fit.window.diffusive
    assert t[fit.window.start] >= 0.3
    assert abs(fit.window.loglog_slope - 1) <= 0.2
    assert "ballistic" in fit.window.rule and "1 +/- 0.2" in fit.window.rule
    assert t[fit.window.end] <= s.max_fit_fraction * t[-1] + 1e-12


def test_slow_walk_under_cage_vibrations_gives_D():
    """A slow in-plane walk (D = 0.02 Å²/ps) under 0.3 Å thermal vibrations, whose MSD offset
    hides the diffusion at short lags: the rule finds a window and D with a fair interval."""
    D_true = 0.02
    found, covered = 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiffusionWarning)
        for seed in range(20):
            pos, t = random_walk(seed, 1500, 16, D_true, dims=(0, 1))
            pos = pos + np.random.default_rng(100 + seed).normal(scale=0.3, size=pos.shape)
            s = MSDSettings(ballistic_time_ps=1.0, directions="xy", min_hops=0)
            fit = analyse_positions(pos, t, s).fits["xy"]
            if fit.window.diffusive:
                found += 1
                err = abs(fit.diffusivity_A2_ps - D_true)
                covered += err < 1.96 * fit.diffusivity_uncertainty_A2_ps
    assert found >= 18, f"diffusive window found in {found} of 20 walks"
    assert covered >= 0.85 * found, f"95 % interval covered D in {covered} of {found}"


def test_window_condition_moves_the_start():
    """A further condition on the window (the covariance model's) is honoured by the rule."""
    pos, t = random_walk(7, 800, 8, 0.05)
    msd = msd_fft(pos).sum(axis=1)
    kw = dict(ballistic_time_ps=0.5, max_fit_fraction=0.5, slope_tolerance=0.3, min_fit_points=10)
    free = find_diffusive_window(t, msd, **kw)
    late = find_diffusive_window(t, msd, **kw, accept=lambda start, end: t[start] >= 10.0)
    never = find_diffusive_window(t, msd, **kw, accept=lambda start, end: False)
    assert free.diffusive and t[free.start] < 10.0
    assert late.diffusive and t[late.start] >= 10.0
    assert not never.diffusive
    assert "variance grows faster than the lag" in free.rule


def test_hops_on_a_lattice_are_counted_exactly():
    """Atoms jump between sites 2.46 Å apart and vibrate 0.1 Å: every jump is one hop."""
    rng = np.random.default_rng(8)
    n_frames, n_atoms = 400, 5
    site = np.zeros((n_atoms, 3))
    pos = np.zeros((n_frames, n_atoms, 3))
    jumps = 0
    for k in range(n_frames):
        if k and k % 25 == 0:
            moved = rng.random(n_atoms) < 0.5
            direction = rng.choice([-1.0, 1.0], size=(n_atoms,))
            site[moved, 0] += 2.46 * direction[moved]
            jumps += moved.sum()
        pos[k] = site + rng.normal(scale=0.1, size=(n_atoms, 3))
    assert count_hops(pos, 1.5).sum() == jumps


def _hopping_atoms(seed, vibration_A, correlation_frames, n_frames=2000, n_atoms=16, p=0.002):
    """Atoms on a triangular lattice (2.46 Å) hop with probability ``p`` per frame and vibrate
    as an AR(1) process (rms ``vibration_A`` per component, ``correlation_frames``)."""
    rng = np.random.default_rng(seed)
    site, vib = np.zeros((n_atoms, 3)), np.zeros((n_atoms, 3))
    phi = np.exp(-1 / correlation_frames) if correlation_frames else 0.0
    pos, jumps = np.empty((n_frames, n_atoms, 3)), 0
    for k in range(n_frames):
        moved = rng.random(n_atoms) < p
        angle = rng.integers(6, size=n_atoms) * np.pi / 3
        site[moved, 0] += 2.46 * np.cos(angle[moved])
        site[moved, 1] += 2.46 * np.sin(angle[moved])
        jumps += moved.sum()
        vib = phi * vib + np.sqrt(1 - phi**2) * rng.normal(scale=vibration_A, size=vib.shape)
        pos[k] = site + vib
    return pos, jumps


@pytest.mark.parametrize(("vibration_A", "correlation_frames"), [(0.3, 0), (0.3, 10)])
def test_vibration_is_not_counted_as_hops(vibration_A, correlation_frames):
    """0.3 Å vibration (rms per component) beside 2.46 Å hops: frame by frame the anchor rule
    counts vibrations as hops; averaged over a residence of 10 frames it counts the hops."""
    pos, jumps = _hopping_atoms(1, vibration_A, correlation_frames)
    assert count_hops(pos, 1.5, 1).sum() > 1.3 * jumps
    assert abs(count_hops(pos, 1.5, 10).sum() - jumps) <= 0.1 * jumps
    # the analysis turns diffusion.hop_residence_time_ps into frames
    t = np.arange(len(pos)) * 0.02
    s = MSDSettings(min_hops=0, hop_residence_time_ps=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiffusionWarning)
        assert analyse_positions(pos, t, s).n_hops == count_hops(pos, 1.5, 10).sum()


def _arrhenius_data(seed, temps, Ea=0.5, D0=1e-3, rel_noise=0.1):
    rng = np.random.default_rng(seed)
    d_true = D0 * np.exp(-Ea / (BOLTZMANN_eV_K * temps))
    d = d_true * np.exp(rng.normal(scale=rel_noise, size=len(temps)))
    return d, rel_noise * d


def test_arrhenius_recovers_Ea_and_D0_within_stated_errors():
    temps = np.array([600.0, 700, 800, 900, 1000, 1200])
    Ea, D0 = 0.5, 1e-3
    d_exact = D0 * np.exp(-Ea / (BOLTZMANN_eV_K * temps))
    exact = fit_arrhenius(temps, d_exact, 0.05 * d_exact)
    assert exact.activation_energy_eV == pytest.approx(Ea, rel=1e-10)
    assert exact.D0_cm2_s == pytest.approx(D0, rel=1e-9)
    hits_ea = hits_d0 = hits_300 = 0
    d300 = D0 * np.exp(-Ea / (BOLTZMANN_eV_K * 300))
    for seed in range(200):
        d, sd = _arrhenius_data(seed, temps, Ea, D0)
        fit = fit_arrhenius(temps, d, sd)
        hits_ea += abs(fit.activation_energy_eV - Ea) < 1.96 * fit.activation_energy_uncertainty_eV
        hits_d0 += abs(np.log(fit.D0_cm2_s / D0)) < 1.96 * np.sqrt(fit.covariance[0, 0])
        at = fit.diffusivity_cm2_s_at(300.0)
        hits_300 += at["ci95_low"] <= d300 <= at["ci95_high"]
    assert hits_ea >= 180 and hits_d0 >= 180 and hits_300 >= 180, (hits_ea, hits_d0, hits_300)


def test_arrhenius_input_errors_and_two_point_warning():
    with pytest.raises(DiffusionInputError, match="at least 3 temperatures"):
        fit_arrhenius([800.0], [1e-6], [1e-7])
    with pytest.raises(DiffusionInputError, match=r"at least 3 temperatures.*3 are needed"):
        fit_arrhenius([800.0, 900.0], [1e-6, 2e-6], [1e-7, 1e-7])
    with pytest.raises(DiffusionInputError, match="at least 2 temperatures"):
        fit_arrhenius([800.0], [1e-6], [1e-7], min_temperatures=2)
    with pytest.warns(DiffusionWarning, match="two temperatures"):
        fit = fit_arrhenius([800.0, 900.0], [1e-6, 2e-6], [1e-7, 1e-7], min_temperatures=2)
    assert np.isnan(fit.chi2_reduced) and fit.activation_energy_uncertainty_eV > 0
    with pytest.raises(DiffusionInputError, match="D > 0"):
        fit_arrhenius([700.0, 800.0, 900.0], [1e-6, -1e-6, 2e-6], [1e-7] * 3)
    with pytest.raises(DiffusionInputError, match="distinct"):
        fit_arrhenius([800.0, 800.0, 900.0], [1e-6, 1e-6, 2e-6], [1e-7] * 3)


def test_arrhenius_curvature_warns_on_two_mechanisms_only():
    """A straight Arrhenius line with 10 % noise rarely warns (2σ test); the sum of two
    mechanisms (0.3 and 1.0 eV) bends in the plot and warns; a narrow sweep is an error."""
    temps = np.array([600.0, 700, 800, 900, 1000, 1200])
    false_alarms = 0
    for seed in range(200):
        d, sd = _arrhenius_data(seed, temps)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DiffusionWarning)
            fit_arrhenius(temps, d, sd)
        false_alarms += any("bends" in str(w.message) for w in caught)
    assert false_alarms <= 20, false_alarms  # ~5 % expected at 2 standard errors
    two = 1e-5 * np.exp(-0.3 / (BOLTZMANN_eV_K * temps)) + 10 * np.exp(
        -1.0 / (BOLTZMANN_eV_K * temps)
    )
    with pytest.warns(DiffusionWarning, match="bends in the Arrhenius plot"):
        fit_arrhenius(temps, two, 0.03 * two)
    with pytest.raises(DiffusionInputError, match=r"span 200 K.*min_temperature_span_K = 250"):
        fit_arrhenius([750.0, 850.0, 950.0], [1e-6, 2e-6, 3e-6], [1e-7] * 3, min_span_K=250)


def test_nernst_einstein_matches_the_formula():
    n_cm3, D, T, z = 1.5e22, 2e-8, 300.0, 1.0
    expected = (n_cm3 * 1e6) * (z * constants.e) ** 2 * (D * 1e-4) / (constants.k * T) / 100
    assert nernst_einstein_conductivity_S_cm(D, n_cm3, T, z) == pytest.approx(expected, rel=1e-12)
    # σ ∝ z²
    assert nernst_einstein_conductivity_S_cm(D, n_cm3, T, 2.0) == pytest.approx(4 * expected)


def test_few_hops_warn():
    """A trajectory whose atoms only vibrate has no hops: the warning says D cannot be trusted."""
    rng = np.random.default_rng(2)
    pos = rng.normal(scale=0.1, size=(200, 4, 3))
    with pytest.warns(DiffusionWarning) as record:
        res = analyse_positions(pos, np.arange(200) * DT_PS, MSDSettings(ballistic_time_ps=0.5))
    messages = " ".join(str(w.message) for w in record)
    assert "only 0 Li hops" in messages and "no diffusive regime" in messages
    assert res.n_hops == 0 and np.isnan(res.fits["xyz"].diffusivity_A2_ps)
    assert len(res.warnings) == 2


def test_trajectory_errors_are_named(tmp_path):
    s = MSDSettings(ballistic_time_ps=0.0, min_fit_points=10)
    pos, t = random_walk(1, 12, 2, 0.05)
    with pytest.raises(DiffusionInputError, match="min_fit_points = 10"):
        analyse_positions(pos, t, s)
    with pytest.raises(DiffusionInputError, match="directions"):
        analyse_positions(pos, t, MSDSettings(directions="xz"))
    with pytest.raises(DiffusionInputError, match="not found"):
        analyse_trajectory(tmp_path / "missing.h5", s)
    empty = tmp_path / "empty.h5"
    _write_trajectory(empty, np.zeros((5, 0, 3)), np.arange(5) * DT_PS)
    with pytest.raises(DiffusionInputError, match="no atoms of the mobile species"):
        analyse_trajectory(empty, s)
    with pytest.raises(DiffusionInputError, match="at least 2 frames"):
        msd_fft(np.zeros((1, 2, 3)))


def _write_trajectory(path, pos, t, temperature=800.0, volume=1000.0, com=None):
    with open_result_h5(path, Provenance("md", {"test": True})) as h5:
        add_dataset(h5, "time_ps", t, "ps")
        add_dataset(h5, "positions_A", pos, "Å")
        if com is not None:
            add_dataset(h5, "center_of_mass_A", com, "Å")
        h5.attrs.update(temperature_K=temperature, mobile_species="Li", volume_A3=volume,
                        n_mobile=pos.shape[1])  # fmt: skip


def _units_of_datasets(path):
    """Every dataset of an HDF5 file (``group/name``) with its units attribute."""
    names = []
    with h5py.File(path) as h5:
        h5.visit(names.append)
        return {n: h5[n].attrs["units"] for n in names if isinstance(h5[n], h5py.Dataset)}


def test_pipeline_files_round_trip(tmp_path):
    """trajectory.h5 → msd.h5 (+ plot) per T → arrhenius.h5 (+ plot), contract datasets."""
    Ea, D0 = 0.4, 2e-3  # cm²/s
    temps = [700.0, 900.0, 1200.0]
    s = MSDSettings(ballistic_time_ps=0.2, min_hops=0)
    summaries = []
    for i, T in enumerate(temps):
        D_A2_ps = D0 * np.exp(-Ea / (BOLTZMANN_eV_K * T)) / 1e-4  # cm²/s → Å²/ps
        pos, t = random_walk(10 + i, 1200, 24, D_A2_ps, start=3.0)
        drift = np.linspace(0, 5, len(t))[:, None] * np.array([1.0, -0.5, 0.2])
        traj = tmp_path / f"T{int(T)}K" / "trajectory.h5"
        # a uniform drift of every atom, recorded as the centre of mass, must not change D
        _write_trajectory(traj, pos + drift[:, None, :], t, temperature=T, volume=2000.0,
                          com=drift)  # fmt: skip
        res = analyse_trajectory(traj, s)
        fit = res.fits["xyz"]
        assert abs(fit.diffusivity_A2_ps - D_A2_ps) < 4 * fit.diffusivity_uncertainty_A2_ps
        out = tmp_path / "diffusion" / f"T{int(T)}K" / "msd.h5"
        write_msd_h5(out, res, Provenance("diffusion", {"d": 1}, [traj]))
        plot_msd(res, out.with_suffix(".png"))
        assert out.with_suffix(".png").stat().st_size > 1000
        with h5py.File(out) as h5:
            assert h5["xy"].attrs["dimensionality"] == 2
            assert "log-log slope" in h5.attrs["window_rule"]
            assert h5["xyz/fit_covariance_A4"].shape[0] == len(h5["xyz/fit_time_ps"])
        # the file holds exactly the datasets and units its contract (ionscale.diffusion.io) names
        declared = {d.name: d.units for d in contract.MSD_DATASETS}
        declared |= {
            f"{g}/{d.name}": d.units for g in DIRECTIONS for d in contract.MSD_GROUP_DATASETS
        }
        assert _units_of_datasets(out) == declared
        summaries.append(read_msd_summary(out))
    assert summaries[0]["number_density_per_cm3"] == pytest.approx(24 / 2000e-24)
    st = ArrheniusSettings(report_temperature_K=300.0, min_temperatures=3)
    res = arrhenius_from_summaries(summaries[::-1], st)
    path = tmp_path / "diffusion" / "arrhenius.h5"
    write_arrhenius_h5(path, res, Provenance("diffusion", {"a": 1}))
    ea = read_quantity(path, "activation_energy_eV")
    assert abs(ea.value - Ea) < 3 * ea.uncertainty
    np.testing.assert_array_equal(read_quantity(path, "temperature_K").value, temps)
    assert read_provenance(path)["stage"] == "diffusion"
    assert _units_of_datasets(path) == {
        d.name: d.units for d in (*contract.ARRHENIUS_DATASETS, *contract.ARRHENIUS_HOP_DATASETS)
    }
    # no vacancies in these walks (uncorrelated: f = 1): the hop D is the tracer D
    assert read_quantity(path, "hop_D0_cm2_s").value == pytest.approx(res.fit.D0_cm2_s)
    # the fit read back is the fit written, bit for bit (the report is computed from the file)
    back = read_arrhenius_result(path)
    assert back.fit.ln_D0 == res.fit.ln_D0 and back.fit.activation_energy_eV == ea.value
    np.testing.assert_array_equal(back.fit.covariance[np.triu_indices(2)],
                                  res.fit.covariance[np.triu_indices(2)])  # fmt: skip
    # D and σ at the report temperature: a report of the fit alone
    with pytest.warns(DiffusionWarning, match="far above the report temperature"):
        rep = report_at(back, st.report_temperature_K, st.extrapolation_warning_ratio)
    report = path.with_name("report.h5")
    write_report_h5(report, rep, back, Provenance("diffusion", {"r": 1}))
    plot_arrhenius(back, rep, path.with_suffix(".png"))
    assert path.with_suffix(".png").stat().st_size > 1000
    assert _units_of_datasets(report) == {d.name: d.units for d in contract.REPORT_DATASETS}
    lo = read_quantity(report, "diffusivity_cm2_s_ci95_low").value
    hi = read_quantity(report, "diffusivity_cm2_s_ci95_high").value
    d = read_quantity(report, "diffusivity_cm2_s").value
    assert lo < d < hi
    sigma = read_quantity(report, "conductivity_S_cm").value
    n = read_quantity(path, "number_density_per_cm3").value
    assert sigma == pytest.approx(nernst_einstein_conductivity_S_cm(d, n, 300.0), rel=1e-12)
    assert read_quantity(report, "report_temperature_K").value == 300.0
    text = format_arrhenius_summary(path)
    assert "Ea = " in text and "95 % interval" in text and "hops" in text and "D(300 K)" in text


def test_non_diffusive_temperature_is_left_out_and_too_few_left_is_an_error():
    base = {"directions": "xyz", "dimensionality": 3, "mobile_species": "Li",
            "number_density_per_cm3": 1e22}  # fmt: skip
    rows = [
        {**base, "temperature_K": T, "diffusivity_cm2_s": d, "diffusivity_cm2_s_uncertainty": s,
         "n_hops": 50}
        for T, d, s in [(600.0, np.nan, np.nan), (800.0, 1e-6, 1e-7), (1000.0, 4e-6, 3e-7)]
    ]  # fmt: skip
    with pytest.raises(DiffusionInputError, match=r"got 2 with a diffusive regime"):
        with pytest.warns(DiffusionWarning, match="left out"):
            arrhenius_from_summaries(rows, ArrheniusSettings(min_temperatures=3))
    with pytest.warns(DiffusionWarning, match="left out"):
        res = arrhenius_from_summaries(rows, ArrheniusSettings(min_temperatures=2))
    assert res.included.tolist() == [False, True, True]
