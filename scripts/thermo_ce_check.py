"""Snakemake entry point of rule thermo_dft_check with DFT energies: the cluster expansion on
held-out orderings (science in ionscale.thermo.dft_energies)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance
from ionscale.thermo.dft_energies import run_ce_check

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
run_ce_check(
    smk.params.config,
    {"h5": smk.input.orderings, "lattice": smk.input.lattice, "ce": smk.input.ce},
    {"json": smk.output.json, "plot": smk.output.plot},
    Provenance.from_snakemake(smk, "thermo"),
)
