"""D3 outside the network (ionscale.potential.dispersion): the labels minus D3 plus D3 are the
labels; LAMMPS's dispersion/d3 is the same D3 as the dftd3 library's at the same cutoffs; the
settings name their keys."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones
from ase.calculators.mixing import SumCalculator
from ase.calculators.singlepoint import SinglePointCalculator

from ionscale.potential.dispersion import (
    DispersionError,
    DispersionSettings,
    d3_calculator,
    lammps_pair_style,
    md_pair_style,
    subtract_dispersion,
    with_dispersion,
)

D3 = DispersionSettings(treatment="analytic", damping="d3-bj", functional="PBE")


def ab_graphite(c_A: float = 6.708) -> Atoms:
    a = 2.464
    cell = [[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c_A]]
    frac = [[0, 0, 0.25], [0, 0, 0.75], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    return Atoms("C4", scaled_positions=frac, cell=cell, pbc=True)


def lic6() -> Atoms:
    a, c = 4.305, 3.706
    frac = [
        [0, 0, 0], [1 / 3, 0, 0.5], [0, 1 / 3, 0.5], [2 / 3, 2 / 3, 0.5],
        [2 / 3, 0, 0.5], [0, 2 / 3, 0.5], [1 / 3, 1 / 3, 0.5],
    ]  # fmt: skip
    cell = [[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]]
    return Atoms("LiC6", scaled_positions=frac, cell=cell, pbc=True)


def labelled(atoms: Atoms, calc) -> Atoms:
    """``atoms`` rattled, with ``calc``'s energy, forces and stress as single-point labels."""
    a = atoms.copy()
    a.rattle(0.05, seed=3)
    a.calc = calc
    a.calc = SinglePointCalculator(
        a, energy=a.get_potential_energy(), forces=a.get_forces(), stress=a.get_stress()
    )
    return a


def lj() -> LennardJones:
    return LennardJones(epsilon=0.003, sigma=3.2, rc=6.0, smooth=True)


def test_labels_minus_d3_plus_d3_are_the_labels():
    """A 'reference' of LJ + D3: subtracting D3 leaves LJ's labels, and LJ with D3 added back
    reproduces the reference's energy, forces and stress to round-off."""
    frames = [
        labelled(ab_graphite(c), SumCalculator([lj(), d3_calculator(D3)])) for c in (6.5, 7.2)
    ]
    rest = subtract_dispersion(frames, D3)
    for frame, short in zip(frames, rest, strict=True):
        plain = short.copy()
        plain.calc = lj()
        assert short.get_potential_energy() == pytest.approx(plain.get_potential_energy(), abs=1e-9)
        np.testing.assert_allclose(short.get_forces(), plain.get_forces(), atol=1e-9)
        np.testing.assert_allclose(short.get_stress(), plain.get_stress(), atol=1e-10)
        total = frame.copy()
        total.calc = with_dispersion(lj(), D3)
        assert total.get_potential_energy() == pytest.approx(frame.get_potential_energy(), abs=1e-9)
        np.testing.assert_allclose(total.get_stress(), frame.get_stress(), atol=1e-10)
        assert frame.calc.results["energy"] != short.calc.results["energy"]  # untouched input


def test_d3_binds_graphite_layers_and_nothing_changes_when_learned():
    """D3 alone attracts the layers (its energy rises with c); with treatment learned, or no D3
    in the reference, the frames and calculators are passed through."""
    e = []
    for c in (6.4, 6.7, 7.4):
        a = ab_graphite(c)
        a.calc = d3_calculator(D3)
        e.append(a.get_potential_energy())
    assert e[0] < e[1] < e[2] < 0
    frames = [labelled(ab_graphite(), lj())]
    for s in (
        DispersionSettings(treatment="learned", damping="d3-bj"),
        DispersionSettings(treatment="analytic", damping="none"),
    ):
        assert not s.analytic and md_pair_style(s) == ""
        assert subtract_dispersion(frames, s)[0] is frames[0]
        calc = lj()
        assert with_dispersion(calc, s) is calc


def test_settings_name_their_keys():
    section = {"treatment": "analytic", "cutoff_A": 10.0, "cn_cutoff_A": 10.0}
    calculator = {"dispersion": "d3-zero", "xc": "PBE"}
    cfg = {"potential": {"dispersion": section}, "reference": {"calculator": calculator}}
    s = DispersionSettings.from_config(cfg)
    assert s.analytic and s.cutoff_A == 10.0 and s.damping == "d3-zero"
    assert lammps_pair_style(s).startswith("dispersion/d3 zero pbe 10")
    with pytest.raises(DispersionError, match=r"potential\.dispersion\.treatment"):
        DispersionSettings(treatment="both")
    with pytest.raises(DispersionError, match=r"cn_cutoff_A"):
        DispersionSettings(cutoff_A=8.0, cn_cutoff_A=9.0)
    assert not DispersionSettings.from_config({}).analytic  # the default: learned
    with pytest.raises(DispersionError, match=r"unknown key"):
        DispersionSettings.from_config({"potential": {"dispersion": {"cutof_A": 1}}})


@pytest.mark.engine
@pytest.mark.parametrize("atoms", [ab_graphite(), lic6()], ids=["graphite", "LiC6"])
def test_lammps_d3_is_the_dftd3_library_d3(atoms):
    """LAMMPS's dispersion/d3 (what MD adds back) and dftd3 (what the labels lost) agree at the
    configured cutoffs: energy to 1e-5 eV, forces to 1e-5 eV/Å, stress to 1e-3 GPa."""
    from ase.calculators.lammpslib import LAMMPSlib

    from ionscale.units import EV_PER_A3_TO_GPA

    species = sorted(set(atoms.get_chemical_symbols()))
    cmds = [
        f"pair_style {lammps_pair_style(D3)}",
        f"pair_coeff * * {' '.join(species)}",
        "neigh_modify one 10000 page 200000",
    ]
    a, b = atoms.copy(), atoms.copy()
    a.rattle(0.03, seed=1)
    b.positions = a.positions
    a.calc = d3_calculator(D3)
    b.calc = LAMMPSlib(lmpcmds=cmds, atom_types={s: i + 1 for i, s in enumerate(species)},
                       log_file=None, keep_alive=False)  # fmt: skip
    assert b.get_potential_energy() == pytest.approx(a.get_potential_energy(), abs=1e-5)
    np.testing.assert_allclose(b.get_forces(), a.get_forces(), atol=1e-5)
    np.testing.assert_allclose(
        b.get_stress() * EV_PER_A3_TO_GPA, a.get_stress() * EV_PER_A3_TO_GPA, atol=1e-3
    )


def test_md_pair_style_overlays_d3_on_the_ensemble(tmp_path):
    """MD with a potential that learned without D3: LAMMPS overlays dispersion/d3 on every
    species (with ZBL too when that is on); without it the plain deepmd style is unchanged."""
    from ionscale.md import MDSettings, pair_commands

    models = [tmp_path / "m0.pth", tmp_path / "m1.pth"]
    base = {"temperature_K": 300.0, "mobile_species": "Li", "seed": 1}
    plain = pair_commands(["C", "Li"], models, MDSettings(**base), tmp_path / "devi")
    assert plain.splitlines()[0].startswith("pair_style deepmd") and "dispersion" not in plain
    style = md_pair_style(D3)
    for zbl in (False, True):
        s = MDSettings(**base, dispersion_pair_style=style, zbl_enabled=zbl)
        lines = pair_commands(["C", "Li"], models, s, tmp_path / "devi").splitlines()
        assert lines[0].startswith("pair_style hybrid/overlay deepmd") and lines[0].endswith(style)
        assert ("zbl" in lines[0]) == zbl
        assert "pair_coeff * * deepmd C Li" in lines
        assert "pair_coeff * * dispersion/d3 C Li" in lines
