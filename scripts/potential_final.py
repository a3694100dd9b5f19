"""Snakemake entry point of rule potential_final: the final round's ensemble becomes potential/.

Copies the members (frozen and compressed), learning curves, training summaries and neighbour
statistics of the round the convergence checks chose, and writes the convergence history of
every round up to it as potential/active_learning.json (ionscale.active).
"""

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.active import final_round
from ionscale.io import atomic_path, write_json
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
decisions = [json.loads(Path(p).read_text()) for p in smk.input.decisions]
decisions = [{k: v for k, v in d.items() if k != "provenance"} for d in decisions]
final = final_round(decisions)


def _paths(value):
    """A named input/output as a list of paths (a single path comes back as a string)."""
    return [value] if isinstance(value, str) else list(value)


for key in ("models", "compressed", "lcurves", "summaries", "neighbor_stat"):
    sources, targets = _paths(smk.input[key]), _paths(smk.output[key])
    for src, dst in zip(sources, targets, strict=True):
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
last = decisions[final]
history = {
    "final_round": final,
    "converged": last["converged"],
    "verdict": last["verdict"],
    "max_rounds": last["max_rounds"],
    "max_extrapolating_share": last["max_extrapolating_share"],
    "trust_hi_eV_A": last["trust_hi_eV_A"],
    "rounds": [
        {
            "round": d["round"],
            "verdict": d["verdict"],
            "worst_share": d["worst_share"],
            "share_by_temperature_K": {
                f"{run['temperature_K']:g}": run["extrapolating_share"] for run in d["runs"]
            },
        }
        for d in decisions
    ],
}
write_json(smk.output.history, history, Provenance.from_snakemake(smk, "potential"))
log.info("final potential: round %d (%s)", final, last["verdict"])
