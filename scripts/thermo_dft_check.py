"""Snakemake entry point of rule thermo_dft_check (science in ionscale.thermo.dft)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance
from ionscale.thermo.stage import run_dft_check

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
run_dft_check(
    cfg,
    cfg["reference"]["calculator"],
    {"h5": smk.input.orderings, "relaxed": smk.input.relaxed},
    {"json": smk.output.json, "plot": smk.output.plot},
    Provenance.from_snakemake(smk, "thermo"),
    workdir=smk.params.workdir,
)
