# ionscale: from DFT to the continuum for lithium battery materials.
# The map of stages and file contracts: README.md and docs in config/README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/check.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
