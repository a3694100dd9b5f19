"""The thermo gates (ionscale.thermo.gates): the DFT check and the OCV identity stop the chain.

The decisions are tested on given arrays and on analytic free energies (the regular solution,
whose ∫₀¹ OCV dx is known in closed form); the DFT gate once more with a real, deliberately
undertrained DeePMD potential against real GPAW (engine).
"""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import numpy as np
import pytest

from ionscale.gates import ALLOWED, FAILED, PASSED
from ionscale.thermo.gates import (
    DFTCheckSettings,
    OCVIdentitySettings,
    ThermoGateError,
    end_member_formation_energies,
    enforce,
    judge_dft_check,
    ocv_identity,
    ocv_integral_V,
)
from ionscale.units import BOLTZMANN_eV_K

GRID = np.linspace(0.02, 0.98, 481)


def sub_regular(x, temperature_K, omega0, omega1, e_end):
    """f = x(1−x)[Ω₀ + Ω₁(2x−1)] + x ΔE + kT[x ln x + (1−x) ln(1−x)] (Redlich–Kister, two
    terms): (f eV/site, μ = ∂f/∂x eV). f(0) = 0, f(1) = ΔE; Ω₁ breaks the x ↔ 1 − x symmetry
    that would let the trapezoid errors of the two halves cancel."""
    kT = BOLTZMANN_eV_K * temperature_K
    f = (
        x * (1 - x) * (omega0 + omega1 * (2 * x - 1))
        + x * e_end
        + kT * (x * np.log(x) + (1 - x) * np.log(1 - x))
    )
    mu = omega0 * (1 - 2 * x) + omega1 * (-6 * x**2 + 6 * x - 1) + e_end + kT * np.log(x / (1 - x))
    return f, mu


# -- DFT check: the decision on given arrays -------------------------------------------------
def test_dft_gate_passes_within_the_tolerance():
    dp, dft = np.array([-0.10, 0.02, -0.20]), np.array([-0.11, 0.03, -0.19])
    v = judge_dft_check(dp, dft, [0.5, 0.25, 1.0], [3, 1, 0], 3, DFTCheckSettings())
    assert v.verdict == PASSED and not v.problems
    assert v.numbers["mae_eV_per_site"] == pytest.approx(0.01)
    enforce(v, "thermo DFT check", "thermo.dft_check.action: warn")  # does not raise


def test_dft_gate_error_names_mae_tolerance_and_worst_ordering():
    # the four orderings: DP vs GPAW formation energies (eV/site)
    dp = np.array([-0.598, -0.584, -0.304, -0.066])
    dft = np.array([0.110, 0.071, 0.127, -0.207])
    x, idx = [0.25, 0.4, 0.8, 1.0], [12, 30, 41, 0]
    settings = DFTCheckSettings(max_mae_eV_per_site=0.025, action="error")
    v = judge_dft_check(dp, dft, x, idx, 4, settings)
    assert v.verdict == FAILED
    mae = np.mean(np.abs(dp - dft))
    assert v.numbers["mae_eV_per_site"] == pytest.approx(mae)
    assert v.numbers["worst"]["index"] == 12  # |−0.598 − 0.110| is the largest error
    with pytest.raises(ThermoGateError) as err:
        enforce(v, "thermo DFT check", "thermo.dft_check.action: warn")
    msg = str(err.value)
    assert f"MAE {mae:.4f} eV/site" in msg
    assert "thermo.dft_check.max_mae_eV_per_site = 0.025 eV/site" in msg
    assert "ordering 12 (x = 0.250) DP -0.5980 vs DFT +0.1100 eV/site" in msg
    assert "thermo.dft_check.action: warn" in msg
    assert err.value.record["numbers"]["mae_eV_per_site"] == pytest.approx(mae)


def test_dft_gate_allowed_by_config_goes_on_and_says_so():
    settings = DFTCheckSettings(max_mae_eV_per_site=0.025, action="warn")
    v = judge_dft_check([0.5], [-0.5], [1.0], [0], 1, settings)
    assert v.verdict == ALLOWED and v.problems
    enforce(v, "thermo DFT check", "thermo.dft_check.action: warn")  # logs, does not raise


@pytest.mark.parametrize("n_computed", [0, 2])
def test_dft_gate_fails_when_dft_computed_too_few(n_computed):
    dp = np.zeros(n_computed)  # perfect agreement on what was computed
    v = judge_dft_check(dp, dp, [0.5] * n_computed, range(n_computed), 3, DFTCheckSettings())
    assert v.verdict == FAILED
    assert f"only {n_computed} of the 3 selected" in v.problems[0]


def test_gate_settings_name_their_keys():
    with pytest.raises(ValueError, match=r"thermo\.dft_check\.action"):
        DFTCheckSettings(action="ignore")
    with pytest.raises(ValueError, match=r"thermo\.ocv_identity\.tolerance_V"):
        OCVIdentitySettings(tolerance_V=0.0)


# -- OCV identity --------------------------------------------------------------------------------
@pytest.mark.parametrize("temperature_K", [250.0, 300.0, 600.0])
@pytest.mark.parametrize(
    ("omega0", "omega1", "e_end"),
    [(0.0, 0.0, -0.1), (0.1, 0.0, -0.1), (0.12, 0.08, -0.094), (-0.05, -0.2, 0.05)],
)
def test_ocv_integral_of_a_regular_solution_is_minus_its_end_energy(
    temperature_K, omega0, omega1, e_end
):
    _, mu = sub_regular(GRID, temperature_K, omega0, omega1, e_end)
    integral, tails = ocv_integral_V(GRID, -mu, temperature_K)
    assert integral == pytest.approx(-e_end, abs=1e-4)
    # the tails are of order x_min·(μ ± kT): present, but not what makes the identity hold
    assert 0 < abs(tails) < 0.05


def test_ocv_integral_on_a_coarse_asymmetric_grid():
    x = np.linspace(0.01, 0.95, 181)
    _, mu = sub_regular(x, 300.0, 0.1, 0.1, -0.2)
    assert ocv_integral_V(x, -mu, 300.0)[0] == pytest.approx(0.2, abs=1e-4)


def test_ocv_identity_holds_for_an_f_that_honours_its_end_points():
    temps = [280.0, 300.0, 320.0]
    ocv = np.array([-sub_regular(GRID, t, 0.12, 0.05, -0.094)[1] for t in temps])
    hull_x, hull_e = np.array([0.0, 0.5, 1.0]), np.array([0.0, -0.02, -0.094])
    ends = end_member_formation_energies(hull_x, hull_e)
    res = ocv_identity(GRID, ocv, temps, ends, OCVIdentitySettings())
    assert res.verdict.verdict == PASSED
    assert res.expected_V == pytest.approx(0.094)
    np.testing.assert_allclose(res.difference_V, 0.0, atol=1e-4)


@pytest.mark.parametrize("shift_eV", [0.03, -0.03])
def test_ocv_identity_catches_an_f_that_misses_its_end_point(shift_eV):
    """The μ table integrates to f(1) = ΔE + shift, but the hull says ΔE: caught, both named."""
    ocv = -sub_regular(GRID, 300.0, 0.12, 0.05, -0.094 + shift_eV)[1][None, :]
    settings = OCVIdentitySettings(tolerance_V=0.015, action="error")
    res = ocv_identity(GRID, ocv, [300.0], (0.0, -0.094), settings)
    assert res.verdict.verdict == FAILED
    assert res.difference_V[0] == pytest.approx(-shift_eV, abs=1e-4)
    with pytest.raises(ThermoGateError) as err:
        enforce(res.verdict, "OCV identity", "thermo.ocv_identity.action: warn")
    msg = str(err.value)
    assert f"= {res.integral_V[0]:+.4f} V" in msg and "= +0.0940 V" in msg
    assert "thermo.ocv_identity.tolerance_V = 0.015 V" in msg
    allowed = ocv_identity(GRID, ocv, [300.0], (0.0, -0.094), OCVIdentitySettings(action="warn"))
    assert allowed.verdict.verdict == ALLOWED


def test_free_energy_rule_check_stops_before_writing_and_records_when_allowed(tmp_path):
    """check_ocv_identity as run_free_energy calls it: raises on a violation; with warn its
    numbers go to free_energy.h5 under fit/ocv_identity with units."""
    from ionscale.io import Quantity, read_quantity, write_h5
    from ionscale.provenance import Provenance
    from ionscale.thermo.free_energy import check_ocv_identity
    from ionscale.thermo.io import ocv_identity_datasets

    temps = np.array([300.0])
    mu = sub_regular(GRID, 300.0, 0.1, 0.0, -0.05)[1][None, :]
    res = SimpleNamespace(x=GRID, mu=mu, temperature_K=temps)
    hull_x, hull_e = np.array([0.0, 1.0]), np.array([0.0, -0.094])  # f(1) off by 44 meV
    thermo = {"ocv_identity": {"tolerance_V": 0.015, "action": "error"}}
    with pytest.raises(ThermoGateError, match="OCV identity failed"):
        check_ocv_identity(res, hull_x, hull_e, thermo)
    thermo["ocv_identity"]["action"] = "warn"
    identity = check_ocv_identity(res, hull_x, hull_e, thermo)
    path = tmp_path / "fe.h5"
    datasets: dict[str, Quantity] = ocv_identity_datasets(identity)
    write_h5(path, datasets, Provenance("thermo"))
    assert read_quantity(path, "fit/ocv_identity/verdict").value == ALLOWED.encode()
    diff = read_quantity(path, "fit/ocv_identity/difference_V")
    assert diff.units == "V" and diff.value[0] == pytest.approx(0.05 - 0.094, abs=1e-4)
    assert read_quantity(path, "fit/ocv_identity/tolerance_V").value == 0.015


def test_end_members_come_from_the_hull_vertices():
    assert end_member_formation_energies([0.0, 0.5, 1.0], [0.01, -0.1, -0.2]) == (0.01, -0.2)
    with pytest.raises(ValueError, match="no vertex at x = 1"):
        end_member_formation_energies([0.0, 0.5], [0.0, -0.1])


# -- the DFT gate with a real undertrained potential and real GPAW --------------------------------
@pytest.mark.engine
@pytest.mark.slow
def test_dft_check_stops_an_undertrained_potential(tiny_dp, tmp_path):
    """The tiny test ensemble (300 DeePMD steps) against GPAW: the rule's function raises with
    the MAE and the tolerance and writes nothing; with action warn it writes the JSON with the
    verdict and the same numbers."""
    from ionscale.provenance import Provenance
    from ionscale.reference.structures import lic6_aa
    from ionscale.settings import section_defaults
    from ionscale.thermo.atomistic import RelaxSettings
    from ionscale.thermo.io import write_orderings
    from ionscale.thermo.stage import HostLattice, compute_orderings, run_dft_check

    host = HostLattice(lic6_aa(), "Li", "LiC6 prototype")
    relax = RelaxSettings(fmax_eV_A=0.1, max_steps=15, relax_cell=False)
    orderings = compute_orderings(host, [str(m) for m in tiny_dp], 2, 0, 3.44, relax)
    h5, lattice, relaxed = (tmp_path / p for p in ("o.h5", "lattice.extxyz", "relaxed.extxyz"))
    write_orderings(orderings, h5, lattice, relaxed, None, Provenance("thermo"), host)
    # the physics the ensemble was trained on (tests/_lixc6.py: PBE, 300 eV, no dispersion)
    calc = section_defaults("reference.calculator") | {
        "cutoff_eV": 300,
        "kpoint_density_per_A": 1.5,
        "dispersion": "none",
        "scf_energy_tolerance_eV": 1e-4,
    }
    inputs = {"h5": str(h5), "relaxed": str(relaxed)}

    def run(action: str, out_dir: str) -> dict:
        cfg = {
            "reference": {"mobile_species": "Li"},
            "thermo": {
                "dft_check": {"n_structures": 1, "max_mae_eV_per_site": 0.025, "action": action}
            },
        }
        out = {"json": str(tmp_path / out_dir / "dft_check.json"),
               "plot": str(tmp_path / out_dir / "dft_check.png")}  # fmt: skip
        run_dft_check(cfg, calc, inputs, out, Provenance("thermo"), tmp_path / out_dir / "work")
        return out

    with pytest.raises(ThermoGateError) as err:
        run("error", "error")
    record = err.value.record
    mae = record["numbers"]["mae_eV_per_site"]
    assert record["numbers"]["n_computed"] == record["numbers"]["n_expected"] == 2
    assert mae > 0.025  # the premise: an undertrained potential is not DFT
    msg = str(err.value)
    assert f"MAE {mae:.4f} eV/site" in msg
    assert "thermo.dft_check.max_mae_eV_per_site = 0.025 eV/site" in msg
    worst = record["numbers"]["worst"]
    assert f"DP {worst['dp_formation_energy_eV_per_site']:+.4f}" in msg
    assert f"DFT {worst['dft_formation_energy_eV_per_site']:+.4f}" in msg
    assert not (tmp_path / "error" / "dft_check.json").exists()  # a failed gate writes nothing

    out = run("warn", "warn")
    summary = json.loads(open(out["json"]).read())
    assert summary["verdict"] == ALLOWED
    assert summary["max_mae_eV_per_site"] == 0.025 and summary["action"] == "warn"
    assert summary["mae_eV_per_site"] == pytest.approx(mae, rel=1e-6)
    errors = [r["dp_formation_energy_eV_per_site"] - r["dft_formation_energy_eV_per_site"]
              for r in summary["structures"]]  # fmt: skip
    assert summary["mae_eV_per_site"] == pytest.approx(np.mean(np.abs(errors)))


# -- the chain waits for the gates ----------------------------------------------------------------
def _rule_edges(tmp_path, **thermo_changes) -> set[tuple[str, str]]:
    import re

    import yaml
    from conftest import ROOT, run_snakemake

    raw = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    raw["thermo"]["dft_check"].update(thermo_changes)
    tmp_path.mkdir()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    proc = run_snakemake("--rulegraph", "--configfile", str(cfg), workdir=tmp_path)
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', proc.stdout, flags=re.M))
    edges = re.findall(r"^\s*(\d+) -> (\d+)", proc.stdout, flags=re.M)
    return {(names[a], names[b]) for a, b in edges}


def test_handoff_waits_for_the_dft_check_when_it_is_enabled(tmp_path):
    """thermo_dft_check → handoff_parameters (which phasefield, fem and the surrogates need):
    a failed check, which writes no dft_check.json, stops them; disabled, nothing waits."""
    edges = _rule_edges(tmp_path / "on", enabled=True)
    assert ("thermo_dft_check", "handoff_parameters") in edges
    downstream, todo = set(), ["thermo_dft_check"]
    while todo:
        rule = todo.pop()
        for a, b in edges:
            if a == rule and b not in downstream:
                downstream.add(b)
                todo.append(b)
    for stage in ("phasefield", "fem", "surrogate"):
        assert any(r.startswith(stage) for r in downstream), (stage, sorted(downstream))
    off = _rule_edges(tmp_path / "off", enabled=False)
    assert not any("thermo_dft_check" in e for e in off)


def test_dft_check_takes_only_orderings_no_round_trained_on():
    from ionscale.active import held_out
    from ionscale.config import validate_config
    from ionscale.thermo.energies import held_out_orderings

    cfg = validate_config({"seed": 5})
    ids = np.array([f"ord{k:05d}" for k in range(40)])
    arrays = {"ordering_id": ids, "n_sites": np.array([1, 2, 3, 4, 5, 6] * 6 + [1, 2, 3, 4])}
    assert held_out_orderings(cfg, arrays) is None  # no loop over orderings: all eligible
    cfg["active_learning"]["max_rounds"] = 2
    cfg["active_learning"]["orderings"].update(n_frames=3, max_supercell_size=4)
    got = held_out_orderings(cfg, arrays)
    frac = cfg["active_learning"]["orderings"]["held_out_fraction"]
    for i, s, g in zip(ids, arrays["n_sites"], got, strict=True):
        assert g == (s > 4 or held_out(i, frac, 5))
    assert got.any() and not got.all()


def test_dft_hull_flags_say_which_structures_dft_puts_on_its_hull():
    from ionscale.thermo.dft import dft_hull_flags

    rows = [
        {"li_fraction": 1.0, "dft_formation_energy_eV_per_site": -0.094},
        {"li_fraction": 0.5, "dft_formation_energy_eV_per_site": -0.060, "stage": 2},
        {"li_fraction": 0.5, "dft_formation_energy_eV_per_site": -0.030},
        {"li_fraction": 0.0, "dft_formation_energy_eV_per_site": 0.119},  # AA vs AB
    ]
    dft_hull_flags(rows, host=True)
    assert [r["dft_on_hull"] for r in rows] == [True, True, False, False]
    assert rows[2]["dft_e_above_hull_eV_per_site"] == pytest.approx(0.030)
    assert rows[3]["dft_e_above_hull_eV_per_site"] == pytest.approx(0.119)


# -- OCV against measurement ----------------------------------------------------------------------
def staircase_ocv(x, plateaus, temperature_K=300.0, width=0.01):
    """Graphite-like OCV: plateaus ``[(x_start, V), ...]`` (decreasing V) joined by steps of
    ``width`` in x, and below x = 0.05 the dilute lattice gas's rise kT ln(0.05/x)."""
    kT = BOLTZMANN_eV_K * temperature_K
    v = np.full_like(x, plateaus[0][1])
    for (_, hi), (x0, lo) in itertools.pairwise(plateaus):
        v += (lo - hi) * 0.5 * (1 + np.tanh((x - x0) / width))
    return v + np.where(x < 0.05, kT * np.log(0.05 / x), 0.0)


def test_mean_ocv_of_a_linear_curve_is_its_midpoint_value():
    from ionscale.thermo.gates import mean_ocv_V

    v = 0.3 - 0.25 * GRID
    for lo, hi in [(0.05, 0.95), (0.6, 0.95), (0.333, 0.41)]:
        assert mean_ocv_V(GRID, v, lo, hi) == pytest.approx(0.3 - 0.25 * (lo + hi) / 2, abs=1e-12)
    with pytest.raises(ValueError, match="misses the grid"):
        mean_ocv_V(GRID, v, 0.99, 1.0)


def test_ocv_check_passes_graphite_staging_plateaus():
    """Plateaus at 0.21 (x < 0.25), 0.12 (to 0.5) and 0.085 V: mean over 0.05-0.95 ≈ 0.122 V,
    over 0.6-0.95 0.085 V; both within graphite's default windows."""
    from ionscale.thermo.gates import OCVCheckSettings, judge_ocv

    v = staircase_ocv(GRID, [(0.0, 0.21), (0.25, 0.12), (0.5, 0.085)])
    got = judge_ocv(GRID, v, 300.0, OCVCheckSettings())
    assert got.verdict == PASSED, got.problems
    w = {(d["x_min"], d["x_max"]): d for d in got.numbers["windows"]}
    expected = (0.2 * 0.21 + 0.25 * 0.12 + 0.45 * 0.085) / 0.9
    assert w[(0.05, 0.95)]["mean_V"] == pytest.approx(expected, abs=2e-3)
    assert w[(0.6, 0.95)]["mean_V"] == pytest.approx(0.085, abs=1e-4)
    assert w[(0.6, 0.95)]["measured_mean_V"] == 0.085
    assert got.numbers["max_rise_V"] == pytest.approx(0.0, abs=1e-12)


def test_ocv_check_stops_a_voltage_curve_that_is_not_graphite():
    """The default run's fiction (OCV from +0.97 V at x = 0.05 to −0.86 V at x = 0.9): below
    0 V and both means far from the measured ones; the error names ours and the measured."""
    from ionscale.thermo.gates import OCVCheckSettings, judge_ocv

    v = np.interp(GRID, [0.05, 0.9], [0.97, -0.86])
    got = judge_ocv(GRID, v, 300.0, OCVCheckSettings())
    assert got.verdict == FAILED
    text = " ".join(got.problems)
    assert "below thermo.ocv_check.min_V = 0 V" in text
    assert "measured 0.12 ± 0.05 V" in text and "measured 0.085 ± 0.04 V" in text
    with pytest.raises(ThermoGateError, match="OCV check failed"):
        enforce(got, "thermo OCV check", "thermo.ocv_check.action: warn")
    allowed = judge_ocv(GRID, v, 300.0, OCVCheckSettings(action="warn"))
    assert allowed.verdict == ALLOWED


@pytest.mark.parametrize(("bump_V", "verdict"), [(0.005, PASSED), (0.03, FAILED)])
def test_ocv_check_allows_ripple_but_not_a_rising_ocv(bump_V, verdict):
    """∂μ/∂x ≥ 0: the OCV may not rise with x beyond monotonic_tolerance_V (10 mV)."""
    from ionscale.thermo.gates import OCVCheckSettings, judge_ocv

    v = staircase_ocv(GRID, [(0.0, 0.21), (0.25, 0.12), (0.5, 0.085)])
    v = v + bump_V * np.exp(-(((GRID - 0.7) / 0.03) ** 2))
    got = judge_ocv(GRID, v, 300.0, OCVCheckSettings())
    assert got.verdict == verdict, got.problems
    assert got.numbers["max_rise_V"] == pytest.approx(bump_V, rel=0.05)
    assert 0.68 < got.numbers["max_rise_at_x"] < 0.72


def test_ocv_check_settings_name_their_keys():
    from ionscale.thermo.gates import OCVCheckSettings
    from ionscale.thermo.settings import check_settings

    with pytest.raises(ValueError, match=r"thermo.ocv_check.windows: need 0 <= x_min < x_max"):
        OCVCheckSettings(windows=({"x_min": 0.9, "x_max": 0.6, "mean_V": 0.1, "tolerance_V": 0.1},))
    with pytest.raises(ValueError, match=r"thermo\.ocv_check\.action"):
        OCVCheckSettings(action="ignore")
    from ionscale.config import validate_config

    cfg = validate_config({"thermo": {"temperatures_K": [280, 320]}})
    with pytest.raises(ValueError, match=r"thermo.ocv_check.temperature_K = 300 K is not one of"):
        check_settings(cfg["thermo"])
    cfg["thermo"]["ocv_check"]["enabled"] = False
    check_settings(cfg["thermo"])


def _free_energy_h5(path, v):
    """The datasets of free_energy.h5 that the OCV check reads (ionscale.thermo.io layout)."""
    from ionscale.io import Quantity, write_h5
    from ionscale.provenance import Provenance

    write_h5(
        path,
        {
            "x": Quantity(GRID, "1", "Li site fraction"),
            "temperature_K": Quantity(np.array([280.0, 300.0]), "K", "temperatures"),
            "chemical_potential_eV": Quantity(-np.vstack([v + 0.01, v]), "eV", "mu"),
            "analysis/T280K/two_phase_x": Quantity(np.zeros((0, 2)), "1", ""),
            "analysis/T280K/two_phase_voltage_V": Quantity(np.zeros(0), "V", ""),
            "analysis/T300K/two_phase_x": Quantity(np.array([[0.5, 0.97]]), "1", ""),
            "analysis/T300K/two_phase_voltage_V": Quantity(np.array([0.085]), "V", ""),
            "hull/li_fraction": Quantity(np.array([0.0, 1.0]), "1", ""),
            "hull/formation_energy_eV_per_site": Quantity(np.array([0.0, -0.09]), "eV/site", ""),
        },
        Provenance("thermo"),
    )


def test_ocv_check_rule_records_its_numbers_and_writes_nothing_on_failure(tmp_path):
    from ionscale.config import validate_config
    from ionscale.provenance import Provenance
    from ionscale.thermo.free_energy import run_ocv_check

    cfg = validate_config({})
    good, bad = tmp_path / "good.h5", tmp_path / "bad.h5"
    _free_energy_h5(good, staircase_ocv(GRID, [(0.0, 0.21), (0.25, 0.12), (0.5, 0.085)]))
    _free_energy_h5(bad, np.interp(GRID, [0.05, 0.9], [0.97, -0.86]))
    out = tmp_path / "ocv_check.json"
    summary = run_ocv_check(cfg, good, out, Provenance("thermo"))
    on_disk = json.loads(out.read_text())
    assert on_disk["verdict"] == summary["verdict"] == PASSED
    assert on_disk["temperature_K"] == 300.0
    assert on_disk["two_phase_regions"] == [{"x_alpha": 0.5, "x_beta": 0.97, "plateau_V": 0.085}]
    assert [w["measured_mean_V"] for w in on_disk["windows"]] == [0.12, 0.085]
    out.unlink()
    with pytest.raises(ThermoGateError, match="thermo OCV check failed"):
        run_ocv_check(cfg, bad, out, Provenance("thermo"))
    assert not out.exists()
    cfg["thermo"]["ocv_check"]["action"] = "warn"
    assert run_ocv_check(cfg, bad, out, Provenance("thermo"))["verdict"] == ALLOWED
    assert json.loads(out.read_text())["min_ocv_V"] < 0
    cfg["thermo"]["ocv_check"]["temperature_K"] = 320
    with pytest.raises(ValueError, match="320 K is not tabulated"):
        run_ocv_check(cfg, good, out, Provenance("thermo"))


def test_handoff_waits_for_the_ocv_check(tmp_path):
    edges = _rule_edges(tmp_path / "on")
    assert ("thermo_free_energy", "thermo_ocv_check") in edges
    assert ("thermo_ocv_check", "handoff_parameters") in edges
