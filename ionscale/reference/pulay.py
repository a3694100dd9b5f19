"""Pulay stress of plane-wave DFT labels: measured per species, applied to every labelled frame.

A plane-wave basis with a fixed kinetic-energy cutoff changes size with the cell, so at an
unconverged cutoff the analytic stress misses the basis-set (Pulay) term. To first order it is
isotropic (Francis & Payne, J. Phys.: Condens. Matter 2, 4395 (1990)):

    σ_Pulay = (2/3) (E_cut / V) ∂E/∂E_cut            (added to σ_xx, σ_yy, σ_zz; ASE sign,
                                                       positive is tensile)

∂E/∂E_cut < 0, so the correction is compressive. At graphite's 400 eV it is ≈ −8 GPa (GPAW,
PBE, AB graphite at its experimental cell: analytic +7.2/+5.8 GPa xx/zz, corrected −1.2/−2.5,
1000 eV −1.1/−3.1).

∂E/∂E_cut is extensive and, at the cutoffs used, dominated by the region near each nucleus, so
it is a sum of per-species terms: ``∂E/∂E_cut = Σ_s n_s c_s``. :func:`calibrate` measures it by a
central finite difference of the (free) energy at E_cut ± δ on a few calibration cells (the
lithiated host, the empty host, the metal: one per composition) and fits ``c_s`` by least
squares; the fit's residual on each cell is recorded, and the reference convergence rule
(:mod:`ionscale.reference.convergence`) checks the corrected stresses against a tight cutoff.

Written here rather than taken from the code: GPAW's ``PW(dedecut=...)`` is honoured only by its
legacy calculator (the default calculator of GPAW 26 ignores it silently), its ``'estimate'``
from the atomic setups leaves ≈ 2 GPa in graphite, and VASP/QE have no per-species
correction; one measured correction applied to the stored labels works for every plane-wave code
and is visible in the data (``info["pulay_stress_GPa"]``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ionscale.config import ConfigError
from ionscale.settings import default, from_section
from ionscale.units import EV_PER_A3_TO_GPA

log = logging.getLogger(__name__)

#: codes whose ``cutoff_eV`` is a plane-wave basis cutoff (CP2K's is a density-grid cutoff)
PLANE_WAVE_CODES = ("gpaw", "vasp", "espresso")


@dataclass(frozen=True)
class PulaySettings:
    """The ``reference.pulay_correction`` config section.

    Parameters
    ----------
    enabled:
        Measure ∂E/∂E_cut per species and correct every labelled frame's stress.
    delta_cutoff_eV:
        Half-width δ of the central difference, eV: energies at E_cut ± δ.
    """

    enabled: bool = default("reference.pulay_correction.enabled")
    delta_cutoff_eV: float = default("reference.pulay_correction.delta_cutoff_eV")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> PulaySettings:
        return from_section(cls, cfg, "reference.pulay_correction")


@dataclass(frozen=True)
class PulayCorrection:
    """Per-species ∂E/∂E_cut (eV per eV per atom) at one cutoff; zero when disabled.

    ``coefficients`` maps a chemical symbol to c_s; a species not in it gets no correction
    (labelling refuses frames with such species: see :meth:`check_species`).
    """

    cutoff_eV: float
    coefficients: Mapping[str, float] = field(default_factory=dict)
    enabled: bool = True

    def de_decut(self, atoms: Atoms) -> float:
        """∂E/∂E_cut of a frame (eV/eV) from its composition."""
        symbols = atoms.get_chemical_symbols()
        return float(sum(self.coefficients[s] for s in symbols))

    def stress_eV_A3(self, atoms: Atoms) -> float:
        """The isotropic Pulay stress of ``atoms`` (eV/Å³), to be added to σ_xx, σ_yy, σ_zz."""
        if not self.enabled:
            return 0.0
        return 2.0 / 3.0 * self.cutoff_eV * self.de_decut(atoms) / atoms.get_volume()

    def check_species(self, atoms: Atoms, what: str) -> None:
        """A frame whose species were not calibrated cannot be corrected: ValueError."""
        if not self.enabled:
            return
        missing = sorted(set(atoms.get_chemical_symbols()) - set(self.coefficients))
        if missing:
            raise ValueError(
                f"{what}: no Pulay calibration for {missing} (calibrated: "
                f"{sorted(self.coefficients)}); add a calibration cell holding them"
            )

    def apply(self, labelled: Atoms) -> Atoms:
        """``labelled`` (a SinglePointCalculator frame) with the correction added to its stress
        and recorded in ``info["pulay_stress_GPa"]``; returned as a new Atoms."""
        out = labelled.copy()
        out.info = dict(labelled.info)
        res = labelled.calc.results
        stress = np.array(res["stress"], dtype=float)
        p = self.stress_eV_A3(labelled)
        stress[:3] += p
        out.calc = SinglePointCalculator(
            out, **{k: v for k, v in res.items() if k != "stress"}, stress=stress
        )
        out.info["pulay_stress_GPa"] = p * EV_PER_A3_TO_GPA
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "cutoff_eV": self.cutoff_eV,
            "de_decut_per_atom": dict(self.coefficients),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PulayCorrection:
        return cls(float(d["cutoff_eV"]), dict(d["de_decut_per_atom"]), bool(d["enabled"]))

    @classmethod
    def read(cls, path: str | Path) -> PulayCorrection:
        """From a ``pulay.json`` written by rule reference_pulay
        (:func:`ionscale.reference.stage.calibrate_pulay`; ValueError naming the file if it is
        not one)."""
        import json

        try:
            return cls.from_dict(json.loads(Path(path).read_text())["correction"])
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: not a Pulay calibration file ({exc})") from None


def check_settings(calculator_settings: Any, settings: PulaySettings) -> None:
    """An enabled correction needs a plane-wave code and 0 < δ < E_cut/4: ConfigError."""
    if not settings.enabled:
        return
    if calculator_settings.name not in PLANE_WAVE_CODES:
        raise ConfigError(
            f"reference.pulay_correction.enabled: {calculator_settings.name}'s cutoff_eV is not "
            f"a plane-wave basis cutoff (plane-wave codes: {', '.join(PLANE_WAVE_CODES)}); "
            "disable the correction"
        )
    ecut, delta = float(calculator_settings.cutoff_eV), float(settings.delta_cutoff_eV)
    if not 0 < delta < ecut / 4:
        raise ConfigError(
            f"reference.pulay_correction.delta_cutoff_eV: need 0 < δ < cutoff_eV/4 = "
            f"{ecut / 4:g} eV, got {delta:g}"
        )


def species_matrix(cells: Sequence[Atoms]) -> tuple[list[str], np.ndarray]:
    """Sorted species and the (cells × species) atom-count matrix."""
    species = sorted({s for a in cells for s in a.get_chemical_symbols()})
    counts = np.array(
        [[a.get_chemical_symbols().count(s) for s in species] for a in cells], dtype=float
    )
    return species, counts


def fit_coefficients(cells: Sequence[Atoms], de_decut: Sequence[float]) -> dict[str, float]:
    """Per-species c_s (eV/eV per atom) from the cells' ∂E/∂E_cut by least squares."""
    species, counts = species_matrix(cells)
    coef = np.linalg.lstsq(counts, np.asarray(de_decut, dtype=float), rcond=None)[0]
    return {s: float(c) for s, c in zip(species, coef, strict=True)}


def check_calibration_cells(cells: Mapping[str, Atoms]) -> None:
    """The cells' compositions must separate every species' term (full column rank):
    ConfigError naming the cells otherwise."""
    species, counts = species_matrix(list(cells.values()))
    if np.linalg.matrix_rank(counts) < len(species):
        raise ConfigError(
            "reference.pulay_correction: the calibration cells "
            f"({', '.join(f'{k} {a.get_chemical_formula()}' for k, a in cells.items())}) cannot "
            f"separate the Pulay terms of {species}: enable reference.host and reference.li_metal "
            "(cells of other compositions), or disable the correction"
        )


def calibrate(
    cells: Mapping[str, Atoms],
    calculator_settings: Any,
    settings: PulaySettings,
    workdir: str | Path,
    txt: Any = None,
) -> tuple[PulayCorrection, dict[str, Any], dict[str, Atoms]]:
    """Measure ∂E/∂E_cut on each cell and fit the per-species terms.

    Parameters
    ----------
    cells:
        Calibration cells by name (e.g. ``structure``, ``host``, ``li_metal``).
    calculator_settings:
        The labelling :class:`~ionscale.reference.calculators.CalculatorSettings`.
    settings:
        Finite-difference step.

    Returns the correction, a JSON-ready report (per cell ∂E/∂E_cut measured and fitted, the
    Pulay stress implied by each (GPa), the analytic and corrected stress at E_cut (GPa)) and
    the cells labelled at E_cut (analytic stress, uncorrected).
    """
    import time

    from ionscale.reference.labelling import label_frame

    check_settings(calculator_settings, settings)
    check_calibration_cells(cells)
    ecut, delta = float(calculator_settings.cutoff_eV), float(settings.delta_cutoff_eV)
    measured: dict[str, float] = {}
    at_cutoff: dict[str, Atoms] = {}
    seconds: dict[str, float] = {}
    for name, atoms in cells.items():
        start = time.perf_counter()
        energies = []
        for e in (ecut - delta, ecut, ecut + delta):
            s = dataclasses.replace(calculator_settings, cutoff_eV=e)
            labelled = label_frame(atoms, s, Path(workdir) / f"{name}_{e:g}", txt)
            energies.append(labelled.get_potential_energy())
            if e == ecut:
                at_cutoff[name] = labelled
        measured[name] = (energies[2] - energies[0]) / (2 * delta)
        seconds[name] = time.perf_counter() - start
        log.info("%s: dE/dEcut = %.6f eV/eV (%.1f s)", name, measured[name], seconds[name])
    names = list(cells)
    correction = PulayCorrection(
        ecut, fit_coefficients([cells[n] for n in names], [measured[n] for n in names])
    )
    report_cells = {}
    for n in names:
        a = at_cutoff[n]
        fitted = correction.de_decut(a)
        analytic = np.asarray(a.get_stress(voigt=True)) * EV_PER_A3_TO_GPA
        corrected = correction.apply(a).get_stress(voigt=True) * EV_PER_A3_TO_GPA
        v = a.get_volume()
        report_cells[n] = {
            "formula": a.get_chemical_formula(),
            "n_atoms": len(a),
            "volume_A3": v,
            "de_decut_measured": measured[n],
            "de_decut_fitted": fitted,
            "pulay_stress_measured_GPa": 2 / 3 * ecut * measured[n] / v * EV_PER_A3_TO_GPA,
            "pulay_stress_fitted_GPa": 2 / 3 * ecut * fitted / v * EV_PER_A3_TO_GPA,
            "stress_analytic_GPa": analytic.tolist(),
            "stress_corrected_GPa": np.asarray(corrected).tolist(),
            "energy_eV": float(a.get_potential_energy()),
            "seconds": seconds[n],
        }
    residual = max(
        abs(c["pulay_stress_measured_GPa"] - c["pulay_stress_fitted_GPa"])
        for c in report_cells.values()
    )
    report = {
        "correction": correction.as_dict(),
        "delta_cutoff_eV": delta,
        "calculator": calculator_settings.name,
        "kpoint_density_per_A": calculator_settings.kpoint_density_per_A,
        "max_fit_residual_GPa": residual,
        "cells": report_cells,
        "stress_sign": "ASE: positive is tensile; Voigt order xx yy zz yz xz xy",
    }
    return correction, report, at_cutoff
