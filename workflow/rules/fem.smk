# fem: a spherical electrode particle lithiated at a C-rate, with every material parameter from
# the handoff file (ionscale.fem, DOLFINx). One job per case of config fem.cases; a job given
# more than one thread runs its case on that many MPI ranks (mpirun).
import re

from ionscale.fem import cases_by_name

FEM_CASES = cases_by_name(config["fem"]["cases"])  # checked in common.smk


rule fem_case:
    input:
        parameters=f"{RESULTS}/handoff/parameters.h5",
    output:
        solution=directory(f"{RESULTS}/fem/{{case}}/solution.bp"),
        history=f"{RESULTS}/fem/{{case}}/history.h5",
        summary=f"{RESULTS}/fem/{{case}}/summary.json",
        voltage=report(
            f"{RESULTS}/fem/{{case}}/voltage.png",
            caption="../report/fem_voltage.rst",
            category="FEM",
            subcategory="{case}",
        ),
        stress=report(
            f"{RESULTS}/fem/{{case}}/stress.png",
            caption="../report/fem_stress.rst",
            category="FEM",
            subcategory="{case}",
        ),
    log:
        f"{RESULTS}/logs/fem/{{case}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/fem/{{case}}.tsv"
    wildcard_constraints:
        case="|".join(map(re.escape, FEM_CASES)) or "(?!)",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        # the config subset of one case: its own entry and the solver settings
        config=lambda w: case_stage_config("fem", FEM_CASES[w.case]),
    script:
        "../../scripts/fem_case.py"


rule fem_compare:
    input:
        histories=expand(f"{RESULTS}/fem/{{case}}/history.h5", case=FEM_CASES),
        summaries=expand(f"{RESULTS}/fem/{{case}}/summary.json", case=FEM_CASES),
    output:
        overview=f"{RESULTS}/fem/overview.json",
        voltage=report(
            f"{RESULTS}/fem/voltage_curves.png",
            caption="../report/fem_compare.rst",
            category="FEM",
            subcategory="all cases",
        ),
    log:
        f"{RESULTS}/logs/fem/compare.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config=stage_config("fem.cases"),
    script:
        "../../scripts/fem_compare.py"


FINAL["fem"] = [
    f"{RESULTS}/fem/{name}/{output}"
    for name in FEM_CASES
    for output in (
        "solution.bp",
        "history.h5",
        "summary.json",
        "voltage.png",
        "stress.png",
    )
] + [f"{RESULTS}/fem/overview.json", f"{RESULTS}/fem/voltage_curves.png"]
