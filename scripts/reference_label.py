"""Snakemake entry point of rule reference_label: one batch of frames through the DFT code."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance
from ionscale.reference.stage import label_batch

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
ref = smk.params.config["reference"]
with open(smk.log.dft, "w") as dft_txt:  # GPAW's text output of every frame of the batch
    result = label_batch(
        smk.input.frames,
        batch_index=int(smk.wildcards.batch),
        batch_size=int(ref["batch_size"]),
        calculator_config=ref["calculator"],
        out_frames=smk.output.frames,
        out_report=smk.output.report,
        workdir=smk.params.workdir,
        provenance=Provenance.from_snakemake(smk, "reference"),
        txt=dft_txt,
        pulay=smk.input.get("pulay"),
    )
log.info("batch %s: %d labelled, %d failed", smk.wildcards.batch, len(result.labelled),
         len(result.failures))  # fmt: skip
