"""Snakemake entry point of rule potential_train: one ensemble member (ionscale.potential.train).

In an active-learning round after the first (input ``init_model``), training starts from the last
round's member with ``active_learning.training_steps`` steps, keeping the last round's ``sel``
when the new data fit in it; otherwise it starts from scratch (said in the log).
"""

import dataclasses
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.io import atomic_path, write_json
from ionscale.potential import NeighborStat, PotentialSettings, sel_fits, train_member
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
settings = PotentialSettings.from_params(cfg)
member = int(smk.wildcards.member)
stat = NeighborStat.read(smk.input.neighbor_stat)
inputs = dict(smk.input.items())
init = None
if "init_model" in inputs:
    al = cfg.get("active_learning", {})
    steps = al.get("training_steps") or settings.numb_steps
    if steps <= settings.learning_rate.decay_steps:
        raise ValueError(
            f"active_learning.training_steps = {steps} must exceed "
            f"potential.learning_rate.decay_steps = {settings.learning_rate.decay_steps}"
        )
    settings = dataclasses.replace(settings, numb_steps=int(steps))
    old = NeighborStat.read(inputs["init_neighbor_stat"])
    if not al.get("init_from_previous", True):
        log.info("active_learning.init_from_previous is false: training from scratch")
    elif old.type_map == stat.type_map and sel_fits(stat.sel, old.sel):
        stat = dataclasses.replace(stat, sel=old.sel)
        init = inputs["init_model"]
        log.info("starting from %s (sel %s kept)", init, old.sel)
    else:
        log.warning(
            "the new data need sel %s (type map %s) but %s has sel %s (type map %s): training "
            "from scratch",
            stat.sel,
            stat.type_map,
            inputs["init_model"],
            old.sel,
            old.type_map,
        )
frozen, compressed, lcurve, summary = train_member(
    member, smk.input.data, stat, settings, cfg["seed"], workdir=smk.params.workdir,
    init_model=init,
)  # fmt: skip
for src, dst in (
    (frozen, smk.output.model),
    (compressed, smk.output.compressed),
    (lcurve, smk.output.lcurve),
):
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
write_json(smk.output.summary, asdict(summary), Provenance.from_snakemake(smk, "potential"))
