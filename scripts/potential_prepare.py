"""Snakemake entry point of rule potential_prepare (science in ionscale.potential.data).

Input ``active`` (rounds after the first of active learning): the labelled frames of the earlier
rounds, added to the reference data (ionscale.active).
"""

import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.io import write_json
from ionscale.potential import PotentialSettings, prepare_data
from ionscale.potential.dispersion import DispersionSettings
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
settings = PotentialSettings.from_params(smk.params.config)
dispersion = DispersionSettings.from_config(smk.params.config)
active = list(getattr(smk.input, "active", []))
stat, report = prepare_data(
    smk.input.labelled,
    smk.input.split,
    settings,
    smk.output.data,
    active=active,
    active_validation_fraction=float(
        smk.params.config.get("active_learning", {}).get("validation_fraction", 0.2)
    ),
    dispersion=dispersion,
)
log.info("inputs: %s (active-learning files %s)", report, active)
log.info("neighbour statistics: %s", stat)
write_json(
    smk.output.neighbor_stat,
    {**stat.as_dict(), "checks": asdict(report), "dispersion": dispersion.as_dict()},
    Provenance.from_snakemake(smk, "potential"),
)
