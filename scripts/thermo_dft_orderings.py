"""Snakemake entry point of rule thermo_dft_orderings (science in ionscale.thermo.dft_energies)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.thermo.dft_energies import run_dft_batch

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
with open(smk.log.dft, "w") as dft_txt:  # GPAW's text output of every structure of the batch
    run_dft_batch(
        smk.params.config,
        int(smk.wildcards.batch),
        smk.output.frames,
        smk.params.workdir,
        txt=dft_txt,
    )
