"""Reference stage: structures, sampling, calculators, labelling with real GPAW, import, gather.

Physics identities: forces are minus the gradient of the (free) energy and the stress its
strain derivative per volume (finite differences with real GPAW + D3 on tiny cells); periodic
forces sum to zero; symmetry-equivalent orderings are one ordering; imports round-trip exactly.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import Rydberg, kB
from conftest import ROOT

from ionscale.config import ConfigError, validate_config
from ionscale.io import read_provenance
from ionscale.provenance import Provenance
from ionscale.reference import calculators, checks, importing, sampling, stage, structures
from ionscale.reference.calculators import CalculatorSettings
from ionscale.reference.structures import StructureError

PROV = Provenance("reference-test")


def _default_reference(**overrides):
    """The schema-default reference section with top-level overrides."""
    return validate_config({"reference": overrides})["reference"]


def _labelled(atoms: Atoms, energy: float, forces=None, stress=None, **info) -> Atoms:
    """A frame with a SinglePointCalculator (synthetic labels for the non-DFT tests)."""
    atoms = atoms.copy()
    n = len(atoms)
    atoms.calc = SinglePointCalculator(
        atoms,
        energy=energy,
        free_energy=energy,
        forces=np.zeros((n, 3)) if forces is None else forces,
        stress=np.zeros(6) if stress is None else stress,
    )
    atoms.info = {"config_type": "ordering", "li_fraction": 1.0, "frame_id": "f", **info}
    return atoms


# --------------------------------------------------------------------------- structures


@pytest.mark.parametrize(
    ("file", "prototype"),
    [
        ("graphite/LiC6.cif", "LiC6"),
        ("graphite/graphite_AB.cif", "graphite-AB"),
        ("lithium/Li_bcc.cif", "Li-bcc"),
    ],
)
def test_resource_files_are_the_prototypes(file, prototype):
    from_file = structures.load_structure(file=ROOT / "resources" / file)
    built = structures.load_structure(prototype=prototype)
    assert from_file.get_chemical_symbols() == built.get_chemical_symbols()
    np.testing.assert_allclose(from_file.cell[:], built.cell[:], atol=1e-12)
    # the same sites up to a lattice translation (a coordinate at 1 - 1e-16 may wrap to 0)
    frac = from_file.get_scaled_positions(wrap=False) - built.get_scaled_positions(wrap=False)
    np.testing.assert_allclose(frac - np.round(frac), 0.0, atol=1e-10)


def test_lic6_geometry():
    """C–C bond a/3, Li above the hexagon centre at c/2 from the layer, one Li per 6 C."""
    atoms = structures.lic6_aa()
    d = atoms.get_all_distances(mic=True)
    li, c = 0, np.arange(1, 7)
    cc = d[np.ix_(c, c)][d[np.ix_(c, c)] > 0].min()
    assert cc == pytest.approx(4.305 / 3, abs=1e-9)
    li_c = np.hypot(4.305 / 3, 3.706 / 2)  # hexagon radius and half the layer spacing
    np.testing.assert_allclose(d[li, c], li_c, atol=1e-9)
    assert structures.sites_per_host_atom(atoms, "Li") == pytest.approx(1 / 6)
    assert structures.closest_pair(structures.li_bcc())[0] == pytest.approx(3.51004 * 3**0.5 / 2)


def test_site_fraction():
    host = structures.lic6_aa()
    per_host = structures.sites_per_host_atom(host, "Li")
    half = structures.make_supercell(host, (2, 1, 1))
    del half[[0]]
    assert structures.site_fraction(host, "Li", per_host) == 1.0
    assert structures.site_fraction(half, "Li", per_host) == 0.5
    assert structures.site_fraction(structures.graphite_ab(), "Li", per_host) == 0.0
    assert np.isnan(structures.site_fraction(structures.li_bcc(), "Li", per_host))


def test_missing_and_unreadable_structure_file(tmp_path):
    with pytest.raises(StructureError, match=r"nope\.cif does not exist"):
        structures.load_structure(file=tmp_path / "nope.cif")
    bad = tmp_path / "garbage.cif"
    bad.write_text("this is not a crystal structure\n")
    with pytest.raises(StructureError, match=r"cannot read structure file .*garbage\.cif"):
        structures.load_structure(file=bad)
    with pytest.raises(StructureError, match="unknown prototype 'LiC12'"):
        structures.load_structure(prototype="LiC12")
    with pytest.raises(StructureError, match="exactly one"):
        structures.load_structure()


def test_structure_without_mobile_species_or_with_overlaps():
    with pytest.raises(StructureError, match=r"host structure: contains no Li .* C4"):
        structures.validate_structure(structures.graphite_ab(), "host structure", 0.9, "Li")
    atoms = structures.lic6_aa()
    atoms.positions[2] = atoms.positions[1] + [0.3, 0.0, 0.0]
    with pytest.raises(StructureError, match=r"atoms 1 \(C\) and 2 \(C\) are 0\.300 Å apart"):
        structures.validate_structure(atoms, "LiC6", 0.9, "Li")
    # sampling refuses it before anything else
    settings = sampling.SamplingSettings.from_config(_default_reference())
    with pytest.raises(StructureError, match="apart"):
        sampling.sample_frames(atoms, settings, seed=1)


# --------------------------------------------------------------------------- config / registry


def test_bad_batch_size_and_unknown_calculator_are_config_errors():
    with pytest.raises(ConfigError, match=r"key 'reference\.batch_size': 0 is less than"):
        validate_config({"reference": {"batch_size": 0}})
    with pytest.raises(ConfigError, match=r"key 'reference\.batch_size': -3 is less than"):
        validate_config({"reference": {"batch_size": -3}})
    with pytest.raises(ConfigError, match=r"reference\.batch_size: must be a positive integer"):
        sampling.batch_count(10, 0)
    with pytest.raises(ConfigError, match=r"key 'reference\.calculator\.name': 'siesta'"):
        validate_config({"reference": {"calculator": {"name": "siesta"}}})
    with pytest.raises(ConfigError, match=r"unknown calculator 'siesta'; known: gpaw, vasp"):
        calculators.get_calculator_spec("siesta")


def test_calculator_parameters_carry_the_same_physics():
    atoms = structures.lic6_aa()
    s = CalculatorSettings(
        cutoff_eV=600, kpoint_density_per_A=3.0, smearing_width_eV=0.1,
        scf_energy_tolerance_eV=1e-5, parameters={"pseudopotentials": {"Li": "li.upf",
                                                                       "C": "c.upf"}},
    )  # fmt: skip
    grid = calculators.kpoint_grid(atoms, 3.0)
    # n_i = ceil(2π |b_i| ρ): |b_1| = 2/(√3 a), |b_3| = 1/c
    assert grid == (
        int(np.ceil(2 * np.pi * 2 / (np.sqrt(3) * 4.305) * 3.0)),
        int(np.ceil(2 * np.pi * 2 / (np.sqrt(3) * 4.305) * 3.0)),
        int(np.ceil(2 * np.pi / 3.706 * 3.0)),
    )
    qe = calculators._espresso_parameters(s, atoms)["input_data"]
    assert qe["system"]["ecutwfc"] == pytest.approx(600 / Rydberg)
    assert qe["system"]["degauss"] == pytest.approx(0.1 / Rydberg)
    assert qe["electrons"]["conv_thr"] == pytest.approx(1e-5 * 7 / Rydberg)
    assert qe["control"]["tstress"] and qe["control"]["tprnfor"]
    vasp = calculators._vasp_parameters(s, atoms)
    assert (vasp["encut"], vasp["ismear"], vasp["sigma"], vasp["kpts"]) == (600, -1, 0.1, grid)
    assert vasp["ediff"] == pytest.approx(7e-5)
    cp2k = calculators._cp2k_parameters(s, atoms)
    assert f"ELECTRONIC_TEMPERATURE [K] {0.1 / kB:.1f}" in cp2k["inp"]
    assert "SCHEME MONKHORST-PACK {} {} {}".format(*grid) in cp2k["inp"]
    gpaw = calculators._gpaw_parameters(s, atoms)
    assert gpaw["mode"]["ecut"] == 600 and gpaw["kpts"] == {"size": grid, "gamma": True}
    with pytest.raises(ConfigError, match="no VASP ISMEAR"):
        calculators._vasp_parameters(
            CalculatorSettings(name="vasp", smearing="marzari-vanderbilt"), atoms
        )
    with pytest.raises(ConfigError, match=r"pseudopotentials.*\['C', 'Li'\]"):
        calculators.validate_calculator_settings(CalculatorSettings(name="espresso"), atoms)


def test_workflow_plan_checks_inputs_before_any_job(tmp_path):
    ref = _default_reference()
    plan = stage.plan_workflow(ref, ROOT)
    assert Path(plan.files["structure"]).resolve() == ROOT / "resources/graphite/LiC6.cif"
    assert len(plan.batches) == -(-plan.planned_frames // ref["batch_size"])  # ceil
    assert plan.batches[0] == "0000" and plan.imports == []
    bad = _default_reference(structure={"file": "resources/graphite/missing.cif"})
    with pytest.raises(ConfigError, match=r"reference\.structure\.file: file .*missing\.cif"):
        stage.plan_workflow(bad, ROOT)
    no_li = _default_reference(structure={"file": "resources/graphite/graphite_AB.cif"})
    with pytest.raises(StructureError, match="contains no Li"):
        stage.plan_workflow(no_li, ROOT)
    imports = _default_reference(imports=[{"file": "nowhere.xyz", "format": "extxyz"}])
    with pytest.raises(ConfigError, match=r"reference\.imports\[0\]\.file: file nowhere\.xyz"):
        stage.plan_workflow(imports, tmp_path)
    with pytest.raises(ConfigError, match="unknown calculator"):
        stage.plan_workflow({**ref, "calculator": {**ref["calculator"], "name": "abinit"}}, ROOT)
    with pytest.raises(ConfigError, match=r"reference\.batch_size: must be a positive"):
        stage.plan_workflow({**ref, "batch_size": 0}, ROOT)


# --------------------------------------------------------------------------- sampling


def _sample(seed=2026, **overrides):
    ref = _default_reference(**overrides)
    settings = sampling.SamplingSettings.from_config(ref)
    result = sampling.sample_frames(
        structures.lic6_aa(), settings, seed, structures.li_bcc(), structures.graphite_ab()
    )
    return settings, result


def test_same_config_and_seed_give_identical_frames(tmp_path):
    ref = _default_reference()
    cfg = {"seed": 2026, "reference": ref}
    files = {}
    for run in ("a", "b", "c"):
        cfg_run = {**cfg, "seed": 2027} if run == "c" else cfg
        out = tmp_path / run / "sampled.extxyz"
        stage.sample(
            cfg_run, ROOT / "resources/graphite/LiC6.cif", ROOT / "resources/lithium/Li_bcc.cif",
            ROOT / "resources/graphite/graphite_AB.cif", out, tmp_path / run / "s.json", PROV,
        )  # fmt: skip
        files[run] = out.read_bytes()
    assert files["a"] == files["b"]
    assert files["a"] != files["c"]  # the seed matters
    frames = stage.read_frames(tmp_path / "a" / "sampled.extxyz")
    ids = [a.info["frame_id"] for a in frames]
    assert len(ids) == len(set(ids))
    types = {a.info["config_type"] for a in frames}
    assert types == {"ordering", "rattle", "strain", "vacancy", "li_metal", "host"}
    assert all(
        np.isnan(a.info["li_fraction"]) for a in frames if a.info["config_type"] == "li_metal"
    )
    summary = json.loads((tmp_path / "a" / "s.json").read_text())
    assert summary["n_frames"] == len(frames) <= summary["planned_upper_bound"]
    assert read_provenance(tmp_path / "a" / "s.json")["stage"] == "reference-test"


def test_sampling_covers_compositions_and_removes_symmetry_duplicates():
    settings, result = _sample()
    assert len(result.frames) <= sampling.planned_frame_count(settings)
    xs = sorted(
        {a.info["li_fraction"] for a in result.frames if a.info["config_type"] == "ordering"}
    )
    assert xs == [0.0, 0.5, 1.0]
    # in the 2x1x1 cell the two half-filled orderings are related by a lattice translation
    dup = {d["frame_id"]: d["duplicate_of"] for d in result.duplicates}
    assert dup["2x1x1-x0.500-o1"] == "2x1x1-x0.500-o0"
    # hop images at t and 1 - t are mirror images of one another
    assert dup["2x1x1-hop-t0.750"] == "2x1x1-hop-t0.250"


def test_sampling_adds_staged_compounds_within_the_planned_bound():
    settings, result = _sample(sampling={"stages": [2, 3]})
    staged = [a for a in result.frames if a.info["config_type"] == "staged"]
    per_stage = 1 + settings.rattle_per_ordering + settings.strain_per_ordering
    assert len(staged) == 2 * per_stage
    assert sorted({a.info["li_fraction"] for a in staged}) == pytest.approx([1 / 3, 1 / 2])
    assert len(result.frames) <= sampling.planned_frame_count(settings, 1)
    _, without = _sample()
    assert len(result.frames) == len(without.frames) + len(staged)  # nothing else changes


def test_separation_scans_move_rigid_layers_apart_within_the_planned_bound():
    """The c axis of LiC6, of its empty AA lattice and of AB graphite scaled with fractional
    coordinates kept: every C–C distance within a layer is unchanged, the interlayer spacing
    scales, and nothing else is sampled differently."""
    scales = [0.95, 1.1, 1.5]
    settings, result = _sample(sampling={"c_axis_scales": scales})
    scans = [a for a in result.frames if a.info["config_type"] == "separation"]
    assert len(scans) == 3 * len(scales)
    refs = {"full": structures.lic6_aa(), "host": structures.graphite_ab()}
    refs["lattice"] = refs["full"][[s != "Li" for s in refs["full"].get_chemical_symbols()]]
    for a in scans:
        name, f = a.info["frame_id"].split("-c")[0], a.info["c_axis_scale"]
        ref = refs[name]
        assert a.cell.lengths()[2] == pytest.approx(ref.cell.lengths()[2] * f)
        frac = a.get_scaled_positions() - ref.get_scaled_positions()
        assert np.allclose((frac + 0.5) % 1.0 - 0.5, 0.0, atol=1e-9)
        assert a.info["li_fraction"] == (1.0 if name == "full" else 0.0)
        # within a layer (same z) distances are those of the reference
        same_z = np.isclose(a.positions[:, 2][:, None], a.positions[:, 2][None, :])
        d, d0 = a.get_all_distances(mic=True), ref.get_all_distances(mic=True)
        assert np.allclose(d[same_z], d0[same_z])
    assert len(result.frames) <= sampling.planned_frame_count(settings, 1)
    _, without = _sample()
    assert len(result.frames) == len(without.frames) + len(scans)


def test_rattle_and_strain_statistics():
    rng = np.random.default_rng(3)
    big = structures.make_supercell(structures.lic6_aa(), (6, 6, 4))  # 1008 atoms
    shaken = sampling.rattled(big, 0.05, rng)
    assert np.std(shaken.positions - big.positions) == pytest.approx(0.05, rel=0.05)
    for _ in range(20):
        s = sampling.strained(big, 0.03, 0.0, rng)
        eps = np.linalg.solve(big.cell[:], s.cell[:]) - np.eye(3)  # h' = h (1 + ε)
        np.testing.assert_allclose(eps, eps.T, atol=1e-12)
        assert np.abs(eps).max() <= 0.03
        dfrac = s.get_scaled_positions() - big.get_scaled_positions()
        np.testing.assert_allclose((dfrac + 0.5) % 1.0 - 0.5, 0.0, atol=1e-9)  # modulo wrapping


def test_vacancy_hop_goes_round_the_carbon_through_the_empty_hexagon():
    """In LiC6 the open hop is in-plane. The straight line between the sites runs over a C–C
    bond; the hop images go through the empty hexagon beside it (a waypoint as open as a Li
    site) and cross the two C–C bridges on the way, where the barrier is."""
    from ase.geometry import find_mic

    from ionscale.reference.generators import hop_image, hop_waypoint

    cell = structures.make_supercell(structures.lic6_aa(), (1, 1, 2))
    cell = structures.make_supercell(cell, (2, 1, 1))
    sites = structures.sublattice_indices(cell, "Li")
    a, _, vec = sampling.hop_path(cell, sites)
    assert abs(vec[2]) < 1e-9 and np.linalg.norm(vec) == pytest.approx(4.305)
    carbon = cell.positions[cell.numbers == 6]

    def nearest_c(p):
        return np.sort(find_mic(carbon - p, cell.cell, pbc=True)[1])

    start = cell.positions[a]
    straight_mid = nearest_c(start + 0.5 * vec)
    assert straight_mid[0] == pytest.approx(straight_mid[1], abs=1e-9)  # over a C–C bond
    way = hop_waypoint(cell, a, vec, exclude=sites)
    assert abs(way[2] - start[2]) < 1e-9  # in the gallery plane
    assert np.linalg.norm(way - (start + 0.5 * vec)) == pytest.approx(4.305 / 2 / 3**0.5, abs=0.03)
    assert nearest_c(way)[0] == pytest.approx(nearest_c(start)[0], abs=0.01)  # a hexagon centre
    for t in (0.25, 0.75):  # half way to the hexagon: over a C–C bridge, the saddle
        d = nearest_c(hop_image(start, way, start + vec, t))
        assert d[0] == pytest.approx(d[1], abs=0.02)
    ts = np.linspace(0, 1, 41)
    clear_path = min(nearest_c(hop_image(start, way, start + vec, t))[0] for t in ts)
    clear_line = min(nearest_c(start + t * vec)[0] for t in ts)
    assert clear_path > clear_line + 0.1


def test_contact_frames_push_the_hop_pair_together_and_leave_the_rest():
    settings, result = _sample(sampling={"contact_distances_A": [2.2, 3.0, 5.0], "hop_images": 0})
    contacts = [a for a in result.frames if a.info["config_type"] == "contact"]
    # 2x1x1 holds two Li sites (the 1x1x1 cell one): 2.2 and 3.0 Å; 5.0 Å is above 4.3 Å
    assert [a.info["frame_id"] for a in contacts] == ["2x1x1-contact-d2.20", "2x1x1-contact-d3.00"]
    assert any("5.0 Å is not below" in n for n in result.notes)
    full = structures.make_supercell(structures.lic6_aa(), (2, 1, 1))
    for frame, d in zip(contacts, (2.2, 3.0), strict=True):
        li = [i for i, s in enumerate(frame.get_chemical_symbols()) if s == "Li"]
        assert frame.get_distance(*li, mic=True) == pytest.approx(d, abs=1e-9)
        moved = np.linalg.norm(frame.positions - full.positions, axis=1) > 1e-12
        assert moved.sum() == 1 and frame.info["li_fraction"] == 1.0
    assert len(result.frames) <= sampling.planned_frame_count(settings, sites_in_structure=1)


def test_near_duplicates_are_invariant_to_translation_and_permutation():
    base = sampling.rattled(structures.lic6_aa(), 0.05, np.random.default_rng(0))
    base.info = {"frame_id": "a"}
    moved = base.copy()
    moved.translate([0.7, -0.3, 1.1])
    moved.wrap()
    moved = moved[[0, 3, 1, 6, 2, 5, 4]]
    moved.info = {"frame_id": "b"}
    other = sampling.rattled(base, 0.05, np.random.default_rng(1))
    other.info = {"frame_id": "c"}
    kept, removed = sampling.remove_near_duplicates([base, moved, other], 0.01)
    assert [a.info["frame_id"] for a in kept] == ["a", "c"]
    assert removed == [{"frame_id": "b", "duplicate_of": "a"}]


def test_plan_bounds_batches():
    settings, result = _sample()
    n = sampling.planned_frame_count(settings, sites_in_structure=1)
    # 1x1x1: x = 0, 1 (one ordering each); 2x1x1: x = 0, 1/2, 1 (1 + 2 + 1 orderings) + 3 hops;
    # 6 frames per ordering; Li metal 5, host 3
    assert n == 6 * 2 + 6 * 4 + 3 + 5 + 3
    assert len(result.frames) <= n <= sampling.planned_frame_count(settings)
    n_batches = sampling.batch_count(n, 4)
    covered = sum(len(result.frames[sampling.batch_slice(i, 4)]) for i in range(n_batches))
    assert covered == len(result.frames)


# --------------------------------------------------------------------------- checks, import


def test_checks_name_the_violation():
    s = checks.CheckSettings(max_net_force_eV_A=0.05, min_pair_distance_A=0.9)
    atoms = structures.li_bcc()
    good = _labelled(atoms, -4.0, forces=np.array([[0.3, 0, 0], [-0.3, 0, 0]]))
    assert checks.check_frame(good, s) == []
    drift = _labelled(atoms, -4.0, forces=np.array([[0.3, 0, 0], [-0.2, 0, 0]]))
    assert [name for name, _ in checks.check_frame(drift, s)] == ["net_force"]
    hot = _labelled(atoms, +6.0)
    assert [name for name, _ in checks.check_frame(hot, s)] == ["energy_per_atom"]
    squeezed = atoms.copy()
    squeezed.positions[1] = squeezed.positions[0] + [0.5, 0, 0]
    assert [n for n, _ in checks.check_frame(_labelled(squeezed, -4.0), s)] == ["min_pair_distance"]
    bare = atoms.copy()
    bare.calc = SinglePointCalculator(bare, energy=-4.0, forces=np.zeros((2, 3)))
    assert checks.check_frame(bare, s)[0][0] == "labels"


def _synthetic_frames(n=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = sampling.strained(structures.lic6_aa(), 0.03, 0.05, rng)
        if i % 2:
            del a[[0]]
        f = rng.normal(size=(len(a), 3))
        f -= f.mean(axis=0)
        out.append(
            _labelled(a, -8.0 * len(a) + rng.normal(), forces=f, stress=rng.normal(0, 0.01, 6),
                      frame_id=f"s{i}", li_fraction=1.0 - i % 2)
        )  # fmt: skip
    return out


def _assert_same_frames(a_frames, b_frames, atol):
    assert len(a_frames) == len(b_frames)
    for a, b in zip(a_frames, b_frames, strict=True):
        assert a.get_chemical_symbols() == b.get_chemical_symbols()
        np.testing.assert_allclose(b.positions, a.positions, atol=atol)
        np.testing.assert_allclose(b.cell[:], a.cell[:], atol=atol)
        assert b.get_potential_energy() == pytest.approx(a.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(b.get_forces(), a.get_forces(), atol=atol)
        np.testing.assert_allclose(b.get_stress(), a.get_stress(), atol=1e-12)


def test_import_round_trips_extxyz_and_deepmd_npy(tmp_path):
    frames = _synthetic_frames()
    stage.write_frames(tmp_path / "frames.extxyz", frames)
    back = importing.import_frames(tmp_path / "frames.extxyz", "extxyz", "Li", 1 / 6)
    # extxyz stores 8 decimals of positions and forces (Å, eV/Å); energies and stress exactly
    _assert_same_frames(frames, back, atol=1e-8)
    assert [b.info["li_fraction"] for b in back] == [1.0, 0.0, 1.0, 0.0]
    assert {b.info["config_type"] for b in back} == {"import"}
    assert back[0].info["source"] == f"import:{tmp_path / 'frames.extxyz'}"

    systems = importing.write_deepmd_npy(frames, tmp_path / "dp")
    assert len(systems) == 2  # one per composition
    back = importing.import_frames(tmp_path / "dp", "deepmd/npy", "Li", 1 / 6)
    # dpdata groups frames by composition: compare group by group, order kept within a group
    by_formula = sorted(frames, key=lambda a: (a.get_chemical_formula(), a.info["frame_id"]))
    back = sorted(back, key=lambda a: a.get_chemical_formula())
    _assert_same_frames(by_formula, back, atol=1e-12)


def test_unreadable_import_names_file_and_format(tmp_path):
    bad = tmp_path / "OUTCAR"
    bad.write_text("not an OUTCAR at all\n")
    with pytest.raises(
        importing.ImportFormatError, match=r"cannot read .*OUTCAR as format 'vasp/outcar'"
    ):
        importing.import_frames(bad, "vasp/outcar")
    with pytest.raises(importing.ImportFormatError, match=r"as format 'extxyz'"):
        importing.import_frames(bad, "extxyz")
    with pytest.raises(ConfigError, match="unknown format 'castep'"):
        importing.import_frames(bad, "castep")
    with pytest.raises(importing.ImportFormatError, match="does not exist"):
        importing.import_frames(tmp_path / "missing.xyz", "extxyz")


def test_import_unit_check_catches_wrong_units(tmp_path):
    frames = _synthetic_frames(1)
    bohr = frames[0].copy()  # a cell read as Bohr but stored as Å: volume 0.148× ... or forces
    bohr.calc = SinglePointCalculator(
        bohr, energy=-56.0, forces=frames[0].get_forces() * 500, stress=np.zeros(6)
    )
    bohr.info = {}
    stage.write_frames(tmp_path / "f.extxyz", [bohr])
    with pytest.raises(importing.ImportFormatError, match="implausible units: force component"):
        importing.import_frames(tmp_path / "f.extxyz", "extxyz")


def test_gather_accounts_for_every_frame_and_applies_the_threshold(tmp_path):
    frames = _synthetic_frames(4)
    sampled = [Atoms(a.numbers, a.positions, cell=a.cell, pbc=True, info=a.info) for a in frames]
    stage.write_frames(tmp_path / "sampled.extxyz", sampled)
    bad = frames[3].copy()  # labelled, but its forces do not sum to zero
    bad.calc = SinglePointCalculator(
        bad, energy=-40.0, free_energy=-40.0, forces=np.full((len(bad), 3), 0.1), stress=np.zeros(6)
    )
    bad.info = frames[3].info
    stage.write_frames(tmp_path / "b0.extxyz", frames[:2])
    stage.write_frames(tmp_path / "b1.extxyz", [bad])
    scf = {"frame_id": "s2", "config_type": "ordering", "li_fraction": 1.0,
           "reason": "scf_not_converged", "message": "x"}  # fmt: skip
    for name, ids, failures in (("b0", ["s0", "s1"], []), ("b1", ["s2", "s3"], [scf])):
        (tmp_path / f"{name}.json").write_text(
            json.dumps({"failures": failures, "seconds_per_frame": dict.fromkeys(ids, 1.0),
                        "cpu_seconds_per_frame": dict.fromkeys(ids, 1.0),
                        "atoms_per_frame": dict.fromkeys(ids, 7)})
        )  # fmt: skip
    args = dict(
        sampled_file=tmp_path / "sampled.extxyz",
        batch_frames=[tmp_path / "b0.extxyz", tmp_path / "b1.extxyz"],
        batch_reports=[tmp_path / "b0.json", tmp_path / "b1.json"],
        imported_file=None,
        checks_config={"max_net_force_eV_A": 0.05, "min_pair_distance_A": 0.9,
                       "energy_per_atom_min_eV": -20.0, "energy_per_atom_max_eV": 0.0},
        out_labelled=tmp_path / "labelled.extxyz",
        out_failed=tmp_path / "failed.json",
        out_summary=tmp_path / "summary.json",
        provenance=PROV,
    )  # fmt: skip
    summary = stage.gather(max_failed_fraction=0.5, **args)
    failed = json.loads((tmp_path / "failed.json").read_text())
    assert {f["frame_id"]: f["reason"] for f in failed["failures"]} == {
        "s2": "scf_not_converged",
        "s3": "check:net_force",
    }
    assert summary["n_labelled"] == 2 and failed["failed_fraction"] == 0.5
    assert [a.info["frame_id"] for a in stage.read_frames(tmp_path / "labelled.extxyz")] == [
        "s0",
        "s1",
    ]
    with pytest.raises(stage.ReferenceStageError, match=r"2 of 4 frames failed \(50\.0%\)"):
        stage.gather(max_failed_fraction=0.4, **args)
    (tmp_path / "b1.json").write_text(
        json.dumps({"failures": [], "seconds_per_frame": {}, "cpu_seconds_per_frame": {},
                    "atoms_per_frame": {}})
    )  # fmt: skip
    with pytest.raises(stage.ReferenceStageError, match="neither labelled nor failed"):
        stage.gather(max_failed_fraction=1.0, **args)


def test_summary_plot(tmp_path):
    from ionscale.reference.plots import plot_summary

    frames = _synthetic_frames(4)
    frames.append(_labelled(structures.li_bcc(), -4.0, config_type="li_metal",
                            li_fraction=float("nan"), frame_id="m"))  # fmt: skip
    path = plot_summary(frames, [{"reason": "scf_not_converged"}], tmp_path / "summary.png")
    assert path.stat().st_size > 10_000


# --------------------------------------------------------------------------- real GPAW


def _tight_gpaw(**kw) -> CalculatorSettings:
    """Low cutoff, tight SCF: finite differences need converged energies, not a good basis."""
    params = {"convergence": {"energy": 1e-7, "density": 1e-6}}
    base = dict(cutoff_eV=300, kpoint_density_per_A=1.5, dispersion="d3-bj", parameters=params)
    return CalculatorSettings(**{**base, **kw})


def _free_energy(atoms: Atoms, settings: CalculatorSettings, tmp_path) -> float:
    calc = calculators.build_calculator(settings, atoms, tmp_path, txt=None)
    atoms = atoms.copy()
    atoms.calc = calc
    atoms.get_forces()
    return calculators.force_consistent_energy(calc, atoms)


@pytest.mark.engine
@pytest.mark.slow
def test_gpaw_forces_are_minus_the_energy_gradient(tmp_path):
    """F = −∂E/∂r for one displaced C atom of rattled LiC6 (GPAW PW + D3), to 1 %."""
    from ionscale.reference.labelling import label_frame

    settings = _tight_gpaw()
    atoms = sampling.rattled(structures.lic6_aa(), 0.05, np.random.default_rng(5))
    atoms.info = {"frame_id": "fd", "config_type": "rattle", "li_fraction": 1.0}
    labelled = label_frame(atoms, settings, tmp_path, txt=None)
    forces = labelled.get_forces()
    assert np.linalg.norm(forces.sum(axis=0)) < 0.2  # periodic: ΣF = 0 up to grid error
    atom, axis, h = 1, 0, 0.005
    energies = []
    for sign in (+1, -1):
        moved = atoms.copy()
        moved.positions[atom, axis] += sign * h
        energies.append(_free_energy(moved, settings, tmp_path))
    fd = -(energies[0] - energies[1]) / (2 * h)
    assert abs(forces[atom, axis]) > 0.1
    assert fd == pytest.approx(forces[atom, axis], rel=0.01)
    assert labelled.get_potential_energy() == pytest.approx(
        _free_energy(atoms, settings, tmp_path), abs=1e-6
    )


@pytest.mark.engine
def test_gpaw_stress_is_the_strain_derivative(tmp_path):
    """σ_ij = (1/V) ∂E/∂ε_ij for a normal and a shear strain of rattled bcc Li (GPAW + D3).

    The analytic stress is the derivative at a fixed plane-wave basis; at a finite cutoff the
    basis changes with the cell (Pulay stress), so agreement is to 2 %, not to round-off.
    """
    from ionscale.reference.labelling import label_frame

    settings = _tight_gpaw(kpoint_density_per_A=2.0)
    atoms = sampling.rattled(structures.li_bcc(), 0.05, np.random.default_rng(2))
    atoms.info = {"frame_id": "fd", "config_type": "li_metal", "li_fraction": float("nan")}
    stress = label_frame(atoms, settings, tmp_path).get_stress(voigt=False)
    volume, h = atoms.get_volume(), 0.005
    for i, j in ((0, 0), (0, 1)):
        energies = []
        for sign in (+1, -1):
            eps = np.zeros((3, 3))
            eps[i, j] += sign * h / (1 if i == j else 2)
            eps[j, i] += 0 if i == j else sign * h / 2
            strained_atoms = atoms.copy()
            strained_atoms.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
            energies.append(_free_energy(strained_atoms, settings, tmp_path))
        fd = (energies[0] - energies[1]) / (2 * h) / volume
        assert fd == pytest.approx(stress[i, j], rel=0.02), (i, j)


@pytest.mark.engine
def test_scf_failure_lands_in_failed_json_and_the_run_goes_on(tmp_path):
    """Batch 0: a calculator crash (no PAW setup for Po) and then a good frame, which is still
    labelled. Batch 1 with an SCF limit of 1 iteration: SCF not converged. The gather keeps the
    good frame and records both failures with their reasons."""
    li = structures.li_bcc()
    po = li.copy()
    po.symbols[1] = "Po"
    frames = []
    for fid, atoms in (
        ("po", po),
        ("li-b", sampling.rattled(li, 0.03, np.random.default_rng(0))),
        ("li-a", li),
    ):
        atoms = atoms.copy()
        atoms.info = {"frame_id": fid, "config_type": "li_metal", "li_fraction": float("nan")}
        frames.append(atoms)  # fmt: skip
    sampled = tmp_path / "sampled.extxyz"
    stage.write_frames(sampled, frames)
    ok = {"cutoff_eV": 250, "kpoint_density_per_A": 1.5, "dispersion": "d3-bj"}
    for batch, cfg in ((0, ok), (1, {**ok, "scf_max_iterations": 1})):
        stage.label_batch(
            sampled, batch, 2, cfg, tmp_path / f"b{batch}.extxyz", tmp_path / f"b{batch}.json",
            tmp_path / "work", PROV,
        )  # fmt: skip
    report0 = json.loads((tmp_path / "b0.json").read_text())
    assert report0["frame_ids"] == ["po", "li-b"] and report0["n_labelled"] == 1
    assert [(f["frame_id"], f["reason"]) for f in report0["failures"]] == [
        ("po", "calculator_error")
    ]
    report1 = json.loads((tmp_path / "b1.json").read_text())
    assert [(f["frame_id"], f["reason"]) for f in report1["failures"]] == [
        ("li-a", "scf_not_converged")
    ]
    assert report1["failures"][0]["error_type"] == "KohnShamConvergenceError"
    (good,) = stage.read_frames(tmp_path / "b0.extxyz")
    assert good.info["frame_id"] == "li-b" and good.info["source"] == "gpaw"
    assert good.get_stress().shape == (6,)
    assert np.linalg.norm(good.get_forces().sum(axis=0)) < 0.05  # periodic: ΣF = 0
    summary = stage.gather(
        sampled, [tmp_path / "b0.extxyz", tmp_path / "b1.extxyz"],
        [tmp_path / "b0.json", tmp_path / "b1.json"], None,
        {"max_net_force_eV_A": 0.05, "min_pair_distance_A": 0.9, "energy_per_atom_min_eV": -20.0,
         "energy_per_atom_max_eV": 0.0},
        1.0, tmp_path / "labelled.extxyz", tmp_path / "failed.json", tmp_path / "summary.json",
        PROV,
    )  # fmt: skip
    failed = json.loads((tmp_path / "failed.json").read_text())
    assert {f["frame_id"]: f["reason"] for f in failed["failures"]} == {
        "po": "calculator_error",
        "li-a": "scf_not_converged",
    }
    assert failed["failures"][0]["li_fraction"] is None  # NaN is not JSON
    assert summary["n_labelled"] == 1 and summary["failures_per_reason"] == {
        "calculator_error": 1,
        "scf_not_converged": 1,
    }
    assert [a.info["frame_id"] for a in stage.read_frames(tmp_path / "labelled.extxyz")] == ["li-b"]


@pytest.mark.engine
def test_md_sampling_is_reproducible():
    md = sampling.MDSettings(enabled=True, equilibration_steps=0, n_frames=2,
                             sample_interval_steps=2)  # fmt: skip
    start = structures.li_bcc()
    first = sampling.md_snapshots(start, md, seed=11)
    again = sampling.md_snapshots(start, md, seed=11)
    assert len(first) == 2
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
    moved = np.linalg.norm(first[1].positions - start.positions, axis=1)
    assert np.all(moved > 1e-3)  # atoms move at 600 K


def _in_plane_matches(a, b, cell, tol=0.2):
    """How many in-plane positions of ``b`` coincide (mod the 2-D lattice) with one of ``a``."""
    inv = np.linalg.inv(cell[:2, :2])
    n = 0
    for p in b:
        d = (a[:, :2] - p[:2]) @ inv
        d -= np.round(d)
        n += bool(np.any(np.linalg.norm(d @ cell[:2, :2], axis=1) < tol))
    return n


@pytest.mark.parametrize("stage", [2, 3, 4])
def test_staged_compound_has_ab_empty_and_aa_filled_galleries(stage):
    from ionscale.reference.structures import (
        GRAPHITE_C_A,
        LIC6_C_A,
        lic6_aa,
        site_fraction,
        sites_per_host_atom,
        staged_structure,
    )

    lic6 = lic6_aa()
    atoms = staged_structure(lic6, stage)
    assert atoms.get_chemical_formula() == f"C{6 * stage}Li"
    assert site_fraction(atoms, "Li", sites_per_host_atom(lic6, "Li")) == pytest.approx(1 / stage)
    cell = np.array(atoms.cell)
    height = cell[2, 2]
    assert height == pytest.approx(LIC6_C_A + (stage - 1) * GRAPHITE_C_A / 2)
    carbon = atoms.positions[atoms.numbers == 6]
    z = np.round(carbon[:, 2], 3)
    layers = [carbon[z == v] for v in sorted(set(z))]
    assert len(layers) == stage and all(len(layer) == 6 for layer in layers)
    for lower, upper in itertools.pairwise(layers):  # empty galleries: AB
        assert _in_plane_matches(lower, upper, cell) == 3
    next_period = layers[0] + cell[2]  # across the filled gallery: AA
    assert _in_plane_matches(layers[-1], next_period, cell) == 6
    li = atoms.positions[atoms.numbers == 3]
    assert layers[-1][0, 2] < li[0, 2] < height  # between the last layer and the next period
    assert _in_plane_matches(layers[-1], li, cell, tol=1.0) == 0  # over a ring centre
    assert min(atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]) > 1.3


def test_staging_refuses_a_non_layered_host():
    from ionscale.reference.structures import StructureError, li_bcc, staged_structure

    with pytest.raises(StructureError, match="layered host"):
        staged_structure(li_bcc(), 2)
