# Surrogate stage: sweeps of phasefield/fem cases, Gaussian-process surrogates of their scalar
# outputs, a field surrogate of phase-field evolution, Bayesian optimisation against a grid
# (ionscale.surrogate). Every sweep, grid and optimisation round is a design.json; each of its
# cases is one job (the case picks its row: one case config per job), so a cluster runs a
# sweep in parallel. Optimisation rounds are the {round} wildcard: round r reads every case of
# rounds < r and proposes the next batch.
import re

from ionscale.surrogate.study import (
    SWEEP_SOLVERS,
    bo_config_keys,
    bo_grid_size,
    bo_round_paths,
    case_config,
    case_paths,
    design_config_keys,
    scalar_targets,
)

SURROGATE = config["surrogate"]
SURROGATE_BO = SURROGATE["bo"]
SURROGATE_TARGETS = scalar_targets(config)
SURROGATE_FIELD = (
    SURROGATE["phasefield"]["n_samples"] > 0
    and SURROGATE["phasefield"]["field_surrogate"]
)
SURROGATE_TRAINING = (
    "surrogate.test_fraction",
    "surrogate.interval_level",
    "surrogate.gp_restarts",
    "seed",
)


rule surrogate_design:
    output:
        design=f"{RESULTS}/surrogate/sweeps/{{solver}}/design.json",
    log:
        f"{RESULTS}/logs/surrogate/design_{{solver}}.log",
    wildcard_constraints:
        solver="|".join(SWEEP_SOLVERS),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config=lambda w: stage_config(*design_config_keys(w.solver)),
        kind="sweep",
    script:
        "../../scripts/surrogate_design.py"


rule surrogate_bo_grid:
    output:
        design=f"{RESULTS}/surrogate/bo/grid/design.json",
    log:
        f"{RESULTS}/logs/surrogate/bo_grid.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config=stage_config(*bo_config_keys("grid")),
        kind="bo_grid",
    script:
        "../../scripts/surrogate_design.py"


rule surrogate_bo_propose:
    input:
        cases=lambda w: bo_round_paths(RESULTS, SURROGATE_BO, int(w.round) - 1),
    output:
        design=f"{RESULTS}/surrogate/bo/round{{round}}/design.json",
    log:
        f"{RESULTS}/logs/surrogate/bo_round{{round}}.log",
    wildcard_constraints:
        round=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        config=lambda w: stage_config(*bo_config_keys("round", int(w.round))),
        kind="bo_round",
    script:
        "../../scripts/surrogate_design.py"


rule surrogate_case:
    input:
        design=f"{RESULTS}/surrogate/{{group}}/design.json",
        parameters=f"{RESULTS}/handoff/parameters.h5",
    output:
        case=f"{RESULTS}/surrogate/{{group}}/{{case}}/case.json",
        solver=directory(f"{RESULTS}/surrogate/{{group}}/{{case}}/solver"),
    log:
        f"{RESULTS}/logs/surrogate/{{group}}/{{case}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/surrogate/{{group}}/{{case}}.tsv"
    wildcard_constraints:
        group=r"sweeps/(" + "|".join(SWEEP_SOLVERS) + r")|bo/grid|bo/round\d+",
        case=r"c\d{3}",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=lambda w: case_config(config, w.group),
    script:
        "../../scripts/surrogate_case.py"


rule surrogate_scalar:
    input:
        cases=lambda w: case_paths(
            RESULTS,
            f"sweeps/{SURROGATE_TARGETS[w.target][0]}",
            SURROGATE[SURROGATE_TARGETS[w.target][0]]["n_samples"],
        ),
    output:
        model=f"{RESULTS}/surrogate/{{target}}/model.joblib",
        metrics=f"{RESULTS}/surrogate/{{target}}/metrics.json",
        parity=report(
            f"{RESULTS}/surrogate/{{target}}/parity.png",
            caption="../report/surrogate_parity.rst",
            category="Surrogate",
            subcategory="{target}",
        ),
        coverage=report(
            f"{RESULTS}/surrogate/{{target}}/coverage.png",
            caption="../report/surrogate_coverage.rst",
            category="Surrogate",
            subcategory="{target}",
        ),
    log:
        f"{RESULTS}/logs/surrogate/scalar_{{target}}.log",
    wildcard_constraints:
        target="|".join(map(re.escape, SURROGATE_TARGETS)) or "(?!)",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        config=lambda w: stage_config(
            f"surrogate.{SURROGATE_TARGETS[w.target][0]}", *SURROGATE_TRAINING
        ),
        solver=lambda w: SURROGATE_TARGETS[w.target][0],
        output=lambda w: SURROGATE_TARGETS[w.target][1],
    script:
        "../../scripts/surrogate_scalar.py"


rule surrogate_field:
    input:
        cases=case_paths(
            RESULTS, "sweeps/phasefield", SURROGATE["phasefield"]["n_samples"]
        ),
    output:
        model=f"{RESULTS}/surrogate/field-phasefield/model.joblib",
        metrics=f"{RESULTS}/surrogate/field-phasefield/metrics.json",
        plot=report(
            f"{RESULTS}/surrogate/field-phasefield/trajectories.png",
            caption="../report/surrogate_field.rst",
            category="Surrogate",
            subcategory="field-phasefield",
        ),
    log:
        f"{RESULTS}/logs/surrogate/field_phasefield.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        config=stage_config("surrogate.phasefield", *SURROGATE_TRAINING),
    script:
        "../../scripts/surrogate_field.py"


rule surrogate_bo_report:
    input:
        rounds=bo_round_paths(RESULTS, SURROGATE_BO, SURROGATE_BO["n_rounds"]),
        grid=case_paths(RESULTS, "bo/grid", bo_grid_size(SURROGATE_BO)),
    output:
        model=f"{RESULTS}/surrogate/bo/model.joblib",
        metrics=f"{RESULTS}/surrogate/bo/metrics.json",
        trace=report(
            f"{RESULTS}/surrogate/bo/trace.png",
            caption="../report/surrogate_bo.rst",
            category="Surrogate",
            subcategory="Bayesian optimisation",
        ),
    log:
        f"{RESULTS}/logs/surrogate/bo_report.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        config=stage_config(*bo_config_keys("report")),
    script:
        "../../scripts/surrogate_bo_report.py"


FINAL["surrogate"] = (
    [
        f"{RESULTS}/surrogate/{target}/{name}"
        for target in SURROGATE_TARGETS
        for name in ("model.joblib", "metrics.json", "parity.png", "coverage.png")
    ]
    + (
        [
            f"{RESULTS}/surrogate/field-phasefield/{name}"
            for name in ("model.joblib", "metrics.json", "trajectories.png")
        ]
        if SURROGATE_FIELD
        else []
    )
    + (
        [
            f"{RESULTS}/surrogate/bo/{name}"
            for name in ("model.joblib", "metrics.json", "trace.png")
        ]
        if SURROGATE_BO["enabled"]
        else []
    )
)
