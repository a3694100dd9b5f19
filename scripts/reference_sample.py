"""Snakemake entry point of rule reference_sample (science in ionscale.reference.sampling)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance
from ionscale.reference.stage import sample

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
inputs = dict(smk.input.items())
with open(smk.log.gpaw, "w") as gpaw_txt:  # text output of the optional MD potential
    sample(
        smk.params.config,
        structure_file=inputs.get("structure"),
        li_metal_file=inputs.get("li_metal"),
        host_file=inputs.get("host"),
        out_frames=smk.output.frames,
        out_summary=smk.output.summary,
        provenance=Provenance.from_snakemake(smk, "reference"),
        md_txt=gpaw_txt,
    )
