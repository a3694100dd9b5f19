"""Snakemake entry point of rule potential_prepare (science in ionscale.potential.data)."""

import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.io import write_json
from ionscale.potential import PotentialSettings, prepare_data
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
settings = PotentialSettings.from_params(smk.params.config)
stat, report = prepare_data(smk.input.labelled, smk.input.split, settings, smk.output.data)
log.info("inputs: %s", report)
log.info("neighbour statistics: %s", stat)
write_json(
    smk.output.neighbor_stat,
    {**stat.as_dict(), "checks": asdict(report)},
    Provenance.from_snakemake(smk, "potential"),
)
