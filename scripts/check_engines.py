"""Snakemake entry point of rule check_engines (science in ionscale.check)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.check import CheckSettings, format_report, results_as_dict, run_checks
from ionscale.io import write_json
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
cfg = smk.params.config["check"]
settings = CheckSettings(
    dp_training_steps=cfg["dp_training_steps"], md_steps=cfg["md_steps"], threads=smk.threads
)
results = run_checks(settings, workdir=Path(smk.output.json).parent / "work")
report = format_report(results)
log.info("engine check:\n%s", report)
failed = [r for r in results if not r.ok]
if failed:
    details = "\n".join(f"{r.engine}: {r.error}\n{r.detail}" for r in failed)
    sys.exit(f"engine check failed for {', '.join(r.engine for r in failed)}:\n{details}")
write_json(smk.output.json, results_as_dict(results), Provenance.from_snakemake(smk, "check"))
