"""Snakemake entry point of rule reference_convergence: a few labels recomputed at tight
settings, and the gate on the difference (science in ionscale.reference.convergence)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance
from ionscale.reference.stage import check_label_convergence

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
with open(smk.log.dft, "w") as dft_txt:
    report = check_label_convergence(
        smk.params.config["reference"],
        labelled_file=smk.input.labelled,
        cells_file=smk.input.cells,
        pulay_file=smk.input.pulay,
        out_json=smk.output.json,
        workdir=smk.params.workdir,
        provenance=Provenance.from_snakemake(smk, "reference"),
        txt=dft_txt,
    )
log.info("convergence: %s", report["verdict"])
