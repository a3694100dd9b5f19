"""Snakemake entry point of rule fingerprint (science in ionscale.fingerprint)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np
from _common import setup

from ionscale.config import derive_seed
from ionscale.fingerprint import (
    FingerprintSettings,
    plot_map,
    read_labelled_frames,
    run_fingerprint,
    write_descriptors_h5,
)
from ionscale.io import write_json
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
settings = FingerprintSettings.from_config(cfg["fingerprint"])
seed = derive_seed(cfg["seed"], "fingerprint", "split")
frames = read_labelled_frames(smk.input.labelled)
log.info("%d labelled frames; SOAP %s; split %s", len(frames), settings.soap, settings.selection)
result = run_fingerprint(frames, settings, seed=seed, n_jobs=smk.threads)
for stratum, counts in result.split.strata.items():
    log.info("stratum %-28s %s", stratum, counts)
log.info(
    "novelty scale per species %s; validation-frame novelty: median %.2f, max %.2f",
    result.novelty.scale,
    float(np.median(result.validation_novelty)),
    float(result.validation_novelty.max()),
)
prov = Provenance.from_snakemake(smk, "fingerprint")
write_descriptors_h5(smk.output.descriptors, result, prov)
plot_map(smk.output.map, result)
write_json(smk.output.split, result.split.as_dict(), prov)
