"""Snakemake entry point of rule thermo_cluster_expansion (ionscale.thermo.cluster_expansion)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.config import derive_seed
from ionscale.provenance import Provenance
from ionscale.thermo.stage import run_cluster_expansion

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
run_cluster_expansion(
    cfg,
    {"h5": smk.input.orderings, "lattice": smk.input.lattice},
    {"ce": smk.output.ce, "json": smk.output.json},
    Provenance.from_snakemake(smk, "thermo"),
    seed=derive_seed(cfg["seed"], "thermo", "cluster_expansion"),
)
