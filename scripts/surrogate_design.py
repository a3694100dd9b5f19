"""Snakemake entry point of rules surrogate_design, surrogate_bo_grid and surrogate_bo_propose:
write the design.json of a sweep, of the grid, or of an optimisation round
(science in ionscale.surrogate.study)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.io import write_json
from ionscale.provenance import Provenance
from ionscale.surrogate.study import (
    bo_grid_design,
    bo_round_design,
    read_cases,
    sweep_design,
)

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
kind = smk.params.kind
if kind == "sweep":
    solver = smk.wildcards.solver
    design = sweep_design(cfg["surrogate"][solver], solver, cfg["seed"])
elif kind == "bo_grid":
    design = bo_grid_design(cfg["surrogate"]["bo"])
elif kind == "bo_round":
    design = bo_round_design(
        cfg["surrogate"]["bo"],
        int(smk.wildcards.round),
        read_cases(smk.input.cases),
        cfg["seed"],
        cfg["surrogate"].get("gp_restarts", 0),  # round 0 fits nothing
    )
else:
    sys.exit(f"unknown design kind {kind!r}")
log.info("%s: %d cases (%s)", design["study"], len(design["cases"]), design["method"])
write_json(smk.output.design, design, Provenance.from_snakemake(smk, "surrogate"))
