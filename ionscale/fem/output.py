"""Result files of a particle case: history.h5, summary.json, plots (rank 0 writes them)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.fem.model import ParticleCase, ParticleMaterial, SolverSettings, capacity_mAh_cm3
from ionscale.io import PARTIAL_MARKER, add_dataset, open_result_h5, write_json
from ionscale.provenance import Provenance

#: The output contract of a case's summary.json: every scalar it holds (dotted paths; a value
#: may be null, e.g. ``capacity_at_cutoff_mAh_cm3`` without a cutoff), besides the case's own
#: keys (``case.*``) and the solver settings. Surrogate targets and optimisation outputs are
#: checked against it before any job; the end-to-end test checks the writer against it.
SUMMARY_SCALARS: tuple[str, ...] = (
    "capacity_mAh_cm3",
    "capacity_at_cutoff_mAh_cm3",
    "theoretical_capacity_mAh_cm3",
    "delivered_li_fraction",
    "utilisation",
    "final.time_s",
    "final.voltage_V",
    "final.mean_li_fraction",
    "final.surface_li_fraction",
    "final.centre_li_fraction",
    "max_von_mises_stress.value_MPa",
    "max_von_mises_stress.r_um",
    "max_von_mises_stress.time_s",
    "max_von_mises_stress.mean_li_fraction",
    "max_radial_stress.value_MPa",
    "max_radial_stress.r_um",
    "max_radial_stress.time_s",
    "max_radial_stress.mean_li_fraction",
    "min_radial_stress.value_MPa",
    "min_radial_stress.r_um",
    "min_radial_stress.time_s",
    "min_radial_stress.mean_li_fraction",
    "max_hoop_stress.value_MPa",
    "max_hoop_stress.r_um",
    "max_hoop_stress.time_s",
    "max_hoop_stress.mean_li_fraction",
    "min_hoop_stress.value_MPa",
    "min_hoop_stress.r_um",
    "min_hoop_stress.time_s",
    "min_hoop_stress.mean_li_fraction",
    "transport.diffusivity_m2_s",
    "transport.diffusion_time_s",
    "transport.dimensionless_flux",
    "transport.surface_flux_mol_m2_s",
    "transport.current_density_A_m2",
    "thermodynamic_factor.chebyshev_degree",
    "thermodynamic_factor.fit_relative_error",
    "thermodynamic_factor.smoothing_width",
    "thermodynamic_factor.min",
    "thermodynamic_factor.max",
    "lithium_balance_relative_error",
    "numerics.n_dofs_concentration",
    "numerics.n_dofs_displacement",
    "numerics.n_steps",
    "numerics.n_rejected_steps",
    "numerics.newton_iterations",
    "numerics.backward_euler_solves",
    "numerics.n_ranks",
    "numerics.solve_wall_time_s",
)

#: unit of a dataset from the suffix of its name (names carry their units)
_SUFFIX_UNITS = (
    ("_mAh_cm3", "mAh/cm³"),
    ("_A_m2", "A/m²"),
    ("_MPa", "MPa"),
    ("_um", "µm"),
    ("_V", "V"),
    ("_s", "s"),
)


def units_of(name: str) -> str:
    """Unit string of a history/profile dataset name (dimensionless: '1')."""
    for suffix, unit in _SUFFIX_UNITS:
        if name.endswith(suffix):
            return unit
    if name.endswith(("li_fraction", "iterations")):
        return "1"
    raise ValueError(f"no unit known for dataset name {name!r}")


@contextlib.contextmanager
def atomic_directory(path: str | Path, comm: Any) -> Iterator[Path]:
    """Like :func:`ionscale.io.atomic_path` for a directory written collectively over MPI.

    Every rank gets the same temporary name; rank 0 renames it into place after all ranks
    finished, or removes it on failure.
    """
    path = Path(path)
    token = comm.bcast(secrets.token_hex(4) if comm.rank == 0 else None, root=0)
    tmp = path.with_name(f".{path.stem}.{token}{PARTIAL_MARKER}{path.suffix}")
    if comm.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    try:
        yield tmp
        comm.barrier()
        if comm.rank == 0:
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        comm.barrier()
    except BaseException:
        if comm.rank == 0 and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_history(
    path: str | Path,
    result: Any,
    case: ParticleCase,
    material: ParticleMaterial,
    provenance: Provenance,
) -> None:
    """history.h5: time series, final profiles and the handoff OCV at the case temperature."""
    x_ocv = np.linspace(*material.x_range, 401)
    with open_result_h5(path, provenance) as h5:
        hist = h5.create_group("history")
        for name, values in result.history.items():
            add_dataset(hist, name, values, units_of(name))
        prof = h5.create_group("final")
        for name, values in (result.profiles or {}).items():
            add_dataset(prof, name, values, units_of(name))
        ocv = h5.create_group("ocv")
        add_dataset(ocv, "li_fraction", x_ocv, "1", "Li fraction grid of the handoff OCV")
        add_dataset(ocv, "voltage_V", material.ocv_V(x_ocv), "V", "OCV(x) = −μ(x)/e at T")
        add_dataset(ocv, "thermodynamic_factor", material.thermodynamic_factor(x_ocv), "1")
        h5.attrs["case_name"] = case.name
        h5.attrs["stop_reason"] = result.stop_reason
        h5.attrs["temperature_K"] = case.temperature_K


def _extreme(hist: Mapping[str, np.ndarray], key: str, kind: str) -> dict[str, float]:
    values = hist[f"{kind}_{key}_stress_MPa"]
    i = int(np.argmax(values) if kind == "max" else np.argmin(values))
    return {
        "value_MPa": float(values[i]),
        "r_um": float(hist[f"r_at_{kind}_{key}_stress_um"][i]),
        "time_s": float(hist["time_s"][i]),
        "mean_li_fraction": float(hist["mean_li_fraction"][i]),
    }


def summarise(
    result: Any,
    case: ParticleCase,
    settings: SolverSettings,
    material: ParticleMaterial,
) -> dict[str, Any]:
    """The scalar outcomes of a case (summary.json without provenance)."""
    h = result.history
    x0 = case.initial_li_fraction
    delivered = abs(float(h["mean_li_fraction"][-1]) - x0)
    capacity = float(h["capacity_mAh_cm3"][-1])
    mean = h["mean_li_fraction"]
    # lithium balance: Δ(mean x) must equal 3 J τ (the integrated surface flux) exactly
    expected = (
        3 * result.scales.dimensionless_flux * h["time_s"][-1] / result.scales.diffusion_time_s
    )
    balance = abs((mean[-1] - x0) - expected) / max(abs(expected), 1e-300)
    return {
        "case": {k: getattr(case, k) for k in case.__dataclass_fields__},
        "stop_reason": result.stop_reason,
        "capacity_mAh_cm3": capacity,
        "capacity_at_cutoff_mAh_cm3": capacity if result.stop_reason == "cutoff_voltage" else None,
        "theoretical_capacity_mAh_cm3": float(
            capacity_mAh_cm3(case.final_li_fraction - x0, material.c_max_mol_m3)
        ),
        "delivered_li_fraction": delivered,
        "utilisation": delivered / abs(case.final_li_fraction - x0),
        "final": {
            "time_s": float(h["time_s"][-1]),
            "voltage_V": float(h["voltage_V"][-1]),
            "mean_li_fraction": float(mean[-1]),
            "surface_li_fraction": float(h["surface_li_fraction"][-1]),
            "centre_li_fraction": float(h["centre_li_fraction"][-1]),
        },
        "max_von_mises_stress": _extreme(h, "von_mises", "max"),
        "max_radial_stress": _extreme(h, "radial", "max"),
        "min_radial_stress": _extreme(h, "radial", "min"),
        "max_hoop_stress": _extreme(h, "hoop", "max"),
        "min_hoop_stress": _extreme(h, "hoop", "min"),
        "transport": {
            "diffusivity_m2_s": material.diffusivity_m2_s,
            "diffusion_time_s": result.scales.diffusion_time_s,
            "dimensionless_flux": result.scales.dimensionless_flux,
            "surface_flux_mol_m2_s": result.scales.flux_mol_m2_s,
            "current_density_A_m2": result.scales.current_density_A_m2,
        },
        "thermodynamic_factor": {
            "chebyshev_degree": result.fit.degree,
            "fit_relative_error": result.fit.max_error,
            "smoothing_width": result.fit.smoothing_width,
            "min": result.fit.theta_min,
            "max": result.fit.theta_max,
            "clipped_x_intervals": result.clipped_intervals,
        },
        "lithium_balance_relative_error": float(balance),
        "numerics": {
            "n_dofs_concentration": result.n_dofs,
            "n_dofs_displacement": result.n_dofs_displacement,
            "n_steps": result.n_steps,
            "n_rejected_steps": result.n_rejected,
            "newton_iterations": result.n_newton,
            "backward_euler_solves": result.n_solves,
            "n_ranks": result.n_ranks,
            "solve_wall_time_s": result.wall_time_s,
        },
        "solver_settings": settings.as_dict(),
    }


def write_summary(path: str | Path, summary: Mapping[str, Any], provenance: Provenance) -> None:
    write_json(path, summary, provenance)


# -- plots ----------------------------------------------------------------------------------------
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_voltage(
    path: str | Path,
    curves: Sequence[tuple[str, Mapping[str, np.ndarray]]],
    ocv: tuple[np.ndarray, np.ndarray],
    title: str,
) -> None:
    """Terminal voltage vs mean Li fraction (one line per case) over the handoff OCV."""
    from ionscale.io import atomic_path

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    x_ocv, v_ocv = ocv
    ax.plot(x_ocv, v_ocv, "k--", lw=1.2, label="OCV(x) from the handoff")
    vmin, vmax = np.inf, -np.inf
    xmin, xmax = np.inf, -np.inf
    for label, h in curves:
        ax.plot(h["mean_li_fraction"], h["voltage_V"], lw=1.6, label=label)
        vmin = min(vmin, np.nanmin(h["voltage_V"]))
        vmax = max(vmax, np.nanmax(h["voltage_V"]))
        xmin = min(xmin, np.min(h["mean_li_fraction"]))
        xmax = max(xmax, np.max(h["mean_li_fraction"]))
    # show the OCV over the Li fractions the runs went through (it diverges at the ends)
    seen = (x_ocv >= xmin) & (x_ocv <= xmax)
    if np.any(seen):
        vmin = min(vmin, float(np.min(v_ocv[seen])))
        vmax = max(vmax, float(np.max(v_ocv[seen])))
    pad = 0.1 * max(vmax - vmin, 0.05)
    ax.set_ylim(vmin - pad, vmax + pad)
    ax.set_xlabel("mean Li fraction x̄ (delivered capacity)")
    ax.set_ylabel("voltage vs Li/Li⁺ (V)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130)
    plt.close(fig)


def plot_stress(
    path: str | Path,
    history: Mapping[str, np.ndarray],
    profiles: Mapping[str, np.ndarray],
    title: str,
) -> None:
    """Stress histories (left) and final stress profiles (right)."""
    from ionscale.io import atomic_path

    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2))
    x = history["mean_li_fraction"]
    a1.plot(x, history["surface_hoop_stress_MPa"], label="hoop, surface")
    a1.plot(x, history["centre_radial_stress_MPa"], label="radial (= hoop), centre")
    a1.plot(x, history["max_von_mises_stress_MPa"], "k", lw=1.8, label="max von Mises")
    a1.set_xlabel("mean Li fraction x̄")
    a1.set_ylabel("stress (MPa)")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    r = profiles["stress_r_um"]
    for key, label in (("radial", "radial σ_r"), ("hoop", "hoop σ_θ"), ("von_mises", "von Mises")):
        a2.plot(r, profiles[f"{key}_stress_MPa"], label=label)
    a2.set_xlabel("r (µm)")
    a2.set_ylabel("stress at the end (MPa)")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130)
    plt.close(fig)


def read_history(path: str | Path) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """history/* datasets and the OCV curve of a history.h5."""
    import h5py

    with h5py.File(path, "r") as h5:
        hist = {k: h5["history"][k][()] for k in h5["history"]}
        ocv = (h5["ocv/li_fraction"][()], h5["ocv/voltage_V"][()])
    return hist, ocv


def compare_cases(
    histories: Sequence[str | Path],
    summaries: Sequence[str | Path],
    overview_path: str | Path,
    plot_path: str | Path,
    provenance: Provenance,
) -> dict[str, Any]:
    """All cases side by side: voltage curves over the OCV and a table of their outcomes."""
    import json

    rows = []
    curves = []
    ocv = None
    for hist_path, summary_path in zip(histories, summaries, strict=True):
        summary = json.loads(Path(summary_path).read_text())
        hist, case_ocv = read_history(hist_path)
        ocv = ocv if ocv is not None else case_ocv
        case = summary["case"]
        curves.append(
            (
                f"{case['name']}: {case['c_rate']:g}C, {case['radius_um']:g} µm, "
                f"{case['temperature_K']:g} K",
                hist,
            )
        )
        rows.append(
            {
                "name": case["name"],
                **{
                    k: case[k]
                    for k in (
                        "c_rate",
                        "radius_um",
                        "temperature_K",
                        "exchange_current_density_A_m2",
                        "direction",
                    )
                },
                "stop_reason": summary["stop_reason"],
                "capacity_mAh_cm3": summary["capacity_mAh_cm3"],
                "delivered_li_fraction": summary["delivered_li_fraction"],
                "max_von_mises_stress_MPa": summary["max_von_mises_stress"]["value_MPa"],
                "final_surface_li_fraction": summary["final"]["surface_li_fraction"],
                "final_centre_li_fraction": summary["final"]["centre_li_fraction"],
            }
        )
    if ocv is None:
        raise ValueError("fem_compare: no cases")
    plot_voltage(plot_path, curves, ocv, "fem cases: terminal voltage vs mean Li fraction")
    overview = {"cases": rows}
    write_json(overview_path, overview, provenance)
    return overview
