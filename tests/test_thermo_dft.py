"""The thermo stage on DFT energies (ionscale.thermo.dft_energies, ``thermo.energies.source: dft``).

The c-axis search is tested on analytic binding curves; the way from labelled structures to the
cluster expansion and its gate on a lattice Hamiltonian of known pair interactions: a cluster
expansion whose cutoff holds the interactions reproduces the held-out orderings exactly, one
whose cutoff misses one fails the gate with an error naming the MAE. The DFT itself is the
reference stage's labelling (tested there); the demo runs it (config/config.yaml).
"""

from __future__ import annotations

import json
from copy import deepcopy

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

from ionscale.config import load_config
from ionscale.thermo.dft_energies import (
    DFTEnergySettings,
    batch_of,
    dft_items,
    held_out_for_check,
    parabola_vertex,
    relax_scale,
    scaled,
)


def morse(s, s_min=0.95, depth=0.12, width=6.0):
    """A binding curve along c (eV): anharmonic, steeper when compressed."""
    return depth * ((1 - np.exp(-width * (s - s_min))) ** 2 - 1)


# -- the c-axis search --------------------------------------------------------------------------
def test_parabola_vertex_of_an_exact_parabola():
    v, a = parabola_vertex([0.9, 1.0, 1.1], [3 * (s - 0.97) ** 2 + 1 for s in (0.9, 1.0, 1.1)])
    assert v == pytest.approx(0.97) and a == pytest.approx(3.0)
    v, a = parabola_vertex([0.9, 1.0, 1.1], [-((s - 1) ** 2) for s in (0.9, 1.0, 1.1)])
    assert np.isnan(v) and a < 0


@pytest.mark.parametrize("s0", [0.95, 1.0, 1.08, 0.86])
def test_scale_search_finds_the_minimum_of_a_binding_curve_from_any_start(s0):
    res = relax_scale(morse, s0, step=0.02, tolerance=0.003, max_evaluations=10)
    assert res.converged
    assert abs(res.scale - 0.95) <= 0.006  # the lowest evaluated point, within 2 tolerances
    assert res.energy_eV == min(res.energies_eV) == pytest.approx(morse(res.scale))
    assert res.n_evaluations <= 10
    # the energy it returns is within 0.1 meV of the true minimum
    assert res.energy_eV - morse(0.95) < 1e-4


def test_scale_search_without_a_minimum_stops_unconverged_at_its_cap():
    res = relax_scale(lambda s: -s, 1.0, 0.02, 0.003, max_evaluations=6)
    assert not res.converged and res.n_evaluations == 6
    assert res.scale == max(res.scales)  # the lowest point, at the open end


def test_c_scaling_moves_the_layers_apart_and_keeps_the_plane():
    from ionscale.reference.structures import lic6_aa

    a = lic6_aa()
    b = scaled(a, 1.1, "c")
    np.testing.assert_allclose(b.cell[:2], a.cell[:2])
    assert b.cell[2, 2] == pytest.approx(1.1 * a.cell[2, 2])
    np.testing.assert_allclose(b.positions[:, :2], a.positions[:, :2], atol=1e-12)
    np.testing.assert_allclose(b.positions[:, 2], 1.1 * a.positions[:, 2], atol=1e-12)
    m = scaled(a, 1.1, "volume")
    assert m.get_volume() == pytest.approx(1.1**3 * a.get_volume())
    with pytest.raises(ValueError, match="'c' or 'volume'"):
        scaled(a, 1.1, "ab")


def test_settings_name_bad_values():
    with pytest.raises(ValueError, match=r"thermo\.energies\.source"):
        DFTEnergySettings(source="vasp")
    with pytest.raises(ValueError, match="scale_tolerance < scale_step"):
        DFTEnergySettings(scale_step=0.01, scale_tolerance=0.02)


# -- what DFT computes, and in which job ---------------------------------------------------------
@pytest.fixture(scope="module")
def cfg():
    c = load_config("config/test.yaml")
    c = deepcopy(c)
    c["thermo"]["energies"] = {
        **c["thermo"]["energies"],
        "source": "dft",
        "n_jobs": 3,
    }
    c["thermo"]["orderings"]["max_supercell_size"] = 3
    c["thermo"]["orderings"]["stages"] = [2]
    c["thermo"]["dft_check"] = {**c["thermo"]["dft_check"], "n_structures": 4, "action": "error"}
    c["thermo"]["cluster_expansion"] = {**c["thermo"]["cluster_expansion"], "cutoffs_A": [6.0]}
    return c


def test_items_are_every_ordering_and_the_references_dealt_out_once(cfg):
    items = dft_items(cfg)
    keys = [i.key for i in items]
    assert len(set(keys)) == len(keys)
    assert {"host", "metal", "stage2"} <= set(keys)
    orderings = [i for i in items if i.kind == "ordering"]
    assert len(orderings) == 15  # cells of up to 3 LiC6 sites
    assert not any("X" in i.atoms.get_chemical_symbols() for i in items)
    # the empty lattice cell starts nearer its own spacing, LiC6 at its own
    s0 = {
        round(i.atoms.get_chemical_symbols().count("Li") / len(i.atoms), 3): i.s0 for i in orderings
    }
    assert s0[0.0] < s0[round(1 / 7, 3)] == 1.0
    batches = [batch_of(items, 3, b) for b in range(3)]
    dealt = sorted(i.key for b in batches for i in b)
    assert dealt == sorted(keys)
    sizes = [sum(len(i.atoms) for i in b) for b in batches]
    assert max(sizes) - min(sizes) <= max(len(i.atoms) for i in items)
    with pytest.raises(ValueError, match="outside"):
        batch_of(items, 3, 3)


def test_thermo_calculator_replaces_only_the_keys_it_names(cfg):
    from ionscale.thermo.dft_energies import thermo_calculator_config

    c = deepcopy(cfg)
    c["thermo"]["energies"]["calculator"] = {"cutoff_eV": 600}
    merged = thermo_calculator_config(c)
    assert merged["cutoff_eV"] == 600
    assert {k: v for k, v in merged.items() if k != "cutoff_eV"} == {
        k: v for k, v in c["reference"]["calculator"].items() if k != "cutoff_eV"
    }
    c["thermo"]["energies"]["calculator"] = {"ecut": 600}
    with pytest.raises(ValueError, match=r"\['ecut'\] are not reference.calculator keys"):
        thermo_calculator_config(c)


def test_held_out_orderings_span_x_and_follow_the_seed():
    ids = [f"o{i}" for i in range(14)]
    x = np.r_[0.0, np.linspace(0.1, 0.9, 12), 1.0]
    failed = np.zeros(14, dtype=bool)
    a = held_out_for_check(ids, x, failed, 4, seed=1)
    assert a.sum() == 4 and not a[0] and not a[-1]
    xs = np.sort(x[a])
    assert xs[0] < 0.4 and xs[-1] > 0.6  # one from each quarter of the interior
    np.testing.assert_array_equal(a, held_out_for_check(ids, x, failed, 4, seed=1))
    assert not held_out_for_check(ids, x, failed, 0, seed=1).any()
    with pytest.raises(ValueError, match="max_supercell_size"):
        held_out_for_check(ids[:5], x[:5], failed[:5], 4, seed=1)


# -- labelled structures → orderings → cluster expansion → the gate ------------------------------
E_HOST, E_AA, MU_LI, E_LI_SITE = -9.3, -9.1, -1.9, -2.4  # eV per C6, per C6, per Li, per Li


def pair_counts(atoms, distance_A):
    """Li–Li pairs at ``distance_A`` (± 0.05 Å) per cell, periodic images included."""
    from ase.neighborlist import neighbor_list

    li = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "Li"]
    if not li:
        return 0
    i, j, d = neighbor_list("ijd", atoms, distance_A + 0.1)
    sel = np.isin(i, li) & np.isin(j, li) & (np.abs(d - distance_A) < 0.05)
    return int(sel.sum()) // 2


def lattice_energy(atoms, j_c, j_ab):
    """A lattice Hamiltonian: empty AA C6 per site, Li per site, c-axis (3.706 Å) and in-plane
    (4.305 Å) Li–Li pairs."""
    n_c6 = atoms.get_chemical_symbols().count("C") // 6
    n_li = atoms.get_chemical_symbols().count("Li")
    return (
        n_c6 * E_AA
        + n_li * E_LI_SITE
        + j_c * pair_counts(atoms, 3.706)
        + j_ab * pair_counts(atoms, 4.305)
    )


def labelled(item, energy):
    a = item.atoms.copy()
    a.calc = SinglePointCalculator(a, energy=energy, free_energy=energy)
    a.info = {"key": item.key, "kind": item.kind, "failed": False, "converged": True}
    a.info["n_evaluations"] = 4
    return a


def label_with(cfg, j_c, j_ab):
    frames = {}
    for item in dft_items(cfg):
        if item.kind == "ordering":
            e = lattice_energy(item.atoms, j_c, j_ab)
        elif item.kind == "host":
            e = E_HOST * item.atoms.get_chemical_symbols().count("C") / 6
        elif item.kind == "metal":
            e = MU_LI * len(item.atoms)
        else:  # a staged compound: on the host-LiC6 tie line, plus 10 meV per site
            n_c6 = item.atoms.get_chemical_symbols().count("C") // 6
            e1 = lattice_energy(dft_items(cfg)[0].atoms, j_c, j_ab)  # ord00000: LiC6
            e = E_HOST * (n_c6 - 1) + e1 + 0.01 * n_c6
        frames[item.key] = labelled(item, e)
    return frames


def run_chain(cfg, frames, tmp_path):
    import ase.io

    from ionscale.provenance import Provenance
    from ionscale.thermo.dft_energies import orderings_from_dft, read_batches, run_ce_check
    from ionscale.thermo.energies import run_cluster_expansion
    from ionscale.thermo.io import write_orderings
    from ionscale.thermo.settings import host_from_config

    # through the batch files, as the rule reads them (extxyz round trip of the info)
    keys = sorted(frames)
    for b in range(2):
        ase.io.write(tmp_path / f"batch_{b}.extxyz", [frames[k] for k in keys[b::2]])
    frames = read_batches([tmp_path / f"batch_{b}.extxyz" for b in range(2)])
    o = orderings_from_dft(cfg, frames)
    p = {
        k: tmp_path / f
        for k, f in (("h5", "o.h5"), ("lattice", "l.extxyz"), ("relaxed", "r.extxyz"))
    }
    write_orderings(
        o,
        p["h5"],
        p["lattice"],
        p["relaxed"],
        None,
        Provenance("thermo"),
        host_from_config(cfg["reference"]),
    )
    ce = {"ce": tmp_path / "ce.ce", "json": tmp_path / "ce.json"}
    run_cluster_expansion(cfg, p, ce, Provenance("thermo"), seed=3)
    out = {"json": tmp_path / "check.json", "plot": tmp_path / "check.png"}
    summary = run_ce_check(cfg, {**p, "ce": ce["ce"]}, out, Provenance("thermo"))
    return o, summary, json.loads(ce["json"].read_text()), out


def test_formation_energies_refer_to_the_dft_host_and_metal(cfg, tmp_path):
    frames = label_with(cfg, 0.03, 0.05)
    o, summary, fit, _ = run_chain(cfg, frames, tmp_path)
    x, ef = o.x, o.formation_eV_per_site[0]
    empty = np.flatnonzero(x == 0)[0]
    assert ef[empty] == pytest.approx(E_AA - E_HOST)  # the stacking energy per C6
    full = np.flatnonzero(x == 1)[0]
    assert ef[full] == pytest.approx(E_AA + E_LI_SITE + 0.03 + 3 * 0.05 - E_HOST - MU_LI)
    assert o.host_reference is not None and o.host_reference.relax_cell == "c"
    # LiC12, 10 meV/site above the host-LiC6 tie line, is at least that far above the hull
    assert summary["staged"][0]["dft_e_above_hull_eV_per_site"] >= 0.01 - 1e-9
    # the expansion never saw the held-out orderings: 11 of 15 fitted
    assert fit["n_structures"] == 15 - 4
    assert len(summary["structures"]) == 4


def test_expansion_reproduces_held_out_orderings_of_a_pair_hamiltonian(cfg, tmp_path):
    _, summary, _, out = run_chain(cfg, label_with(cfg, 0.03, 0.05), tmp_path)
    assert summary["verdict"] == "passed"
    assert summary["mae_eV_per_site"] < 1e-6  # the pairs are inside the 6 Å cutoff: exact
    assert json.loads(out["json"].read_text())["mae_eV_per_site"] == summary["mae_eV_per_site"]
    assert out["plot"].is_file()


def test_gate_stops_an_expansion_that_misses_an_interaction(cfg, tmp_path):
    from ionscale.thermo.gates import ThermoGateError

    short = deepcopy(cfg)
    short["thermo"]["cluster_expansion"]["cutoffs_A"] = [4.0]  # the c-axis pair only
    with pytest.raises(ThermoGateError, match=r"CE vs DFT formation energies: MAE .* exceeds"):
        run_chain(short, label_with(cfg, 0.03, 0.3), tmp_path)
    assert not (tmp_path / "check.json").exists()


@pytest.mark.engine
def test_gpaw_relaxes_lic6_along_c_to_its_energy_minimum(tmp_path):
    """Real GPAW (test-grade settings, D3): the c search ends bracketed at the lowest energy
    it saw, the stored energy is a fresh single point at that cell, and the in-plane cell
    stays."""
    from ionscale.reference.calculators import (
        CalculatorSettings,
        build_calculator,
        force_consistent_energy,
    )
    from ionscale.reference.structures import lic6_aa
    from ionscale.thermo.dft_energies import DFTItem, label_item

    calc_cfg = deepcopy(load_config("config/test.yaml")["reference"]["calculator"])
    item = DFTItem("lic6", "ordering", lic6_aa(), "c", 1.0)
    settings = DFTEnergySettings(source="dft", scale_step=0.03, scale_tolerance=0.005)
    out = label_item(item, calc_cfg, settings, tmp_path)
    assert out.info["failed"] is False
    scales = json.loads(out.info["scan_scales"])
    energies = json.loads(out.info["scan_energies_eV"])
    assert out.info["scale"] == scales[int(np.argmin(energies))]
    assert min(scales) < out.info["scale"] < max(scales)  # bracketed
    np.testing.assert_allclose(out.cell[:2], item.atoms.cell[:2])
    assert out.cell[2, 2] == pytest.approx(out.info["scale"] * item.atoms.cell[2, 2])
    fresh = out.copy()
    fresh.calc = build_calculator(CalculatorSettings.from_config(calc_cfg), item.atoms, tmp_path)
    assert force_consistent_energy(fresh.calc, fresh) == pytest.approx(
        out.get_potential_energy(), abs=2e-3
    )
