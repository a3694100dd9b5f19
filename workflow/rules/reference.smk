# Reference stage: DFT reference data (ionscale.reference). Sample candidate frames, label them
# with DFT in batches (one job per batch), import existing data, gather + check, plot.
# The number of batches is known at parse time: sampling is deterministic from the config and
# planned_frame_count() bounds its output (from the config and the host's Li sites), so
# trailing batches may be short or empty.
from pathlib import Path as _Path

from ionscale.reference.stage import plan_workflow as _plan_workflow

# inputs checked in common.smk; the plan gives the batches and the resolved files
_REFERENCE_PLAN = _plan_workflow(
    config["reference"],
    _Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).parents[1],
)
REFERENCE_BATCHES = _REFERENCE_PLAN.batches
REFERENCE_FILES = _REFERENCE_PLAN.files
REFERENCE_IMPORTS = _REFERENCE_PLAN.imports
REFERENCE_BATCH = f"{RESULTS}/reference/batches/batch_{{batch}}"


rule reference_sample:
    input:
        **REFERENCE_FILES,
    output:
        frames=f"{RESULTS}/reference/sampled.extxyz",
        summary=f"{RESULTS}/reference/sampling.json",
    log:
        main=f"{RESULTS}/logs/reference_sample.log",
        gpaw=f"{RESULTS}/logs/reference_sample.gpaw.txt",
    benchmark:
        f"{RESULTS}/benchmarks/reference_sample.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=stage_config(
            "seed",
            "reference.structure",
            "reference.mobile_species",
            "reference.x_range",
            "reference.sampling",
            "reference.li_metal",
            "reference.host",
            "reference.checks.min_pair_distance_A",
        ),
    script:
        "../../scripts/reference_sample.py"


rule reference_pulay:
    input:
        **REFERENCE_FILES,
    output:
        json=f"{RESULTS}/reference/pulay.json",
        cells=f"{RESULTS}/reference/pulay_cells.extxyz",
    log:
        main=f"{RESULTS}/logs/reference_pulay.log",
        dft=f"{RESULTS}/logs/reference_pulay.dft.txt",
    benchmark:
        f"{RESULTS}/benchmarks/reference_pulay.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        config=stage_config(
            "reference.structure",
            "reference.li_metal",
            "reference.host",
            "reference.calculator",
            "reference.pulay_correction",
        ),
        workdir=f"{RESULTS}/reference/pulay_work",
    script:
        "../../scripts/reference_pulay.py"


rule reference_label:
    input:
        frames=f"{RESULTS}/reference/sampled.extxyz",
        pulay=f"{RESULTS}/reference/pulay.json",
    output:
        frames=f"{REFERENCE_BATCH}.extxyz",
        report=f"{REFERENCE_BATCH}.json",
    log:
        main=f"{RESULTS}/logs/reference_label/batch_{{batch}}.log",
        dft=f"{RESULTS}/logs/reference_label/batch_{{batch}}.dft.txt",
    benchmark:
        f"{RESULTS}/benchmarks/reference_label/batch_{{batch}}.tsv"
    wildcard_constraints:
        batch=r"\d{4}",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        config=stage_config("reference.calculator", "reference.batch_size"),
        workdir=lambda wc: f"{RESULTS}/reference/batches/work_{wc.batch}",
    script:
        "../../scripts/reference_label.py"


rule reference_import:
    input:
        **{k: v for k, v in REFERENCE_FILES.items() if k == "structure"},
        data=REFERENCE_IMPORTS,
    output:
        frames=f"{RESULTS}/reference/imported.extxyz",
        report=f"{RESULTS}/reference/imported.json",
    log:
        f"{RESULTS}/logs/reference_import.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=stage_config(
            "reference.imports", "reference.structure", "reference.mobile_species"
        ),
    script:
        "../../scripts/reference_import.py"


rule reference_gather:
    input:
        **(
            {"imported": f"{RESULTS}/reference/imported.extxyz"}
            if REFERENCE_IMPORTS
            else {}
        ),
        sampled=f"{RESULTS}/reference/sampled.extxyz",
        batch_frames=expand(f"{REFERENCE_BATCH}.extxyz", batch=REFERENCE_BATCHES),
        batch_reports=expand(f"{REFERENCE_BATCH}.json", batch=REFERENCE_BATCHES),
    output:
        labelled=f"{RESULTS}/reference/labelled.extxyz",
        failed=f"{RESULTS}/reference/failed.json",
        summary=f"{RESULTS}/reference/summary.json",
    log:
        f"{RESULTS}/logs/reference_gather.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=stage_config("reference.checks", "reference.max_failed_fraction"),
    script:
        "../../scripts/reference_gather.py"


rule reference_convergence:
    input:
        labelled=f"{RESULTS}/reference/labelled.extxyz",
        cells=f"{RESULTS}/reference/pulay_cells.extxyz",
        pulay=f"{RESULTS}/reference/pulay.json",
    output:
        json=f"{RESULTS}/reference/convergence.json",
    log:
        main=f"{RESULTS}/logs/reference_convergence.log",
        dft=f"{RESULTS}/logs/reference_convergence.dft.txt",
    benchmark:
        f"{RESULTS}/benchmarks/reference_convergence.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        config=stage_config("reference.calculator", "reference.convergence"),
        workdir=f"{RESULTS}/reference/convergence_work",
    script:
        "../../scripts/reference_convergence.py"


# the potential trains only on converged labels: its data rule waits for this gate
REFERENCE_GATES = (
    [f"{RESULTS}/reference/convergence.json"]
    if config["reference"]["convergence"]["enabled"]
    and config["reference"]["sampling"]["enabled"]
    else []
)


rule reference_plot:
    input:
        labelled=f"{RESULTS}/reference/labelled.extxyz",
        failed=f"{RESULTS}/reference/failed.json",
    output:
        plot=report(
            f"{RESULTS}/reference/summary.png",
            caption="../report/reference_summary.rst",
            category="Reference",
        ),
    log:
        f"{RESULTS}/logs/reference_plot.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/reference_plot.py"


FINAL["reference"] = [
    *REFERENCE_GATES,
    f"{RESULTS}/reference/labelled.extxyz",
    f"{RESULTS}/reference/failed.json",
    f"{RESULTS}/reference/summary.json",
    f"{RESULTS}/reference/summary.png",
]
