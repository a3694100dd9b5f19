# Phase field: Cahn–Hilliard microstructure with f(c, T) and D(T) from the handoff file
# (ionscale.phasefield). One job per case of config phasefield.cases.
import re

from ionscale.phasefield.cahn_hilliard import cases_by_name

PHASEFIELD_CASES = cases_by_name(config["phasefield"]["cases"])  # checked in common.smk


rule phasefield:
    input:
        parameters=f"{RESULTS}/handoff/parameters.h5",
    output:
        fields=f"{RESULTS}/phasefield/{{case}}/fields.h5",
        summary=f"{RESULTS}/phasefield/{{case}}/summary.json",
        snapshots=report(
            f"{RESULTS}/phasefield/{{case}}/snapshots.png",
            caption="../report/phasefield_snapshots.rst",
            category="Phase field",
            subcategory="{case}",
        ),
        history=report(
            f"{RESULTS}/phasefield/{{case}}/history.png",
            caption="../report/phasefield_history.rst",
            category="Phase field",
            subcategory="{case}",
        ),
    log:
        f"{RESULTS}/logs/phasefield/{{case}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/phasefield/{{case}}.tsv"
    wildcard_constraints:
        case="|".join(map(re.escape, PHASEFIELD_CASES)) or "(?!)",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        # the config subset of one case: its own entry, the solver settings, the master seed
        config=lambda w: case_stage_config(
            "phasefield", PHASEFIELD_CASES[w.case], "seed"
        ),
    script:
        "../../scripts/phasefield.py"


FINAL["phasefield"] = [
    f"{RESULTS}/phasefield/{name}/{output}"
    for name in PHASEFIELD_CASES
    for output in ("fields.h5", "summary.json", "snapshots.png", "history.png")
]
