"""Snakemake entry point of rule surrogate_case: run one case of a design with its stage's
solver (science in ionscale.surrogate.solvers and the stage's package)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.io import write_json
from ionscale.provenance import Provenance
from ionscale.surrogate.solvers import run_study_case
from ionscale.surrogate.study import read_design

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
design = read_design(smk.input.design)
provenance = Provenance.from_snakemake(smk, "surrogate")
record = run_study_case(
    design,
    smk.wildcards.case,
    cfg[design["solver"]],
    smk.input.parameters,
    smk.output.solver,
    provenance,
    master_seed=cfg["seed"],
    threads=smk.threads,
)
log.info(
    "%s/%s: %s -> %d outputs in %.2f s",
    design["study"],
    smk.wildcards.case,
    record["parameters"],
    len(record["outputs"]),
    record["solver_wall_time_s"],
)
write_json(smk.output.case, record, provenance)
