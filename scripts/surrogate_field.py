"""Snakemake entry point of rule surrogate_field: the reduced-order surrogate of phase-field
evolution trained on a sweep's trajectories (science in ionscale.surrogate.field)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.config import derive_seed
from ionscale.io import write_json
from ionscale.provenance import Provenance, file_hash
from ionscale.surrogate.plots import field_error_plot
from ionscale.surrogate.study import fit_field_surrogate, read_cases, save_model, sweep_space

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
sweep = cfg["surrogate"]["phasefield"]
model, metrics, example = fit_field_surrogate(
    read_cases(smk.input.cases),
    sweep_space({"surrogate": {"phasefield": sweep}}, "phasefield"),
    "phasefield",
    test_fraction=cfg["surrogate"]["test_fraction"],
    n_components=sweep["n_components"],
    isotropic=sweep["isotropic"],
    seed=derive_seed(cfg["seed"], "surrogate", "phasefield", "field"),
    n_restarts=cfg["surrogate"]["gp_restarts"],
)
save_model(smk.output.model, model)
metrics["model_file"] = Path(smk.output.model).name
metrics["model_sha256"] = file_hash(smk.output.model)
log.info(
    "field surrogate: relative L2 error %.3g (training) / %.3g (held out); speed-up %.3g",
    metrics["train_relative_l2_mean"],
    metrics["test_relative_l2_mean"],
    metrics["speedup"]["speedup_single_case"],
)
write_json(smk.output.metrics, metrics, Provenance.from_snakemake(smk, "surrogate"))
field_error_plot(smk.output.plot, errors=metrics, **example)
