"""Snakemake entry point of rule thermo_ocv_check: the learned OCV against measurement (science
in ionscale.thermo.free_energy and ionscale.thermo.gates)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance
from ionscale.thermo.stage import run_ocv_check

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
run_ocv_check(
    smk.params.config, smk.input.h5, smk.output.json, Provenance.from_snakemake(smk, "thermo")
)
