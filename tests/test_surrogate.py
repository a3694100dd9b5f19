"""Surrogate stage: designs, GP surrogates, the field surrogate, Bayesian optimisation, config.

Known answers used here:
- a Latin hypercube puts exactly one point in each of n equal strata of every parameter;
- the autocovariance of c = A cos(2π m x / L) is (A²/2) cos(2π m r / L), S(0) = var(c);
- GP: a smooth analytic function of three parameters (the dimension of an fem sweep: C-rate,
  radius, temperature) learned from 30 cases: held-out R² > 0.99 and 95 % interval coverage
  within 3 binomial standard errors of nominal or above (deterministic data: conservative);
- constrained BO: "the highest C-rate whose stress stays below a limit" with an analytic stress
  σ = k·c·(1 + 4 log10(R/R0)²): the answer is c* = σ_max / k at R = R0;
- unconstrained BO: the Branin function's global minimum 0.397887;
- field surrogate: trajectories of a small Cahn–Hilliard solver written in the test.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import ROOT, run_snakemake

from ionscale.config import validate_config
from ionscale.surrogate import (
    BOProblem,
    Constraint,
    Evaluation,
    GPSurrogate,
    Objective,
    Parameter,
    ParameterSpace,
    SurrogateInputError,
    Trajectory,
    grid_answer,
    heldout_metrics,
    run_bayesian_optimisation,
    train_field_surrogate,
    two_point_autocorrelation,
)
from ionscale.surrogate.field import radial_average
from ionscale.surrogate.scalar import (
    calibrate_intervals,
    prediction_time_per_case_s,
    speedup,
    split_train_test,
)
from ionscale.surrogate.study import (
    CaseResult,
    check_config,
    fit_scalar_target,
    min_sweep_size,
    scalar_outputs,
)

BRANIN_MIN = 0.397887


# -- designs ------------------------------------------------------------------------------------
def fem_space() -> ParameterSpace:
    return ParameterSpace(
        [
            Parameter("c_rate", 0.2, 5.0, log=True),
            Parameter("radius_um", 1.0, 10.0),
            Parameter("temperature_K", 280.0, 330.0),
        ]
    )


def test_latin_hypercube_is_latin_and_respects_log_scale():
    space = fem_space()
    n = 16
    x = space.sample(n, "lhs", seed=3)
    assert x.shape == (n, 3) and space.contains(x).all()
    u = space.to_unit(x)
    for j in range(3):  # one point per stratum [k/n, (k+1)/n) in every dimension
        assert sorted(np.floor(u[:, j] * n).astype(int)) == list(range(n))
    # log scale: the unit coordinate is uniform in log10(c_rate)
    assert np.allclose(u[:, 0], np.log10(x[:, 0] / 0.2) / np.log10(5.0 / 0.2))
    assert np.allclose(space.from_unit(u), x)
    assert np.array_equal(x, space.sample(n, "lhs", seed=3))  # seeded


def test_sobol_prefix_and_grid():
    space = fem_space()
    x = space.sample(5, "sobol", seed=1)
    assert x.shape == (5, 3) and space.contains(x).all()
    g = space.grid(3)
    assert g.shape == (27, 3)
    assert set(np.round(g[:, 0], 9)) == {0.2, 1.0, 5.0}  # log-spaced: geometric mean in middle
    assert set(g[:, 1]) == {1.0, 5.5, 10.0}


@pytest.mark.parametrize(
    ("low", "high", "log", "message"),
    [
        (5.0, 0.5, False, r"surrogate\.fem\.parameters\[1\] \(c_rate\).*reversed"),
        (1.0, 1.0, False, r"surrogate\.fem\.parameters\[1\] \(c_rate\).*empty"),
        (0.0, 1.0, True, r"surrogate\.fem\.parameters\[1\] \(c_rate\).*log-scaled.*low > 0"),
    ],
)
def test_bad_bounds_name_the_key(low, high, log, message):
    entries = [
        {"name": "radius_um", "low": 1, "high": 2},
        {"name": "c_rate", "low": low, "high": high, "log": log},
    ]
    with pytest.raises(SurrogateInputError, match=message):
        ParameterSpace.from_config(entries, "surrogate.fem.parameters")


# -- scalar GP ----------------------------------------------------------------------------------
def analytic_response(space: ParameterSpace, x: np.ndarray) -> np.ndarray:
    """A smooth, non-additive function of the three fem-like parameters."""
    u = space.to_unit(x)
    return np.sin(3 * u[:, 0]) + 2 * u[:, 1] ** 2 + 0.5 * np.cos(4 * u[:, 2]) + u[:, 0] * u[:, 1]


def test_gp_heldout_error_and_interval_coverage():
    space = fem_space()
    x_train = space.sample(30, "lhs", seed=0)
    x_test = space.sample(256, "sobol", seed=100)  # held out: never seen in training
    y_test = analytic_response(space, x_test)
    model = GPSurrogate(space, seed=0, n_restarts=2).fit(x_train, analytic_response(space, x_train))
    m = heldout_metrics(model, x_test, y_test, level=0.95)
    assert m["r2"] > 0.99
    assert m["mae"] < 0.02 * np.ptp(y_test)
    # calibrated or conservative: at least nominal − 3 binomial standard errors …
    assert m["coverage"] >= 0.95 - 3 * m["coverage_standard_error"]
    # … and not trivially so: the intervals are narrow compared with the response's range
    assert m["mean_interval_width"] < 0.1 * np.ptp(y_test)


def test_overconfident_gp_is_recalibrated_to_its_stated_coverage():
    """Noise the kernel cannot absorb (its white-noise bound is below it) makes the raw GP
    interval overconfident; cross-validated calibration brings the coverage of 400 held-out
    cases to the stated 95 % within ±0.05, and leaves a calibrated GP alone."""
    space = ParameterSpace([Parameter("a", 0.0, 1.0), Parameter("b", 0.0, 1.0)])
    rng = np.random.default_rng(3)
    truth = lambda x: np.sin(6 * x[:, 0]) + x[:, 1]  # noqa: E731
    x, x_test = space.sample(60, "lhs", seed=4), space.sample(400, "sobol", seed=6)
    y = truth(x) + rng.normal(0, 0.15, len(x))
    y_test = truth(x_test) + rng.normal(0, 0.15, len(x_test))
    model = GPSurrogate(space, seed=0, n_restarts=1).fit(x, y)
    raw = heldout_metrics(model, x_test, y_test)["coverage"]
    info = calibrate_intervals(model, 0.95)
    calibrated = heldout_metrics(model, x_test, y_test)["coverage"]
    assert raw < 0.85 and info["recalibrated"] and info["std_scale"] > 1.3
    assert calibrated == pytest.approx(0.95, abs=0.05)
    # noise the kernel can absorb: the GP is calibrated as fitted and stays as it is
    y = truth(x) + rng.normal(0, 0.02, len(x))
    y_test = truth(x_test) + rng.normal(0, 0.02, len(x_test))
    fitted = GPSurrogate(space, seed=0, n_restarts=1).fit(x, y)
    info = calibrate_intervals(fitted, 0.95)
    assert not info["recalibrated"]
    assert heldout_metrics(fitted, x_test, y_test)["coverage"] == pytest.approx(0.95, abs=0.05)


def test_gp_log_target_interval_is_positive_and_covers():
    space = ParameterSpace([Parameter("c_rate", 0.1, 10.0, log=True)])
    x = space.sample(12, "lhs", seed=2)
    truth = lambda x: 3.0 * x[:, 0] ** -1.5  # noqa: E731  (spans 4.5 decades)
    model = GPSurrogate(space, log_target=True, seed=0).fit(x, truth(x))
    x_test = space.sample(64, "sobol", seed=5)
    lo, hi = model.interval(x_test, 0.95)
    assert np.all(lo > 0)
    assert np.allclose(model.predict(x_test), truth(x_test), rtol=0.02)
    assert np.mean((truth(x_test) >= lo) & (truth(x_test) <= hi)) >= 0.9


def test_split_and_too_few_cases_name_the_key():
    train, test = split_train_test(10, 0.25, seed=1)
    assert len(test) == 2 and len(train) == 8 and not set(train) & set(test)
    with pytest.raises(
        SurrogateInputError, match=r"surrogate\.fem\.n_samples: 5 cases are too few"
    ):
        split_train_test(5, 0.25, seed=1, min_train=4, where="surrogate.fem.n_samples")


def test_speedup_is_measured_ratio():
    space = ParameterSpace([Parameter("a", 0.0, 1.0)])
    model = GPSurrogate(space, seed=0).fit(np.linspace(0, 1, 6)[:, None], np.linspace(0, 1, 6))
    timing = prediction_time_per_case_s(model, np.array([[0.3], [0.7]]), min_total_s=0.02)
    assert 0 < timing["single_case_s"] < 1.0 and 0 < timing["batched_case_s"] < 1.0
    s = speedup([2.0, 4.0, 3.0], timing)
    assert s["solver_wall_time_per_case_s_median"] == 3.0
    assert s["speedup_single_case"] == pytest.approx(3.0 / timing["single_case_s"])


def case_results(space, x, outputs):
    return [
        CaseResult(f"c{i:03d}", dict(zip(space.names, row, strict=True)), o, 1.5, path=None)
        for i, (row, o) in enumerate(zip(x, outputs, strict=True))
    ]


def test_target_no_case_reports_names_the_key():
    space = ParameterSpace([Parameter("c_rate", 0.5, 5.0)])
    x = space.sample(8, "lhs", seed=0)
    cases = case_results(space, x, [{"max_stress_MPa": float(v)} for v in x[:, 0]])
    with pytest.raises(
        SurrogateInputError,
        match=r"surrogate\.fem\.targets\[0\]: no case reports output "
        r"'capacity_mAh_g'; the case summaries report: max_stress_MPa",
    ):
        fit_scalar_target(
            cases,
            space,
            "capacity_mAh_g",
            key="surrogate.fem.targets[0]",
            test_fraction=0.25,
            level=0.95,
            log_target=False,
            seed=0,
            n_restarts=0,
        )


def test_fit_scalar_target_excludes_cases_without_the_output():
    space = ParameterSpace([Parameter("c_rate", 0.5, 5.0)])
    x = space.sample(10, "lhs", seed=0)
    outs = [{"s": float(np.sin(v))} if i != 4 else {} for i, v in enumerate(x[:, 0])]
    _, metrics, _ = fit_scalar_target(
        case_results(space, x, outs),
        space,
        "s",
        key="k",
        test_fraction=0.25,
        level=0.95,
        log_target=False,
        seed=0,
        n_restarts=0,
    )
    assert metrics["excluded_cases"] == ["c004"]
    assert metrics["n_train"] + metrics["n_test"] == 9
    assert metrics["speedup"]["speedup_single_case"] > 1


# -- Bayesian optimisation ----------------------------------------------------------------------
def stress_MPa(x):
    """Analytic maximum stress: linear in C-rate, smallest at radius 3 µm."""
    return {"max_stress_MPa": 30.0 * x[0] * (1 + 4 * np.log10(x[1] / 3.0) ** 2)}


@pytest.mark.parametrize("acquisition", ["ei", "ucb"])
def test_bo_highest_c_rate_under_stress_limit_beats_grid(acquisition):
    space = ParameterSpace(
        [Parameter("c_rate", 0.1, 10.0, log=True), Parameter("radius_um", 1.0, 10.0, log=True)]
    )
    problem = BOProblem(space, Objective("c_rate"), [Constraint("max_stress_MPa", 150.0)])
    c_star = 150.0 / 30.0  # at radius 3 µm
    budget = 25  # 5 initial + 10 rounds of 2
    result = run_bayesian_optimisation(
        problem,
        stress_MPa,
        n_initial=5,
        batch_size=2,
        n_rounds=10,
        seed=2,
        acquisition=acquisition,
    )
    assert len(result.evaluations) == budget
    i, best = result.best()
    assert stress_MPa(result.evaluations[i].params)["max_stress_MPa"] <= 150.0
    assert best <= c_star * (1 + 1e-9)  # feasible, so never above the true answer
    assert best >= 0.95 * c_star  # within 5 % of the optimum
    # a grid of the same resolution (9 × 9 = 81 runs) answers 3.16: optimisation matches it
    # with far fewer runs
    grid_x = space.grid(9)
    g = grid_answer(problem, [Evaluation(x, stress_MPa(x)) for x in grid_x])
    assert g[1] == pytest.approx(10**0.5)
    reach = result.evaluations_to_reach(g[1])
    assert reach is not None and reach <= 20 < len(grid_x)


def branin(x):
    a, b, c, r, s, t = 1, 5.1 / (4 * np.pi**2), 5 / np.pi, 6, 10, 1 / (8 * np.pi)
    return {"f": a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * np.cos(x[0]) + s}


def test_bo_finds_branin_minimum_in_fewer_runs_than_grid():
    space = ParameterSpace([Parameter("x1", -5.0, 10.0), Parameter("x2", 0.0, 15.0)])
    problem = BOProblem(space, Objective("f", "output", maximize=False))
    result = run_bayesian_optimisation(
        problem, branin, n_initial=6, batch_size=2, n_rounds=12, seed=3
    )
    _, best = result.best()
    assert best < BRANIN_MIN + 0.05  # within 30 evaluations
    grid_x = space.grid(11)  # 121 runs; its best is 1.13
    _, grid_best = grid_answer(problem, [Evaluation(x, branin(x)) for x in grid_x])
    assert grid_best > best
    assert result.evaluations_to_reach(grid_best) < 30 < len(grid_x)


def test_bo_problem_errors_name_the_key():
    space = ParameterSpace([Parameter("c_rate", 0.1, 10.0)])
    with pytest.raises(SurrogateInputError, match=r"bo\.objective\.parameter: 'radius'"):
        BOProblem(space, Objective("radius"))
    problem = BOProblem(space, Objective("c_rate"), [Constraint("max_stress_MPa", 1.0)])
    with pytest.raises(SurrogateInputError, match=r"output 'max_stress_MPa'.*not reported"):
        problem.check_outputs([Evaluation(np.array([1.0]), {"capacity": 1.0}, name="c000")])


# -- field surrogate ----------------------------------------------------------------------------
def test_two_point_autocorrelation_of_a_cosine():
    n, m, amp = 32, 3, 0.2
    x = np.arange(n)
    field = 0.5 + amp * np.cos(2 * np.pi * m * x[:, None] / n) * np.ones((1, n))
    s = two_point_autocorrelation(field)
    assert s[0, 0] == pytest.approx(field.var())
    assert np.allclose(s[:, 0], amp**2 / 2 * np.cos(2 * np.pi * m * x / n))
    assert np.allclose(s[0, :], amp**2 / 2)  # no variation along y
    assert s.sum() == pytest.approx(0.0, abs=1e-12)  # Σ_r S(r) = (Σ δc)² / N = 0
    rad = radial_average(np.full((16, 16), 2.0))
    assert rad.shape == (9,) and np.allclose(rad, 2.0)


def cahn_hilliard(c0, kappa, seed, n=32, dt=0.5, t_end=200.0, n_snap=11):
    """Trajectory of ∂c/∂t = ∇²(c³ − c − κ∇²c) (periodic, stabilised semi-implicit spectral)."""
    rng = np.random.default_rng(seed)
    c = c0 + 0.05 * rng.standard_normal((n, n))
    k = 2 * np.pi * np.fft.fftfreq(n)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    stab = 2.0
    times = np.linspace(0, t_end, n_snap)
    snaps = [c.copy()]
    for _ in range(1, n_snap):
        for _ in range(round((times[1] - times[0]) / dt)):
            ch = np.fft.fft2(c)
            ch = (ch - dt * k2 * np.fft.fft2(c**3 - c) + dt * stab * k2 * ch) / (
                1 + dt * kappa * k2**2 + dt * stab * k2
            )
            c = np.fft.ifft2(ch).real
        snaps.append(c.copy())
    return times, np.array(snaps)


def test_field_surrogate_reproduces_training_and_errs_more_on_held_out():
    space = ParameterSpace([Parameter("c0", -0.3, 0.3), Parameter("kappa", 0.5, 2.0)])
    x = space.sample(10, "lhs", seed=1)
    trajs = [
        Trajectory(*cahn_hilliard(p[0], p[1], seed=i), params=p, name=f"c{i:03d}")
        for i, p in enumerate(x)
    ]
    model, metrics = train_field_surrogate(
        space, trajs, test_fraction=0.3, n_components=5, seed=0, n_restarts=1
    )
    assert metrics["n_test_trajectories"] == 3
    # a trajectory it was trained on is rolled out from its first snapshot to within 5 %,
    # close to the PCA floor (the GP interpolates its own training steps) …
    for e in metrics["train"]:
        assert e["relative_l2"] < 0.05
        assert e["relative_l2"] == pytest.approx(e["pca_floor"], abs=0.01)
    # … and a held-out trajectory has a clearly larger error, not explained by the basis
    assert metrics["test_relative_l2_mean"] > 3 * metrics["train_relative_l2_mean"]
    assert metrics["test_pca_floor_mean"] < metrics["test_relative_l2_mean"]
    held = next(t for t in trajs if t.name == metrics["test"][0]["case"])
    assert model.rollout(held.snapshots[0], held.params, held.times).shape == (11, 17)


# -- config checks ------------------------------------------------------------------------------
def surrogate_config(**surrogate):
    phasefield = {
        "cases": [{"name": "base", "grid": [32, 32], "final_time_t0": 100}],
    }
    return validate_config({"phasefield": phasefield, "surrogate": surrogate})


def pf_sweep(**kw):
    sweep = {
        "n_samples": 8,
        "parameters": [
            {"name": "mean_composition", "low": 0.3, "high": 0.7},
            {"name": "kappa_eV_nm2", "low": 0.5, "high": 2.0, "log": True},
        ],
        "targets": ["outcome.final_composition_std"],
    }
    sweep.update(kw)
    return sweep


def test_check_config_accepts_a_good_sweep_and_optimisation():
    bo = {
        "enabled": True,
        "solver": "phasefield",
        "parameters": [{"name": "mean_composition", "low": 0.2, "high": 0.8}],
        "objective": {"parameter": "mean_composition"},
        "constraints": [{"output": "outcome.final_composition_std", "upper": 0.05}],
    }
    check_config(surrogate_config(phasefield=pf_sweep(), bo=bo))


@pytest.mark.parametrize(
    ("surrogate", "message"),
    [
        (
            {"phasefield": pf_sweep(n_samples=6)},
            r"surrogate\.phasefield\.n_samples: 6 cases are fewer than the surrogates need.*"
            r"n_samples ≥ 7",
        ),
        (
            {"phasefield": pf_sweep(parameters=[{"name": "kappa_eV_nm2", "low": 2, "high": 1}])},
            r"surrogate\.phasefield\.parameters\[0\] \(kappa_eV_nm2\).*reversed",
        ),
        (
            {"phasefield": pf_sweep(parameters=[{"name": "kapa", "low": 1, "high": 2}])},
            r"surrogate\.phasefield\.parameters\[0\]\.name: 'kapa' is not a phasefield case key",
        ),
        (
            {"phasefield": pf_sweep(base_case="nope")},
            r"surrogate\.phasefield\.base_case: no phasefield case named 'nope'",
        ),
        (
            {"phasefield": pf_sweep(log_targets=["x"])},
            r"surrogate\.phasefield\.log_targets: x not in surrogate\.phasefield\.targets",
        ),
        (
            {
                "bo": {
                    "enabled": True,
                    "solver": "phasefield",
                    "parameters": [{"name": "mean_composition", "low": 0.2, "high": 0.8}],
                    "objective": {"parameter": "kappa_eV_nm2"},
                    "constraints": [{"output": "y", "upper": 1}],
                }
            },
            r"surrogate\.bo\.objective\.parameter: 'kappa_eV_nm2' is not a swept parameter",
        ),
        (
            {
                "bo": {
                    "enabled": True,
                    "solver": "phasefield",
                    "parameters": [{"name": "mean_composition", "low": 0.2, "high": 0.8}],
                }
            },
            r"surrogate\.bo\.objective: set exactly one of 'parameter' and 'output'",
        ),
    ],
)
def test_check_config_errors_name_the_key(surrogate, message):
    with pytest.raises(SurrogateInputError, match=message):
        check_config(surrogate_config(**surrogate))


def test_min_sweep_size_and_scalar_outputs():
    assert min_sweep_size(1, 0.25) == 6  # 4 to train + 2 held out
    assert min_sweep_size(3, 0.25) == 8
    summary = {
        "a": 1,
        "ok": True,
        "none": None,
        "nested": {"b": 2.5, "c": "text", "d": [1, 2], "e": float("nan")},
        "provenance": {"x": 1},
    }
    assert scalar_outputs(summary) == {"a": 1.0, "nested.b": 2.5}


# -- the phasefield solver through the study code and Snakemake ----------------------------------
def handoff_file(path):
    """A regular-solution handoff file (Ω = 3 kT at 300 K; spinodal 0.211–0.789)."""
    from ionscale.fem.analytic import regular_solution_parameters
    from ionscale.provenance import Provenance

    params = regular_solution_parameters(chi=3.0, e0_eV=0.0, diffusivity_300K_cm2_s=1e-9, n_x=2001)
    params.write(path, Provenance(stage="test"))
    return path


@pytest.mark.engine
def test_sweep_case_runs_the_phasefield_solver(tmp_path):
    from ionscale.provenance import Provenance
    from ionscale.surrogate.solvers import read_phasefield_trajectory, run_study_case
    from ionscale.surrogate.study import sweep_design

    cfg = surrogate_config(phasefield=pf_sweep())
    cfg["phasefield"]["solver"]["n_snapshots"] = 4
    design = sweep_design(cfg["surrogate"]["phasefield"], "phasefield", master_seed=7)
    assert [c["case"] for c in design["cases"]] == [f"c{i:03d}" for i in range(8)]
    record = run_study_case(
        design,
        "c002",
        cfg["phasefield"],
        handoff_file(tmp_path / "parameters.h5"),
        tmp_path / "c002" / "solver",
        Provenance(stage="test"),
        master_seed=7,
    )
    swept = design["cases"][2]["parameters"]
    assert record["case_config"]["kappa_eV_nm2"] == swept["kappa_eV_nm2"]
    assert record["case_config"]["seed"] == 0 and record["case_config"]["grid"] == [32, 32]
    # the stage's own summary, flattened: the swept inputs come back as reported
    assert record["outputs"]["mean_composition"] == pytest.approx(swept["mean_composition"])
    assert record["outputs"]["kappa_eV_nm2"] == swept["kappa_eV_nm2"]
    assert "outcome.final_composition_std" in record["outputs"]
    assert record["solver_wall_time_s"] >= record["outputs"]["solver.wall_time_s"] > 0
    summary = json.loads((tmp_path / "c002" / "solver" / "summary.json").read_text())
    assert summary["case"] == "surrogate-sweeps-phasefield-c002"
    traj = read_phasefield_trajectory(tmp_path / "c002" / "solver", [0.5, 1.0])
    assert traj.snapshots.shape == (4, 32, 32) and traj.times[-1] == pytest.approx(100.0)


@pytest.mark.engine
@pytest.mark.slow
def test_bo_highest_c_rate_of_the_fem_particle_under_a_stress_limit(tmp_path):
    """The issue's question on the real fem solver. The maximum von Mises stress of a lithiated
    sphere rises with C-rate (steeper concentration gradients) until the cut-off voltage ends
    the runs early; past ~5 C it is hit at t = 0 (no stress, no capacity), so the question
    needs a lower bound on the delivered fraction of capacity (utilisation) too."""
    import mpi4py.MPI  # noqa: F401  (before DOLFINx)

    from ionscale.fem.analytic import regular_solution_parameters
    from ionscale.provenance import Provenance
    from ionscale.surrogate.solvers import case_entry, run_case

    handoff = tmp_path / "parameters.h5"
    regular_solution_parameters().write(handoff, Provenance(stage="test"))
    cfg = validate_config({"fem": {"solver": {"mesh_cells": 16}, "cases": [{"name": "base"}]}})
    base = cfg["fem"]["cases"][0]
    n_runs = []

    def fem_outputs(x):
        name = f"run{len(n_runs)}"
        n_runs.append(name)
        run = run_case(
            "fem",
            cfg["fem"],
            case_entry(base, {"c_rate": x[0]}, name),
            handoff,
            tmp_path / name,
            Provenance(stage="test"),
            master_seed=0,
        )
        return scalar_outputs(run.summary)

    space = ParameterSpace([Parameter("c_rate", 0.2, 10.0, log=True)])
    limit = 300.0
    stress = "max_von_mises_stress.value_MPa"
    problem = BOProblem(
        space,
        Objective("c_rate"),
        [Constraint(stress, upper=limit), Constraint("utilisation", lower=0.5)],
    )
    result = run_bayesian_optimisation(
        problem, fem_outputs, n_initial=3, batch_size=1, n_rounds=4, seed=5
    )
    evals = result.evaluations
    used = sorted(
        (e.params[0], e.outputs[stress]) for e in evals if e.outputs["utilisation"] >= 0.5
    )
    assert np.all(np.diff([s for _, s in used]) > 0)  # stress rises with C-rate
    i, best = result.best()
    assert evals[i].outputs[stress] <= limit and evals[i].outputs["utilisation"] >= 0.5
    # a grid of 9 log-spaced C-rates (1.63x apart; its answer is 0.53 C) needs 9 runs;
    # the optimisation matches or beats it within its 7
    grid = [Evaluation(x, fem_outputs(x)) for x in space.grid(9)]
    _, grid_best = grid_answer(problem, grid)
    assert grid_best <= best
    assert result.evaluations_to_reach(grid_best) <= 7 < len(grid)
    # and the answer is bracketed: the next C-rate the grid tried above it is infeasible
    assert best < min(x[0] for x in space.grid(9) if x[0] > grid_best)


SURROGATE_RULES = [
    "surrogate_design",
    "surrogate_bo_grid",
    "surrogate_bo_propose",
    "surrogate_case",
    "surrogate_scalar",
    "surrogate_field",
    "surrogate_bo_report",
]


@pytest.mark.engine
@pytest.mark.slow
def test_snakemake_sweep_trains_surrogates_and_optimises(tmp_path):
    """The surrogate rules of the project's Snakefile on phasefield cases from a handoff file
    written here (upstream rules are not allowed to run)."""
    snakefile = (ROOT / "Snakefile").read_text()
    if not re.search(r"include:\s*\"workflow/rules/surrogate\.smk\"", snakefile):
        pytest.skip("workflow/rules/surrogate.smk is not included in the Snakefile yet")
    import yaml

    config = {
        "system": "surrogate-test",
        "seed": 7,
        "phasefield": {
            "solver": {"n_snapshots": 5, "snapshot_spacing": "linear"},
            "cases": [
                {
                    "name": "base",
                    "grid": [32, 32],
                    "kappa_eV_nm2": 0.05,
                    "mean_composition": 0.5,
                    "final_time_t0": 200,
                }
            ],
        },
        "surrogate": {
            "gp_restarts": 1,
            "phasefield": {
                "n_samples": 7,
                "parameters": [
                    {"name": "mean_composition", "low": 0.35, "high": 0.65},
                    {"name": "kappa_eV_nm2", "low": 0.03, "high": 0.1, "log": True},
                ],
                "targets": ["outcome.final_composition_std"],
                "field_surrogate": True,
            },
            "bo": {
                "enabled": True,
                "solver": "phasefield",
                "parameters": [{"name": "mean_composition", "low": 0.1, "high": 0.5}],
                "objective": {"parameter": "mean_composition"},
                "constraints": [{"output": "outcome.final_composition_std", "upper": 0.05}],
                "n_initial": 3,
                "batch_size": 1,
                "n_rounds": 1,
                "grid_points": 3,
            },
        },
    }
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    results = tmp_path / "results" / "surrogate-test"
    (results / "handoff").mkdir(parents=True)
    handoff_file(results / "handoff" / "parameters.h5")
    targets = [
        f"results/surrogate-test/surrogate/{t}/metrics.json"
        for t in ("phasefield-outcome.final_composition_std", "field-phasefield", "bo")
    ]
    run_snakemake(
        *targets,
        "-c1",
        "--configfile",
        str(cfg_path),
        "--allowed-rules",  # upstream rules may not run: the handoff file is an input here
        *SURROGATE_RULES,
        workdir=tmp_path,
        timeout=900,
    )
    scalar = json.loads((tmp_path / targets[0]).read_text())
    assert scalar["n_train"] == 5 and scalar["n_test"] == 2
    assert {"r2", "mae", "coverage"} <= set(scalar)
    assert scalar["speedup"]["speedup_single_case"] > 1  # measured in the same run
    field = json.loads((tmp_path / targets[1]).read_text())
    assert field["test_relative_l2_mean"] > field["train_relative_l2_mean"]
    bo = json.loads((tmp_path / targets[2]).read_text())
    assert bo["n_evaluations"] == 4 and bo["grid"]["n_runs"] == 3
    assert len(bo["trace"]) == 4
    assert (results / "surrogate" / "bo" / "trace.png").stat().st_size > 10_000
    assert not list(results.rglob("*.partial*"))
    proc = run_snakemake(
        *targets,
        "-n",
        "--configfile",
        str(cfg_path),
        "--allowed-rules",  # upstream rules may not run: the handoff file is an input here
        *SURROGATE_RULES,
        workdir=tmp_path,
    )
    assert "Nothing to be done" in proc.stdout + proc.stderr
