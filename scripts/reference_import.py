"""Snakemake entry point of rule reference_import (science in ionscale.reference.importing)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.provenance import Provenance
from ionscale.reference.stage import import_data

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
ref = smk.params.config["reference"]
inputs = dict(smk.input.items())
import_data(
    ref["imports"],
    resolved_files=list(smk.input.data),
    structure_file=inputs.get("structure"),
    structure_prototype=ref["structure"]["prototype"],
    mobile_species=ref["mobile_species"],
    out_frames=smk.output.frames,
    out_report=smk.output.report,
    provenance=Provenance.from_snakemake(smk, "reference"),
)
