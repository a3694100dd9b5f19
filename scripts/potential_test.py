"""Snakemake entry point of rule potential_test (science in ionscale.potential.evaluate)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.potential import PotentialSettings, apply_gates, evaluate_ensemble, read_lcurve
from ionscale.potential.data import combined_frames_and_split
from ionscale.potential.evaluate import (
    compression_error,
    plot_lcurves,
    plot_parity,
    write_test_h5,
)
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
settings = PotentialSettings.from_params(smk.params.config)
# reference frames + the labelled frames of earlier active-learning rounds (their validation
# share included), as potential_prepare combined them
frames, split = combined_frames_and_split(
    smk.input.labelled,
    smk.input.split,
    list(getattr(smk.input, "active", [])),
    float(smk.params.config.get("active_learning", {}).get("validation_fraction", 0.2)),
)
models = list(smk.input.models)
tests = evaluate_ensemble(
    models, frames, {"validation": split["validation"], "train": split["train"]}
)
validation, train = tests["validation"], tests["train"]
compression = compression_error(
    models, list(smk.input.compressed), [frames[i] for i in split["validation"]]
)
lcurves = [read_lcurve(p) for p in smk.input.lcurves]
summaries = [json.loads(Path(p).read_text()) for p in smk.input.summaries]
for i, (v, t) in enumerate(zip(validation.rmse, train.rmse, strict=True)):
    log.info("member %d RMSE validation %s | train %s", i, v, t)
log.info("ensemble-mean validation RMSE %s", validation.rmse_ensemble_mean)
log.info("validation max force deviation (eV/Å): %s", validation.max_force_deviation_eV_A)
log.info("compression: %s", compression)
violations = apply_gates(validation.rmse, settings.gates)
prov = Provenance.from_snakemake(smk, "potential")
write_test_h5(smk.output.test, validation, train, compression, lcurves, summaries, violations, prov)
plot_parity(smk.output.parity, validation)
plot_lcurves(smk.output.lcurve, lcurves)
