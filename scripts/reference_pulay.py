"""Snakemake entry point of rule reference_pulay: the per-species Pulay stress of the labels
(science in ionscale.reference.pulay)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance
from ionscale.reference.stage import calibrate_pulay

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
files = {k: v for k, v in smk.input.items() if k in ("structure", "host", "li_metal")}
with open(smk.log.dft, "w") as dft_txt:
    correction = calibrate_pulay(
        smk.params.config["reference"],
        files,
        out_json=smk.output.json,
        out_cells=smk.output.cells,
        workdir=smk.params.workdir,
        provenance=Provenance.from_snakemake(smk, "reference"),
        txt=dft_txt,
    )
log.info("Pulay correction: %s", correction.as_dict())
