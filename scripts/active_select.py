"""Snakemake entry point of rule active_select: the DFT candidates of a round (ionscale.active)."""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.active import ActiveSettings, select_candidates
from ionscale.config import derive_seed
from ionscale.io import write_json
from ionscale.provenance import Provenance
from ionscale.reference.stage import read_frames, write_frames

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config
al = ActiveSettings.from_config(cfg["active_learning"])
r = int(smk.wildcards.round)
frames, per_run = [], {}
for path, summary in zip(smk.input.frames, smk.input.summaries, strict=True):
    got = read_frames(path)
    frames.extend(got)
    info = json.loads(Path(summary).read_text())
    info.pop("provenance", None)
    per_run[Path(path).stem] = info
deviation = np.array([f.info["max_force_deviation_eV_A"] for f in frames], dtype=float)
selection = select_candidates(
    frames, deviation, al.trust_lo_eV_A, al.trust_hi_eV_A, al.max_frames,
    seed=derive_seed(cfg["seed"], "active", r, "select"),
)  # fmt: skip
ordering_picks = read_frames(smk.input.orderings) if "orderings" in smk.input.keys() else []
selection.counts["orderings"] = len(ordering_picks)
write_frames(smk.output.frames, [*selection.frames, *ordering_picks])
body = {
    "round": r,
    "trust_lo_eV_A": al.trust_lo_eV_A,
    "trust_hi_eV_A": al.trust_hi_eV_A,
    "max_frames": al.max_frames,
    "counts": selection.counts,
    "picked_frame_ids": [str(f.info["frame_id"]) for f in selection.frames],
    "picked_ordering_ids": [str(f.info["frame_id"]) for f in ordering_picks],
    "explorations": per_run,
}
write_json(smk.output.summary, body, Provenance.from_snakemake(smk, "active"))
log.info("round %d selection: %s", r, selection.counts)
if not selection.frames:
    log.warning(
        "round %d: no frame in the candidate window [%g, %g) eV/Å: nothing to label (the "
        "ensemble agrees everywhere it went, or every frame is above trust_hi)",
        r, al.trust_lo_eV_A, al.trust_hi_eV_A,
    )  # fmt: skip
