"""Import existing DFT data (VASP, Quantum ESPRESSO, CP2K, extxyz, DeePMD npy) as labelled frames.

Readers: ``ase.io`` for extended XYZ (energies, forces and stress already in eV, eV/Å, eV/Å³
by ASE's convention) and dpdata (Zeng et al., J. Chem. Phys. 159, 054801 (2023)) for the code
outputs and DeePMD-kit data; dpdata converts every code's units to eV, Å and eV (virial), and
its ASE conversion turns the virial W into ASE's stress σ = −W/V and keeps the
force-consistent (free) energy.

Units are then checked for plausibility, since a mislabelled format (Rydberg, Hartree, Bohr)
gives numbers that are wrong by a constant factor: volume per atom 2–200 Å³, energy per atom
within ±1000 eV (absolute totals of all-electron codes are far outside), |F| < 100 eV/Å,
|σ| < 2 eV/Å³ (≈ 320 GPa). Each imported frame gets ``config_type="import"``,
``source="import:<file>"``, a ``frame_id`` naming the file and frame, and the site fraction
of the mobile species computed from its composition.

A file that cannot be read in the given format raises :class:`ImportFormatError` naming the file
and the format; a format name that is not known raises a ConfigError listing the known ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ionscale.config import ConfigError
from ionscale.reference.structures import site_fraction

#: Formats read by ase.io.
ASE_FORMATS = ("extxyz",)
#: Formats read by dpdata (its format names).
DPDATA_FORMATS = (
    "vasp/outcar",
    "vasp/xml",
    "qe/pw/scf",
    "cp2k/output",
    "cp2k/aimd_output",
    "deepmd/npy",
    "deepmd/raw",
    "deepmd/hdf5",
)
IMPORT_FORMATS = ASE_FORMATS + DPDATA_FORMATS

#: Plausibility limits of imported data (see the module docstring).
VOLUME_PER_ATOM_RANGE_A3 = (2.0, 200.0)
MAX_ABS_ENERGY_PER_ATOM_EV = 1000.0
MAX_ABS_FORCE_EV_A = 100.0
MAX_ABS_STRESS_EV_A3 = 2.0


class ImportFormatError(ValueError):
    """An import file is missing, unreadable in its stated format, or implausible in units."""


def _read_ase(path: Path) -> list[Atoms]:
    import ase.io

    frames = ase.io.read(path, index=":", format="extxyz")
    return list(frames)


def _read_dpdata(path: Path, fmt: str) -> list[Atoms]:
    import dpdata

    if fmt.startswith("deepmd/") and fmt != "deepmd/hdf5" and path.is_dir():
        roots = sorted({p.parent for p in path.rglob("type.raw")})
        if not roots:
            raise FileNotFoundError(f"no type.raw below {path}")
        systems = [dpdata.LabeledSystem(str(r), fmt=fmt) for r in roots]
    else:
        systems = [dpdata.LabeledSystem(str(path), fmt=fmt)]
    frames: list[Atoms] = []
    for system in systems:
        if len(system) == 0:
            continue
        if "virials" not in system.data:
            raise ImportFormatError(
                f"{path} ({fmt}): has no stress/virial; the reference data need energy, forces "
                "and stress on every frame"
            )
        frames.extend(system.to("ase/structure"))
    return frames


def read_labelled_file(path: str | Path, fmt: str) -> list[Atoms]:
    """Read every labelled frame of ``path`` in format ``fmt`` (see :data:`IMPORT_FORMATS`)."""
    path = Path(path)
    if fmt not in IMPORT_FORMATS:
        raise ConfigError(
            f"reference.imports: unknown format {fmt!r} for {path}; known: "
            f"{', '.join(IMPORT_FORMATS)}"
        )
    if not path.exists():
        raise ImportFormatError(f"import file {path} does not exist")
    try:
        frames = _read_ase(path) if fmt in ASE_FORMATS else _read_dpdata(path, fmt)
    except ImportFormatError:
        raise
    except Exception as exc:  # readers raise anything from IndexError to UnicodeDecodeError
        raise ImportFormatError(
            f"cannot read {path} as format {fmt!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if not frames:
        raise ImportFormatError(f"{path} (format {fmt!r}): no frames found")
    return frames


def check_units(atoms: Atoms, where: str) -> None:
    """Raise ImportFormatError if a frame's numbers are implausible in eV/Å units."""
    results = atoms.calc.results if atoms.calc is not None else {}
    missing = [k for k in ("energy", "forces", "stress") if k not in results]
    if missing:
        raise ImportFormatError(f"{where}: no {', '.join(missing)} (energy, forces, stress needed)")
    if not all(atoms.pbc):
        raise ImportFormatError(f"{where}: not periodic in 3D (pbc={atoms.pbc.tolist()})")
    n = len(atoms)
    vol = abs(atoms.get_volume()) / n
    e_atom = float(results["energy"]) / n
    f_max = float(np.max(np.abs(results["forces"]))) if n else 0.0
    s_max = float(np.max(np.abs(results["stress"])))
    lo, hi = VOLUME_PER_ATOM_RANGE_A3
    problems = []
    if not lo <= vol <= hi:
        problems.append(f"volume {vol:.3g} Å³/atom outside [{lo}, {hi}] (Bohr vs Å?)")
    if not abs(e_atom) <= MAX_ABS_ENERGY_PER_ATOM_EV:
        problems.append(f"energy {e_atom:.4g} eV/atom beyond ±{MAX_ABS_ENERGY_PER_ATOM_EV} eV")
    if not f_max <= MAX_ABS_FORCE_EV_A:
        problems.append(f"force component {f_max:.4g} eV/Å beyond {MAX_ABS_FORCE_EV_A} eV/Å")
    if not s_max <= MAX_ABS_STRESS_EV_A3:
        problems.append(f"stress component {s_max:.4g} eV/Å³ beyond {MAX_ABS_STRESS_EV_A3} eV/Å³")
    if problems:
        raise ImportFormatError(f"{where}: implausible units: " + "; ".join(problems))


def import_frames(
    path: str | Path,
    fmt: str,
    mobile_species: str = "Li",
    sites_per_host: float | None = None,
    label: str | None = None,
) -> list[Atoms]:
    """Imported, unit-checked, tagged frames from one file.

    Parameters
    ----------
    path, fmt:
        File (or DeePMD directory) and its format.
    mobile_species:
        Species whose site fraction is recorded as ``li_fraction``.
    sites_per_host:
        Mobile-ion sites per host atom of the host structure (1/6 for LiC6); None records NaN.
    label:
        Name used in ``source`` and ``frame_id`` (default: the path as given).
    """
    label = label or str(path)
    out = []
    for n, atoms in enumerate(read_labelled_file(path, fmt)):
        check_units(atoms, f"{label} frame {n}")
        res = atoms.calc.results
        frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
        energy = float(res.get("free_energy", res["energy"]))
        stress = np.asarray(res["stress"], dtype=float)
        if stress.shape == (3, 3):
            from ase.stress import full_3x3_to_voigt_6_stress

            stress = full_3x3_to_voigt_6_stress(stress)
        frame.calc = SinglePointCalculator(
            frame,
            energy=energy,
            free_energy=energy,
            forces=np.asarray(res["forces"], dtype=float),
            stress=stress,
        )
        x = site_fraction(frame, mobile_species, sites_per_host) if sites_per_host else float("nan")
        frame.info = {
            "config_type": "import",
            "source": f"import:{label}",
            "li_fraction": x,
            "frame_id": f"import:{label}:{n}",
        }
        out.append(frame)
    return out


def write_deepmd_npy(frames: Sequence[Atoms], directory: str | Path) -> list[Path]:
    """Write labelled frames as DeePMD-kit npy systems (one per composition) with dpdata.

    Returns the system directories. Energies are the frames' energies, virials −σV.
    """
    import dpdata

    systems = dpdata.MultiSystems()
    for atoms in frames:
        systems.append(dpdata.LabeledSystem(atoms, fmt="ase/structure"))
    directory = Path(directory)
    systems.to_deepmd_npy(str(directory))
    return sorted(p.parent for p in directory.rglob("type.raw"))
