"""Snakemake entry point of rule surrogate_bo_report: the optimisation's answer, trace and
comparison with the grid sweep (science in ionscale.surrogate.bo)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.io import write_json
from ionscale.provenance import Provenance, file_hash
from ionscale.surrogate.plots import bo_trace_plot
from ionscale.surrogate.study import bo_summary, read_cases, save_model

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
metrics, optimizer = bo_summary(
    cfg["surrogate"]["bo"],
    read_cases(smk.input.rounds),
    read_cases(smk.input.grid),
    cfg["seed"],
    cfg["surrogate"]["gp_restarts"],
)
save_model(smk.output.model, optimizer)
metrics["model_file"] = Path(smk.output.model).name
metrics["model_sha256"] = file_hash(smk.output.model)
log.info(
    "optimisation: best %s after %d runs; grid %s with %d runs; matched after %s",
    metrics["best"],
    metrics["n_evaluations"],
    metrics["grid"]["best"],
    metrics["grid"]["n_runs"],
    metrics["evaluations_to_match_grid"],
)
write_json(smk.output.metrics, metrics, Provenance.from_snakemake(smk, "surrogate"))
bo_trace_plot(
    smk.output.trace,
    metrics["trace"],
    metrics["objective_label"],
    None if metrics["grid"]["best"] is None else metrics["grid"]["best"]["objective"],
    metrics["grid"]["n_runs"],
    metrics["evaluations_to_match_grid"],
)
