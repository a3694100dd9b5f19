# Active learning (ionscale.active), active_learning.max_rounds > 0: each round runs its ensemble
# in the md stage's cell at the md temperatures (active_converge_explore) and the checkpoint
# active_converge decides whether the round is the last. If not, the round explores in a small
# cell at the configured temperatures (one job each), picks the frames the ensemble disagrees
# on, labels them with the reference calculator in batches and gathers them; the next round's
# potential (potential.smk) trains on them. Included after md.smk: it reuses the md keys (pair
# style, thermostat, blow-up limits, trust level, tolerated share) and the structure input.
import math as _al_math

_AL = config["active_learning"]
_AL_ORDERINGS = _AL["orderings"]["n_frames"]
AL_BATCHES = [
    f"{b:04d}"
    for b in range(
        _al_math.ceil(
            (_AL["max_frames"] + _AL_ORDERINGS) / config["reference"]["batch_size"]
        )
    )
]
# what exploration and selection use (a new training length or split reruns neither)
_AL_EXCLUDE = tuple(
    f"active_learning.{k}"
    for k in (
        "max_rounds",
        "training_steps",
        "init_from_previous",
        "validation_fraction",
        "convergence",
    )
)
_AL_DIR = f"{RESULTS}/active/round{{round}}"


rule active_explore:
    input:
        **_MD_FILES,
        models=_al_models,
    output:
        frames=f"{_AL_DIR}/explore_T{{T}}K.extxyz",
        summary=f"{_AL_DIR}/explore_T{{T}}K.json",
    log:
        main=f"{RESULTS}/logs/active/round{{round}}/explore_T{{T}}K.log",
        lammps=f"{RESULTS}/logs/active/round{{round}}/explore_T{{T}}K.lammps.log",
    benchmark:
        f"{RESULTS}/benchmarks/active/round{{round}}/explore_T{{T}}K.tsv"
    wildcard_constraints:
        round=r"\d+",
        T=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        config=stage_config(
            "seed",
            "reference.structure.file",
            "reference.structure.prototype",
            "reference.mobile_species",
            "md",
            "active_learning",
            *DISPERSION_KEYS,
            exclude=(*_MD_EXCLUDE, *_AL_EXCLUDE),
        ),
    script:
        "../../scripts/active_explore.py"


rule active_orderings:
    input:
        **_MD_FILES,
        models=_al_models,
    output:
        frames=f"{_AL_DIR}/orderings.extxyz",
        summary=f"{_AL_DIR}/orderings.json",
    log:
        f"{RESULTS}/logs/active/round{{round}}/orderings.log",
    benchmark:
        f"{RESULTS}/benchmarks/active/round{{round}}/orderings.tsv"
    wildcard_constraints:
        round=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        config=stage_config(
            "seed",
            "reference.structure.file",
            "reference.structure.prototype",
            "reference.mobile_species",
            "thermo.relax",
            "active_learning.orderings",
            *DISPERSION_KEYS,
        ),
    script:
        "../../scripts/active_orderings.py"


rule active_select:
    input:
        **({"orderings": f"{_AL_DIR}/orderings.extxyz"} if _AL_ORDERINGS else {}),
        frames=expand(
            f"{_AL_DIR}/explore_T{{T}}K.extxyz",
            T=_AL["temperatures_K"],
            allow_missing=True,
        ),
        summaries=expand(
            f"{_AL_DIR}/explore_T{{T}}K.json",
            T=_AL["temperatures_K"],
            allow_missing=True,
        ),
    output:
        frames=f"{_AL_DIR}/sampled.extxyz",
        summary=f"{_AL_DIR}/selection.json",
    log:
        f"{RESULTS}/logs/active/round{{round}}/select.log",
    wildcard_constraints:
        round=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=stage_config("seed", "active_learning", exclude=_AL_EXCLUDE),
    script:
        "../../scripts/active_select.py"


rule active_label:
    input:
        frames=f"{_AL_DIR}/sampled.extxyz",
        pulay=f"{RESULTS}/reference/pulay.json",
    output:
        frames=f"{_AL_DIR}/batches/batch_{{batch}}.extxyz",
        report=f"{_AL_DIR}/batches/batch_{{batch}}.json",
    log:
        main=f"{RESULTS}/logs/active/round{{round}}/label_{{batch}}.log",
        dft=f"{RESULTS}/logs/active/round{{round}}/label_{{batch}}.dft.txt",
    benchmark:
        f"{RESULTS}/benchmarks/active/round{{round}}/label_{{batch}}.tsv"
    wildcard_constraints:
        round=r"\d+",
        batch=r"\d{4}",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        config=stage_config("reference.calculator", "reference.batch_size"),
        workdir=lambda wc: f"{RESULTS}/active/round{wc.round}/batches/work_{wc.batch}",
    script:
        "../../scripts/active_label.py"


rule active_gather:
    input:
        sampled=f"{_AL_DIR}/sampled.extxyz",
        batch_frames=expand(
            f"{_AL_DIR}/batches/batch_{{batch}}.extxyz",
            batch=AL_BATCHES,
            allow_missing=True,
        ),
        batch_reports=expand(
            f"{_AL_DIR}/batches/batch_{{batch}}.json",
            batch=AL_BATCHES,
            allow_missing=True,
        ),
    output:
        labelled=f"{_AL_DIR}/labelled.extxyz",
        failed=f"{_AL_DIR}/failed.json",
        summary=f"{_AL_DIR}/summary.json",
    log:
        f"{RESULTS}/logs/active/round{{round}}/gather.log",
    wildcard_constraints:
        round=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=stage_config("reference.checks", "reference.max_failed_fraction"),
    script:
        "../../scripts/active_gather.py"


rule active_converge_explore:
    input:
        **_MD_FILES,
        models=_al_models,
    output:
        summary=f"{_AL_DIR}/converge_T{{T}}K.json",
    log:
        main=f"{RESULTS}/logs/active/round{{round}}/converge_T{{T}}K.log",
        lammps=f"{RESULTS}/logs/active/round{{round}}/converge_T{{T}}K.lammps.log",
    benchmark:
        f"{RESULTS}/benchmarks/active/round{{round}}/converge_T{{T}}K.tsv"
    wildcard_constraints:
        round=r"\d+",
        T=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        config=stage_config(
            "seed",
            "reference.structure.file",
            "reference.structure.prototype",
            "reference.mobile_species",
            "md",
            "active_learning.stride_steps",
            "active_learning.convergence.steps",
            *DISPERSION_KEYS,
            exclude=("md.temperatures_K", "md.max_extrapolating_share"),
        ),
    script:
        "../../scripts/active_converge_explore.py"


checkpoint active_converge:
    input:
        runs=expand(
            f"{_AL_DIR}/converge_T{{T}}K.json",
            T=config["md"]["temperatures_K"],
            allow_missing=True,
        ),
    output:
        decision=f"{_AL_DIR}/convergence.json",
    log:
        f"{RESULTS}/logs/active/round{{round}}/converge.log",
    wildcard_constraints:
        round=r"\d+",
    localrule: True
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        config=stage_config(
            "active_learning.max_rounds",
            "active_learning.convergence.action",
            "md.trust_hi_eV_A",
            "md.max_extrapolating_share",
        ),
    script:
        "../../scripts/active_converge.py"
