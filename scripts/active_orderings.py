"""Snakemake entry point of rule active_orderings: the thermo orderings the round's ensemble
disagrees on most, relaxed by its model 0, for DFT single points (ionscale.active)."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.active import OrderingSettings, ordering_candidates
from ionscale.io import write_json
from ionscale.potential.dispersion import DispersionSettings
from ionscale.provenance import Provenance
from ionscale.reference.stage import write_frames
from ionscale.thermo.settings import host_from_config, relax_settings

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
logging.captureWarnings(True)
cfg = smk.params.config
r = int(smk.wildcards.round)
settings = OrderingSettings.from_config(cfg["active_learning"]["orderings"])
result = ordering_candidates(
    host_from_config(cfg["reference"]),
    list(smk.input.models),
    settings,
    relax_settings(cfg["thermo"]),
    seed=int(cfg["seed"]),
    dispersion=DispersionSettings.from_config(cfg),
)
picks = []
for i in result.picked:
    frame = result.frames[i]
    frame.info.update(
        frame_id=f"al{r}-{frame.info['ordering_id']}",
        config_type="ordering",
        energy_spread_eV_atom=float(result.spread_eV_atom[i]),
    )
    picks.append(frame)
write_frames(smk.output.frames, picks)
body = {
    "round": r,
    "counts": result.counts,
    "picked": [
        {
            "ordering_id": f.info["ordering_id"],
            "li_fraction": f.info["li_fraction"],
            "n_atoms": len(f),
            "energy_spread_meV_atom": 1e3 * f.info["energy_spread_eV_atom"],
        }
        for f in picks
    ],
    "median_energy_spread_meV_atom": (
        1e3 * float(sorted(result.spread_eV_atom)[len(result.spread_eV_atom) // 2])
        if len(result.spread_eV_atom)
        else None
    ),
    "geometry": "DP-relaxed (model 0, thermo.relax); DFT labels them as single points",
}
write_json(smk.output.summary, body, Provenance.from_snakemake(smk, "active"))
log.info("round %d orderings: %s", r, result.counts)
