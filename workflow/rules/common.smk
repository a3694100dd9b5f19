# Helpers shared by the stage files (config validation, the config subset each stage uses,
# the list of final outputs). No science here.
import copy
from pathlib import Path

from ionscale.config import (
    ConfigError,
    load_schema,
    sorted_keys,
    subset,
    validate_config,
)

# A --configfile on the command line replaces config/config.yaml instead of being merged into
# it: keys it leaves out take their schema defaults, not the demo's values.
if workflow.overwrite_configfiles:
    _cli = copy.deepcopy(workflow.config_settings.overwrite_config)
    config.clear()
    config.update(_cli)

# Validate before any job runs; fill defaults in place so every rule sees the full config.
try:
    _schema = load_schema(
        Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
    )
    _validated = validate_config(config, schema=_schema)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None
config.clear()
config.update(_validated)

SYSTEM = config["system"]
RESULTS = f"results/{SYSTEM}"
ENV = "../../envs/ionscale.yaml"


def stage_config(*keys):
    """The config subset a rule uses (its params trigger reruns only when these change)."""
    return subset(config, *keys)


def all_outputs():
    """Final products of the stages that exist; each stage's rule file adds to FINAL."""
    return [out for stage in FINAL.values() for out in stage]


FINAL = {}
