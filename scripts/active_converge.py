"""Snakemake entry point of checkpoint active_converge: is round r the last (ionscale.active)?

Reads the round's convergence runs (one per md temperature) and writes the decision: converged,
next round, or the cap reached. At the cap without convergence the gate stops the chain
(active_learning.convergence.action: error), the decision kept as FAILED_convergence.json.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.active import convergence_decision, enforce_convergence
from ionscale.io import write_json
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
al, md = cfg["active_learning"], cfg["md"]
runs = [json.loads(Path(p).read_text()) for p in smk.input.runs]
runs = [{k: v for k, v in run.items() if k != "provenance"} for run in runs]
decision = convergence_decision(
    runs,
    round_index=int(smk.wildcards.round),
    max_rounds=al["max_rounds"],
    max_share=md["max_extrapolating_share"],
    trust_hi_eV_A=md["trust_hi_eV_A"],
    action=al["convergence"]["action"],
)
log.info(
    "round %s: %s (worst share %.3f, tolerance %.3f)",
    smk.wildcards.round,
    decision["verdict"],
    decision["worst_share"],
    decision["max_extrapolating_share"],
)
for p in decision["problems"]:
    log.warning("%s", p)
prov = Provenance.from_snakemake(smk, "active")
if decision["verdict"] == "failed":
    write_json(Path(smk.output.decision).with_name("FAILED_convergence.json"), decision, prov)
enforce_convergence(decision)
write_json(smk.output.decision, decision, prov)
