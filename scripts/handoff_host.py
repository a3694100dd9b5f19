"""Snakemake entry point of rule handoff_host (ionscale.thermo.host via ionscale.handoff)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.handoff import run_host_properties
from ionscale.potential.dispersion import DispersionSettings
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
run_host_properties(
    smk.params.config["handoff"],
    list(smk.input.models),
    {"orderings": smk.input.orderings, "relaxed": smk.input.relaxed},
    smk.output.h5,
    Provenance.from_snakemake(smk, "handoff"),
    dispersion=DispersionSettings.from_config(smk.params.config),
)
