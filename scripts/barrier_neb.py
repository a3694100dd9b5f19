"""Snakemake entry point of rule barrier_neb: the vacancy-hop NEB per member and DFT on its path
(ionscale.barrier)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.barrier import run_barrier
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
with open(smk.log.dft, "w") as txt:
    run_barrier(
        smk.params.config,
        list(smk.input.models),
        {"json": smk.output.json, "path": smk.output.path, "plot": smk.output.plot},
        smk.params.workdir,
        Provenance.from_snakemake(smk, "barrier"),
        structure_file=getattr(smk.input, "structure", None),
        txt=txt,
    )
