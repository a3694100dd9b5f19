"""Rule barrier_neb: NEB with every member, DFT on member 0's path, the gate, the results."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ionscale.barrier.neb import BarrierError, BarrierSettings, NEBPath, hop_cell, neb_path
from ionscale.gates import GateVerdict, enforce, verdict_of
from ionscale.io import write_json
from ionscale.provenance import Provenance

log = logging.getLogger("ionscale.barrier")


def dft_images(path: NEBPath, which: str) -> list[int]:
    """Indices of the images that get DFT single points (``barrier.dft_images``)."""
    if which == "none":
        return []
    if which == "all":
        return list(range(len(path.images)))
    return [0, path.climbing_index]


def dft_on_path(
    path: NEBPath, which: str, calculator: Mapping[str, Any], workdir: str | Path, txt: Any = None
) -> dict[str, Any] | None:
    """DFT energies of member 0's images (reference calculator) and the barriers along them.

    Returns None for ``which = "none"``; else the image indices, DFT and DP energies relative
    to the initial state (eV) and both barriers: the highest of those images above it.
    """
    from ionscale.reference.calculators import CalculatorSettings
    from ionscale.reference.labelling import label_frame

    picks = dft_images(path, which)
    if not picks:
        return None
    settings = CalculatorSettings.from_config(calculator)
    energies = []
    for k in picks:
        log.info("DFT single point on image %d (%d atoms)", k, len(path.images[k]))
        labelled = label_frame(path.images[k], settings, Path(workdir) / f"image{k:02d}", txt)
        energies.append(float(labelled.get_potential_energy()))
    dft = np.array(energies) - energies[0]
    dp = path.energies_eV[picks] - path.energies_eV[0]
    return {
        "images": picks,
        "dft_relative_energy_eV": dft.tolist(),
        "dp_relative_energy_eV": dp.tolist(),
        "dft_barrier_eV": float(dft.max()),
        "dp_barrier_on_these_images_eV": float(dp.max()),
        "calculator": settings.name,
    }


def judge(
    barriers: Sequence[float], dft: Mapping[str, Any] | None, paths_notes: Sequence[list[str]],
    settings: BarrierSettings,
) -> GateVerdict:  # fmt: skip
    """The gate: ensemble spread, |DP − DFT| on member 0's path, NEB convergence."""
    b = np.asarray(barriers, float)
    problems = []
    spread = float(b.max() - b.min())
    if spread > settings.max_spread_eV:
        problems.append(
            f"the members' barriers {np.round(b, 3).tolist()} eV spread {spread:.3f} eV, more than "
            f"barrier.max_spread_eV = {settings.max_spread_eV:g}: the barrier is not constrained "
            "by the training data"
        )
    numbers: dict[str, Any] = {"spread_eV": spread, "max_spread_eV": settings.max_spread_eV}
    if dft is not None:
        diff = dft["dp_barrier_on_these_images_eV"] - dft["dft_barrier_eV"]
        numbers |= {
            "dp_minus_dft_eV": diff,
            "max_dft_difference_eV": settings.max_dft_difference_eV,
        }
        if abs(diff) > settings.max_dft_difference_eV:
            problems.append(
                f"on member 0's path DP gives {dft['dp_barrier_on_these_images_eV']:.3f} eV and "
                f"DFT ({dft['calculator']}) {dft['dft_barrier_eV']:.3f} eV: |DP − DFT| = "
                f"{abs(diff):.3f} eV > barrier.max_dft_difference_eV = "
                f"{settings.max_dft_difference_eV:g}"
            )
    for k, notes in enumerate(paths_notes):
        problems += [f"member {k}: {n}" for n in notes]
    return GateVerdict(verdict_of(problems, settings.action), problems, numbers)


def run_barrier(
    cfg: Mapping[str, Any],
    models: Sequence[str | Path],
    outputs: Mapping[str, str | Path],
    workdir: str | Path,
    provenance: Provenance,
    structure_file: str | Path | None = None,
    txt: Any = None,
) -> dict[str, Any]:
    """Rule barrier_neb (module docstring of :mod:`ionscale.barrier`).

    ``cfg`` holds ``barrier`` and ``reference`` (structure prototype, mobile species,
    calculator); ``structure_file`` the resolved ``reference.structure.file`` when the config
    names one; ``outputs`` the paths ``json``, ``path`` (extxyz) and ``plot``. Raises
    :class:`~ionscale.barrier.neb.BarrierError` (after logging every number, before writing)
    when the gate fails and ``barrier.action`` is error.
    """
    from ionscale.potential.dispersion import DispersionSettings
    from ionscale.reference.stage import role_structure, write_frames
    from ionscale.thermo.atomistic import check_species, dp_calculator

    settings = BarrierSettings.from_config(cfg["barrier"])
    ref = cfg["reference"]
    mobile = ref["mobile_species"]
    host = role_structure(structure_file, ref["structure"]["prototype"], "reference.structure")
    hop = hop_cell(host, settings.supercell, mobile)
    log.info(
        "hop cell %s (%d atoms), %s hop of %.3f Å", hop.initial.get_chemical_formula(),
        len(hop.initial), mobile, hop.hop_length_A,
    )  # fmt: skip
    paths = []
    for k, model in enumerate(models):
        calc = dp_calculator(model, DispersionSettings.from_config(cfg))
        check_species(hop.initial, calc, "barrier")
        path = neb_path(hop, calc, settings)
        log.info(
            "member %d: barrier %.3f eV (NEB %s after %d steps), path %s eV", k, path.barrier_eV,
            "converged" if path.converged else "NOT converged", path.steps,
            np.round(path.energies_eV - path.energies_eV[0], 3).tolist(),
        )  # fmt: skip
        paths.append(path)
    dft = dft_on_path(paths[0], settings.dft_images, ref["calculator"], workdir, txt)
    if dft is not None:
        log.info(
            "DFT on member 0's images %s: barrier %.3f eV (DP on the same images %.3f eV)",
            dft["images"], dft["dft_barrier_eV"], dft["dp_barrier_on_these_images_eV"],
        )  # fmt: skip
    barriers = [p.barrier_eV for p in paths]
    verdict = judge(barriers, dft, [p.notes for p in paths], settings)
    report = {
        "hop": {
            "cell": hop.initial.get_chemical_formula(),
            "n_atoms": len(hop.initial),
            "supercell": list(settings.supercell),
            "hop_length_A": hop.hop_length_A,
            "mobile_species": mobile,
        },
        "members": [
            {
                "barrier_eV": p.barrier_eV,
                "relative_energy_eV": (p.energies_eV - p.energies_eV[0]).tolist(),
                "climbing_image": p.climbing_index,
                "neb_converged": p.converged,
                "neb_steps": p.steps,
                "end_points_converged": p.end_points_converged,
            }
            for p in paths
        ],
        "barrier_eV": float(np.mean(barriers)),
        "barrier_spread_eV": float(np.max(barriers) - np.min(barriers)),
        "dft": dft,
        "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        "gate": verdict.as_dict(),
        "verdict": verdict.verdict,
    }
    enforce(verdict, "barrier check", "barrier.action: warn", error=BarrierError, logger=log)
    images = []
    for k, image in enumerate(paths[0].images):
        image = image.copy()
        image.info["dp_relative_energy_eV"] = float(
            paths[0].energies_eV[k] - paths[0].energies_eV[0]
        )
        if dft is not None and k in dft["images"]:
            image.info["dft_relative_energy_eV"] = dft["dft_relative_energy_eV"][
                dft["images"].index(k)
            ]
        images.append(image)
    write_frames(outputs["path"], images)
    _plot(paths, dft, outputs["plot"])
    write_json(outputs["json"], report, provenance)
    return report


def _plot(paths: Sequence[NEBPath], dft: Mapping[str, Any] | None, out: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ionscale.io import atomic_path

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for k, p in enumerate(paths):
        s = np.linspace(0, 1, len(p.energies_eV))
        ax.plot(s, p.energies_eV - p.energies_eV[0], "o-", ms=3, label=f"DP member {k}")
    if dft is not None:
        s = np.linspace(0, 1, len(paths[0].energies_eV))[dft["images"]]
        ax.plot(s, dft["dft_relative_energy_eV"], "ks", label="DFT on member 0's path")
    ax.set_xlabel("reaction coordinate (image / n)")
    ax.set_ylabel("energy − initial (eV)")
    ax.set_title("vacancy-hop barrier (climbing-image NEB)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
