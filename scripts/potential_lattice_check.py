"""Snakemake entry point of rule potential_lattice_check: the layer spacings the ensemble relaxes
the hosts to, against the measured ones (science in ionscale.potential.lattice)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.potential.lattice import run_lattice_check
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
run_lattice_check(
    smk.params.config,
    list(smk.input.models),
    {role: getattr(smk.input, role, None) for role in ("structure", "host")},
    smk.output.json,
    Provenance.from_snakemake(smk, "potential"),
)
