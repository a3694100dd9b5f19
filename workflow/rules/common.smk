# Helpers shared by the stage files (config validation, the config subset each stage uses,
# the list of final outputs). No science here.
import copy
from pathlib import Path

from ionscale.config import ConfigError, sorted_keys, subset
from ionscale.validation import check_run_config

# A --configfile on the command line replaces config/config.yaml instead of being merged into
# it: keys it leaves out take their schema defaults, not the demo's values.
if workflow.overwrite_configfiles:
    _cli = copy.deepcopy(workflow.config_settings.overwrite_config)
    config.clear()
    config.update(_cli)

# Every pre-run check (schema, cross-field and cross-stage rules, input files and structures),
# the same as `ionscale validate-config`, before any rule is defined; defaults are filled in
# place so every rule sees the full config.
try:
    _validated = check_run_config(config, Path(workflow.basedir))
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None
config.clear()
config.update(_validated)

SYSTEM = config["system"]
RESULTS = f"results/{SYSTEM}"
ENV = "../../envs/ionscale.yaml"


# what the DeePMD potential's users need to know of its dispersion (ionscale.potential.dispersion)
DISPERSION_KEYS = (
    "potential.dispersion",
    "reference.calculator.dispersion",
    "reference.calculator.xc",
)


def stage_config(*keys, exclude=()):
    """The config subset a rule uses, nested as in the config (its params trigger reruns only
    when these keys change); ``exclude`` drops keys inside the named sections."""
    return subset(config, *keys, exclude=exclude)


def case_stage_config(stage, entry, *keys):
    """The config subset of one case job: ``keys``, the stage's solver settings and this case
    alone as the stage's ``cases`` (another case added to the sweep reruns no finished one).
    """
    out = stage_config(f"{stage}.solver", *keys)
    out[stage]["cases"] = [sorted_keys(entry)]
    return out


def all_outputs():
    """Final products of the stages that exist; each stage's rule file adds to FINAL."""
    return [out for stage in FINAL.values() for out in stage]


FINAL = {}


# ---- active learning (ionscale.active): which potential directory is which round
from ionscale.active import potential_dir as _potential_dir
from ionscale.active import round_of as _round_of

AL_ROUNDS = config["active_learning"]["max_rounds"]
POTENTIAL_MEMBERS = list(range(config["potential"]["n_models"]))


def _al_round(wc):
    """Round of the potential directory ``wc.pot`` (0 without active learning)."""
    return _round_of(wc.pot) if AL_ROUNDS else 0


def _al_final_round():
    """The round whose potential is final: the first converged one, or the cap. Reads the
    convergence checkpoints round by round, so Snakemake runs a round only when the one
    before it has not converged."""
    import json

    r = 0
    while True:
        path = checkpoints.active_converge.get(round=r).output.decision
        with open(path) as f:
            decision = json.load(f)
        if decision["final"]:
            return r
        r += 1


def _al_frames(wc):
    """Labelled active-learning frames of the rounds before this potential's (for the final
    ``potential/``: before the final round's)."""
    if not AL_ROUNDS:
        return []
    r = _al_final_round() if wc.pot == "potential" else _al_round(wc)
    return [f"{RESULTS}/active/round{i}/labelled.extxyz" for i in range(r)]


def _al_init(wc):
    """The previous round's member and its neighbour statistics (rounds after the first)."""
    r = _al_round(wc)
    if r == 0:
        return {}
    prev = f"{RESULTS}/{_potential_dir(r - 1)}"
    return {
        "init_model": f"{prev}/model_{wc.member}.pth",
        "init_neighbor_stat": f"{prev}/neighbor_stat.json",
    }


def _al_models(wc):
    """The compressed ensemble that explores in round ``wc.round``."""
    pot = _potential_dir(int(wc.round))
    return [f"{RESULTS}/{pot}/model_{i}_compressed.pth" for i in POTENTIAL_MEMBERS]


def _al_final_inputs(wc):
    """The final round's members and every round's convergence decision up to it."""
    final = _al_final_round()
    pot = f"{RESULTS}/{_potential_dir(final)}"
    return {
        "decisions": [
            f"{RESULTS}/active/round{r}/convergence.json" for r in range(final + 1)
        ],
        "models": [f"{pot}/model_{i}.pth" for i in POTENTIAL_MEMBERS],
        "compressed": [f"{pot}/model_{i}_compressed.pth" for i in POTENTIAL_MEMBERS],
        "lcurves": [f"{pot}/lcurve_{i}.out" for i in POTENTIAL_MEMBERS],
        "summaries": [f"{pot}/train_{i}.json" for i in POTENTIAL_MEMBERS],
        "neighbor_stat": [f"{pot}/neighbor_stat.json"],
    }
