"""Snakemake entry point of rule potential_train: one ensemble member (ionscale.potential.train)."""

import shutil
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.io import atomic_path, write_json
from ionscale.potential import NeighborStat, PotentialSettings, train_member
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
settings = PotentialSettings.from_params(cfg)
member = int(smk.wildcards.member)
stat = NeighborStat.read(smk.input.neighbor_stat)
frozen, compressed, lcurve, summary = train_member(
    member, smk.input.data, stat, settings, cfg["seed"], workdir=smk.params.workdir
)
for src, dst in (
    (frozen, smk.output.model),
    (compressed, smk.output.compressed),
    (lcurve, smk.output.lcurve),
):
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
write_json(smk.output.summary, asdict(summary), Provenance.from_snakemake(smk, "potential"))
