"""Snakemake entry point of rule thermo_orderings with DFT energies (thermo.dft_energies)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance
from ionscale.thermo.dft_energies import run_orderings_from_dft

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
run_orderings_from_dft(
    smk.params.config,
    list(smk.input.batches),
    {k: str(v) for k, v in smk.output.items()},
    Provenance.from_snakemake(smk, "thermo"),
)
