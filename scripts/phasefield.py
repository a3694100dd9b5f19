"""Snakemake entry point of rule phasefield (science in ionscale.phasefield)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.handoff import read_parameters
from ionscale.phasefield.cahn_hilliard import CahnHilliardCase, SolverSettings, run_case
from ionscale.phasefield.plots import plot_history, plot_snapshots
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
case = CahnHilliardCase.from_config(cfg["phasefield"]["cases"][0])
solver = SolverSettings.from_config(cfg["phasefield"]["solver"])
parameters = read_parameters(smk.input.parameters)
log.info("case %s: %s", case.name, case)
summary = run_case(
    case,
    solver,
    parameters,
    smk.output.fields,
    smk.output.summary,
    Provenance.from_snakemake(smk, "phasefield"),
    master_seed=cfg["seed"],
    threads=smk.threads,
)
log.info(
    "case %s: %d steps in %.1f s; outcome %s",
    case.name,
    summary["solver"]["n_steps"],
    summary["solver"]["wall_time_s"],
    summary["outcome"],
)
plot_snapshots(smk.output.fields, smk.output.snapshots)
plot_history(smk.output.fields, summary, smk.output.history)
