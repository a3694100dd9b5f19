# ionscale: from DFT to the continuum for lithium battery materials.
# Stages, in the order of the chain; each rule file registers its final outputs in FINAL.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/check.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/fingerprint.smk"
include: "workflow/rules/potential.smk"
include: "workflow/rules/md.smk"
include: "workflow/rules/barrier.smk"
include: "workflow/rules/active.smk"
include: "workflow/rules/diffusion.smk"
include: "workflow/rules/thermo.smk"
include: "workflow/rules/handoff.smk"
include: "workflow/rules/phasefield.smk"
include: "workflow/rules/fem.smk"
include: "workflow/rules/surrogate.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
