"""DFT spot checks of the potential's formation energies.

A configured handful of DP-relaxed orderings (hull vertices first, then the lowest above the
hull), the empty host and bcc Li metal are recomputed with the reference stage's DFT calculator
(:mod:`ionscale.reference.calculators`, the same physical settings as the training data, and
its labelling with failure records: :func:`ionscale.reference.labelling.label_frames`). Formation
energies are formed from each method's own end members, so the comparison is of the quantity
the thermo stage uses, not of absolute energies. Energies are the force-consistent (free)
energies the potential was trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

log = logging.getLogger(__name__)


def select_for_dft(
    x: np.ndarray,
    n_sites: np.ndarray,
    on_hull: np.ndarray,
    e_above: np.ndarray,
    failed: np.ndarray,
    n_structures: int,
) -> list[int]:
    """Indices of the orderings to recompute: interior hull vertices first (smallest cells
    first), then the lowest above the hull; never failed ones, never the end members (they are
    always computed as references)."""
    interior = (x > 0) & (x < 1) & ~failed.astype(bool)
    vertices = [i for i in np.lexsort((n_sites, -on_hull)) if interior[i] and on_hull[i]]
    rest = [
        i
        for i in np.argsort(np.where(np.isnan(e_above), np.inf, e_above), kind="stable")
        if interior[i] and not on_hull[i]
    ]
    return [int(i) for i in (vertices + rest)[:n_structures]]


def dft_hull_flags(rows: list[dict[str, Any]], host: bool) -> None:
    """Add to every row its DFT energy above the DFT hull of all rows (with x = 0 at 0 when the
    host structure is the reference, else the x = 0 row), ``dft_e_above_hull_eV_per_site``,
    and ``dft_on_hull``; needs x = 0 and x = 1 among them (else nothing is added)."""
    from ionscale.thermo.hull import convex_hull

    x = np.array([r["li_fraction"] for r in rows], dtype=float)
    e = np.array([r["dft_formation_energy_eV_per_site"] for r in rows], dtype=float)
    if host:
        x, e = np.r_[0.0, x], np.r_[0.0, e]
    if not (np.any(x == 0) and np.any(x == 1)):
        return
    hull = convex_hull(x, e)
    above = hull.e_above_hull_eV_per_site[1:] if host else hull.e_above_hull_eV_per_site
    for r, a in zip(rows, above, strict=True):
        r["dft_e_above_hull_eV_per_site"] = float(a)
        r["dft_on_hull"] = bool(a < 1e-6)


def dft_spot_check(
    relaxed: list[Atoms],
    orderings: Mapping[str, np.ndarray],
    metal: Atoms,
    calculator_config: Mapping[str, Any],
    n_structures: int,
    workdir: str | Path,
    txt: Any = None,
    host: tuple[Atoms, float] | None = None,
    eligible: np.ndarray | None = None,
    staged: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """DP vs DFT formation energies of the selected orderings.

    Parameters
    ----------
    relaxed:
        DP-relaxed structures, in the order of ``orderings``' arrays.
    orderings:
        Arrays from orderings.h5: ``li_fraction``, ``n_sites``, ``on_hull``,
        ``e_above_hull_eV_per_site``, ``failed``, ``formation_energy_eV_per_site`` (DP model 0).
    metal:
        DP-relaxed bcc Li cell (the metal reference).
    calculator_config:
        The ``reference.calculator`` config section.
    host:
        The DP-relaxed host structure that is x = 0 of ``orderings`` (graphite: AB) and its
        formula units of one site; DFT then refers its formation energies to the same
        structure, and the empty lattice cell becomes a row of its own (its formation energy
        is the stacking energy the free energy's host-phase envelope rests on). None: x = 0 is
        the empty lattice cell.
    eligible:
        Orderings that may be chosen (the ones never in the training data: the held-out share
        of the active-learning loop over orderings); None: all.
    staged:
        Staged compounds (line phases): ``structures`` (stage n → DP-relaxed Atoms) and
        ``formation_energy_eV_per_site`` (DP, by the order of ``stage``). They are compared
        too, and the summary says whether each lies on the DFT hull of everything computed
        (graphite: is stage-2 LiC12 stable in this functional?).

    Returns a JSON-ready summary: the number of structures selected (``n_selected``: the x = 1
    end member, the orderings, with a host structure the empty lattice cell, and the staged
    compounds); per structure computed DP and DFT formation energies
    (eV/site) and their difference; MAE, RMSE and max |error|; the failures (DFT that did not
    finish).
    """
    from ionscale.reference.calculators import CalculatorSettings, validate_calculator_settings
    from ionscale.reference.labelling import label_frames

    x = np.asarray(orderings["li_fraction"], dtype=float)
    n_sites = np.asarray(orderings["n_sites"], dtype=int)
    settings = CalculatorSettings.from_config(calculator_config)
    excluded = np.asarray(orderings["failed"]).astype(bool)
    if eligible is not None:
        excluded = excluded | ~np.asarray(eligible, dtype=bool)
    chosen = select_for_dft(
        x,
        n_sites,
        np.asarray(orderings["on_hull"]),
        np.asarray(orderings["e_above_hull_eV_per_site"]),
        excluded,
        n_structures,
    )
    ends = [int(np.flatnonzero((x == v) & (n_sites == n_sites.min()))[0]) for v in (0.0, 1.0)]
    frames = []
    for i in [*ends, *chosen]:
        a = relaxed[i].copy()
        a.info = {"frame_id": f"ordering-{i}", "config_type": "ordering", "li_fraction": x[i]}
        frames.append(a)
    m = metal.copy()
    m.info = {"frame_id": "li-metal", "config_type": "li_metal", "li_fraction": float("nan")}
    frames.append(m)
    if host is not None:
        h = host[0].copy()
        h.info = {"frame_id": "host", "config_type": "host", "li_fraction": 0.0}
        frames.append(h)
    staged_rows = []
    if staged is not None:
        for k, n in enumerate(staged["stage"]):
            a = staged["structures"][int(n)].copy()
            a.info = {"frame_id": f"stage-{int(n)}", "config_type": "staged"}
            a.info["li_fraction"] = float(staged["li_fraction"][k])
            frames.append(a)
            staged_rows.append((int(n), k, a))
    validate_calculator_settings(settings, frames[0])
    log.info(
        "DFT (%s) on %d frames: orderings %s + end members + bcc Li",
        settings.name,
        len(frames),
        chosen,
    )
    result = label_frames(frames, settings, workdir, txt)
    energy = {a.info["frame_id"]: a.get_potential_energy() for a in result.labelled}
    failures = [f.as_dict() for f in result.failures]
    needed = ["host" if host is not None else f"ordering-{ends[0]}", "li-metal"]
    missing = [k for k in needed if k not in energy]
    if missing:
        raise RuntimeError(
            f"DFT spot check: the reference frame(s) {missing} failed, so no DFT formation "
            f"energies can be formed: {failures}"
        )
    if host is not None:
        host_e = energy["host"] / host[1]
        compared = [ends[0], ends[1], *chosen]  # the empty lattice cell: the stacking energy
    else:
        host_e = energy[f"ordering-{ends[0]}"] / n_sites[ends[0]]
        compared = [ends[1], *chosen]
    mu_li = energy["li-metal"] / len(metal)
    rows = []
    for i in compared:
        key = f"ordering-{i}"
        if key not in energy:
            continue
        n_li = round(x[i] * n_sites[i])
        ef_dft = (energy[key] - n_sites[i] * host_e - n_li * mu_li) / n_sites[i]
        ef_dp = float(orderings["formation_energy_eV_per_site"][i])
        rows.append(
            {
                "index": i,
                "li_fraction": float(x[i]),
                "n_sites": int(n_sites[i]),
                "n_atoms": len(relaxed[i]),
                "on_hull": bool(orderings["on_hull"][i]),
                "dft_formation_energy_eV_per_site": float(ef_dft),
                "dp_formation_energy_eV_per_site": ef_dp,
                "error_eV_per_site": ef_dp - float(ef_dft),
            }
        )
    mobile = metal.get_chemical_symbols()[0]
    for n, k, a in staged_rows:
        if f"stage-{n}" not in energy:
            continue
        n_li = a.get_chemical_symbols().count(mobile)
        sites = round(n_li / float(staged["li_fraction"][k]))
        ef_dft = (energy[f"stage-{n}"] - sites * host_e - n_li * mu_li) / sites
        ef_dp = float(staged["formation_energy_eV_per_site"][k])
        rows.append(
            {
                "index": -n,
                "stage": n,
                "li_fraction": float(staged["li_fraction"][k]),
                "n_sites": int(sites),
                "n_atoms": len(a),
                "on_hull": bool(staged["on_hull"][k]),
                "dft_formation_energy_eV_per_site": float(ef_dft),
                "dp_formation_energy_eV_per_site": ef_dp,
                "error_eV_per_site": ef_dp - float(ef_dft),
            }
        )
    dft_hull_flags(rows, host is not None)
    err = np.array([r["error_eV_per_site"] for r in rows])
    return {
        "calculator": settings.name,
        "n_selected": len(compared) + len(staged_rows),
        "x0_reference": "host structure" if host is not None else "empty lattice cell",
        "held_out_only": eligible is not None,
        "structures": rows,
        "mae_eV_per_site": float(np.mean(np.abs(err))) if len(err) else None,
        "rmse_eV_per_site": float(np.sqrt(np.mean(err**2))) if len(err) else None,
        "max_abs_error_eV_per_site": float(np.max(np.abs(err))) if len(err) else None,
        "dft_host_energy_eV_per_site": float(host_e),
        "dft_li_metal_energy_eV_per_atom": float(mu_li),
        "failures": failures,
        "seconds": result.seconds,
    }
