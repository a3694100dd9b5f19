"""A tiny Li–C reference dataset labelled with real GPAW, for the fingerprint/potential tests.

The frames follow the ``reference/labelled.extxyz`` contract exactly (energy eV, forces eV/Å,
stress eV/Å³ in a SinglePointCalculator; ``config_type``, ``source``, ``li_fraction``,
``frame_id`` in ``atoms.info``), so the stages read in the tests what the reference stage
writes. Settings are deliberately low (PW 300 eV, coarse k meshes, no dispersion): the data are
for exercising the machinery with real DFT labels, not for science. ~1 min on one core.

The file is cached under pytest's cache directory, keyed by a hash of this module's source and
the GPAW version, so the test modules that need it compute it once.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk, make_supercell

#: Graphite C–C bond length (Å) and the AA-stacked LiC6 layer spacing (Å).
CC_BOND_A = 1.42
LIC6_C_A = 3.70


def lic6() -> Atoms:
    """LiC6 (P6/mmm, AA stacking): a √3×√3 graphene cell with one Li above a hexagon centre."""
    a_g = CC_BOND_A * np.sqrt(3.0)
    g = Atoms(
        "C2",
        scaled_positions=[(0, 0, 0), (1 / 3, 1 / 3, 0)],
        cell=[[a_g, 0, 0], [a_g / 2, a_g * np.sqrt(3) / 2, 0], [0, 0, LIC6_C_A]],
        pbc=True,
    )
    cell = make_supercell(g, [[1, 1, 0], [-1, 2, 0], [0, 0, 1]])
    # hexagon centre of the primitive graphene cell at (2/3, 2/3), half-way between layers
    centre = 2 / 3 * (g.cell[0] + g.cell[1]) + g.cell[2] / 2
    cell.append("Li")
    cell.positions[-1] = centre
    cell.wrap()
    return cell


def _strained(atoms: Atoms, rng: np.random.Generator, max_strain: float) -> Atoms:
    eps = rng.uniform(-max_strain, max_strain, size=(3, 3))
    eps = 0.5 * (eps + eps.T)
    out = atoms.copy()
    out.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
    return out


def sample_frames(seed: int = 11) -> list[Atoms]:
    """Unlabelled Li–C frames with contract tags: rattled, strained, Li vacancies, Li metal."""
    rng = np.random.default_rng(seed)
    frames: list[tuple[Atoms, str, float]] = []
    full = lic6()
    for _ in range(6):
        frames.append((full.copy(), "rattle", 1.0))
    for _ in range(3):
        frames.append((_strained(full, rng, 0.02), "strain", 1.0))
    half = full.repeat((2, 1, 1))
    del half[[a.index for a in half if a.symbol == "Li"][1]]  # Li_0.5C6: one of two Li sites
    for _ in range(3):
        frames.append((half.copy(), "vacancy", 0.5))
    empty = full.copy()
    del empty[[a.index for a in empty if a.symbol == "Li"]]
    for _ in range(2):
        frames.append((empty.copy(), "vacancy", 0.0))
    for _ in range(3):
        frames.append((bulk("Li", "bcc", a=3.44, cubic=True), "li_metal", float("nan")))
    out = []
    for i, (atoms, config_type, x) in enumerate(frames):
        atoms.rattle(stdev=0.04, seed=int(rng.integers(2**31)))
        atoms.info.update(
            config_type=config_type, source="gpaw", li_fraction=x, frame_id=f"{config_type}-{i}"
        )
        out.append(atoms)
    return out


def _kpts(atoms: Atoms, density_per_A: float = 8.0) -> tuple[int, int, int]:
    """Monkhorst–Pack mesh with about ``density_per_A`` k-points × Å along each axis."""
    lengths = atoms.cell.lengths()
    return tuple(max(1, int(np.ceil(density_per_A / length))) for length in lengths)


def label(frames: list[Atoms]) -> list[Atoms]:
    """Label frames with GPAW (PW 300 eV, PBE, Fermi–Dirac 0.1 eV) into SinglePointCalculators."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from gpaw import GPAW, PW

    out = []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = GPAW(
            mode=PW(300),
            xc="PBE",
            kpts=_kpts(atoms),
            occupations={"name": "fermi-dirac", "width": 0.1},
            txt=None,
        )
        energy = atoms.get_potential_energy()
        forces = atoms.get_forces()
        stress = atoms.get_stress()
        info = dict(atoms.info)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
        atoms.info = info
        out.append(atoms)
    return out


def labelled_lixc6(directory: Path) -> Path:
    """Path of the labelled extxyz under ``directory``, computed with GPAW on first use."""
    import ase.io

    key = hashlib.sha256(Path(__file__).read_bytes() + version("gpaw").encode()).hexdigest()
    Path(directory).mkdir(parents=True, exist_ok=True)
    path = Path(directory) / f"labelled-{key[:12]}.extxyz"
    if not path.exists():
        frames = label(sample_frames())
        tmp = path.with_suffix(".partial.extxyz")
        ase.io.write(tmp, frames, format="extxyz")
        tmp.replace(path)
    return path
