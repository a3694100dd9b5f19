"""Snakemake entry point of rule surrogate_scalar: the GP surrogate of one scalar output of a
sweep, its held-out error and measured speed-up (science in ionscale.surrogate)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.config import derive_seed
from ionscale.io import write_json
from ionscale.provenance import Provenance, file_hash
from ionscale.surrogate.plots import coverage_plot, parity_plot
from ionscale.surrogate.study import fit_scalar_target, read_cases, save_model, sweep_space

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
solver, output = smk.params.solver, smk.params.output
sweep = cfg["surrogate"][solver]
model, metrics, arrays = fit_scalar_target(
    read_cases(smk.input.cases),
    sweep_space({"surrogate": {solver: sweep}}, solver),
    output,
    key=f"surrogate.{solver}.targets[{sweep['targets'].index(output)}]",
    test_fraction=cfg["surrogate"]["test_fraction"],
    level=cfg["surrogate"]["interval_level"],
    log_target=output in sweep["log_targets"],
    seed=derive_seed(cfg["seed"], "surrogate", solver, output),
    n_restarts=cfg["surrogate"]["gp_restarts"],
)
save_model(smk.output.model, model)
metrics["model_file"] = Path(smk.output.model).name
metrics["model_sha256"] = file_hash(smk.output.model)
log.info(
    "%s-%s: R2 %.4f, MAE %.4g, coverage %.2f on %d held-out cases; speed-up %.3g (single case)",
    solver,
    output,
    metrics["r2"],
    metrics["mae"],
    metrics["coverage"],
    metrics["n_test"],
    metrics["speedup"]["speedup_single_case"],
)
write_json(smk.output.metrics, metrics, Provenance.from_snakemake(smk, "surrogate"))
label = f"{solver}: {output}"
parity_plot(
    smk.output.parity, arrays["y_test"], arrays["pred"], arrays["lo"], arrays["hi"], metrics, label
)
curve = metrics["coverage_curve"]
coverage_plot(smk.output.coverage, curve["levels"], curve["coverage"], metrics["n_test"], label)
