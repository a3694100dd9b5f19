# Potential: a DeePMD-kit ensemble, one training job per member (ionscale.potential).
# Without active learning it trains in potential/, the directory every later stage reads. With
# it (active_learning.max_rounds > 0, ionscale.active) round r trains in potential/round{r}/,
# adding the labelled frames of active/round0..r-1 and starting from round r-1's members, and
# potential_final copies the round the convergence checkpoints chose to potential/.

_POT = "{pot}"
# where members train; potential_test also tests any round
_TRAIN_CONSTRAINT = r"potential/round\d+" if AL_ROUNDS else "potential"
_POT_CONSTRAINT = r"potential(/round\d+)?"
# rounds after the first also use these (changing them reruns no round 0)
_AL_TRAIN_KEYS = [
    "active_learning.training_steps",
    "active_learning.init_from_previous",
]
_AL_DATA_KEYS = ["active_learning.validation_fraction"] if AL_ROUNDS else []
# Each rule gets only the keys it uses, so e.g. a new gate reruns only potential_test.
POTENTIAL_TRAIN_EXCLUDE = (
    "potential.gates",
    "potential.n_models",
    "potential.lattice_check",
)
POTENTIAL_PREPARE_EXCLUDE = (*POTENTIAL_TRAIN_EXCLUDE, "potential.compress")


rule potential_prepare:
    input:
        REFERENCE_GATES,
        labelled=f"{RESULTS}/reference/labelled.extxyz",
        split=f"{RESULTS}/fingerprint/split.json",
        active=_al_frames,
    output:
        data=directory(f"{RESULTS}/{_POT}/data"),
        neighbor_stat=f"{RESULTS}/{_POT}/neighbor_stat.json",
    log:
        f"{RESULTS}/logs/{_POT}/potential_prepare.log",
    wildcard_constraints:
        pot=_TRAIN_CONSTRAINT,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=stage_config(
            "potential",
            *_AL_DATA_KEYS,
            *DISPERSION_KEYS,
            exclude=POTENTIAL_PREPARE_EXCLUDE,
        ),
    script:
        "../../scripts/potential_prepare.py"


rule potential_train:
    input:
        unpack(_al_init),
        data=f"{RESULTS}/{_POT}/data",
        neighbor_stat=f"{RESULTS}/{_POT}/neighbor_stat.json",
    output:
        model=f"{RESULTS}/{_POT}/model_{{member}}.pth",
        compressed=f"{RESULTS}/{_POT}/model_{{member}}_compressed.pth",
        lcurve=f"{RESULTS}/{_POT}/lcurve_{{member}}.out",
        summary=f"{RESULTS}/{_POT}/train_{{member}}.json",
    log:
        f"{RESULTS}/logs/{_POT}/potential_train_{{member}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{_POT}/potential_train_{{member}}.tsv"
    wildcard_constraints:
        member=r"\d+",
        pot=_TRAIN_CONSTRAINT,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        config=lambda wc: stage_config(
            "seed",
            "potential",
            *(_AL_TRAIN_KEYS if _al_round(wc) else []),
            exclude=POTENTIAL_TRAIN_EXCLUDE,
        ),
        workdir=lambda wc: f"{RESULTS}/{wc.pot}/work/member_{wc.member}",
    script:
        "../../scripts/potential_train.py"


rule potential_test:
    input:
        labelled=f"{RESULTS}/reference/labelled.extxyz",
        split=f"{RESULTS}/fingerprint/split.json",
        active=_al_frames,
        models=expand(
            f"{RESULTS}/{_POT}/model_{{i}}.pth",
            i=POTENTIAL_MEMBERS,
            allow_missing=True,
        ),
        compressed=expand(
            f"{RESULTS}/{_POT}/model_{{i}}_compressed.pth",
            i=POTENTIAL_MEMBERS,
            allow_missing=True,
        ),
        lcurves=expand(
            f"{RESULTS}/{_POT}/lcurve_{{i}}.out",
            i=POTENTIAL_MEMBERS,
            allow_missing=True,
        ),
        summaries=expand(
            f"{RESULTS}/{_POT}/train_{{i}}.json",
            i=POTENTIAL_MEMBERS,
            allow_missing=True,
        ),
    output:
        test=f"{RESULTS}/{_POT}/test.h5",
        parity=report(
            f"{RESULTS}/{_POT}/parity.png",
            caption="../report/potential_parity.rst",
            category="Potential",
        ),
        lcurve=report(
            f"{RESULTS}/{_POT}/lcurve.png",
            caption="../report/potential_lcurve.rst",
            category="Potential",
        ),
    log:
        f"{RESULTS}/logs/{_POT}/potential_test.log",
    benchmark:
        f"{RESULTS}/benchmarks/{_POT}/potential_test.tsv"
    wildcard_constraints:
        pot=_POT_CONSTRAINT,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        config=stage_config("potential.gates", *_AL_DATA_KEYS),
    script:
        "../../scripts/potential_test.py"


if AL_ROUNDS:

    rule potential_final:
        input:
            unpack(_al_final_inputs),
        output:
            models=expand(f"{RESULTS}/potential/model_{{i}}.pth", i=POTENTIAL_MEMBERS),
            compressed=expand(
                f"{RESULTS}/potential/model_{{i}}_compressed.pth", i=POTENTIAL_MEMBERS
            ),
            lcurves=expand(f"{RESULTS}/potential/lcurve_{{i}}.out", i=POTENTIAL_MEMBERS),
            summaries=expand(
                f"{RESULTS}/potential/train_{{i}}.json", i=POTENTIAL_MEMBERS
            ),
            neighbor_stat=[f"{RESULTS}/potential/neighbor_stat.json"],
            history=f"{RESULTS}/potential/active_learning.json",
        log:
            f"{RESULTS}/logs/potential/potential_final.log",
        localrule: True
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        script:
            "../../scripts/potential_final.py"


# the layer spacings the final ensemble relaxes the hosts to, against the measured ones: a gate
# MD (md.smk) and the handoff wait for, so a potential with the wrong vdW minimum goes no further
POTENTIAL_GATES = (
    [f"{RESULTS}/potential/lattice_check.json"]
    if config["potential"]["lattice_check"]["enabled"]
    else []
)


rule potential_lattice_check:
    input:
        **{k: v for k, v in REFERENCE_FILES.items() if k in ("structure", "host")},
        models=expand(f"{RESULTS}/potential/model_{{i}}.pth", i=POTENTIAL_MEMBERS),
    output:
        json=f"{RESULTS}/potential/lattice_check.json",
    log:
        f"{RESULTS}/logs/potential/lattice_check.log",
    benchmark:
        f"{RESULTS}/benchmarks/potential/lattice_check.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        config=stage_config(
            "potential.lattice_check",
            "reference.structure.prototype",
            "reference.host.prototype",
            "reference.mobile_species",
            *DISPERSION_KEYS,
        ),
    script:
        "../../scripts/potential_lattice_check.py"


FINAL["potential"] = [
    *POTENTIAL_GATES,
    *([f"{RESULTS}/potential/active_learning.json"] if AL_ROUNDS else []),
    *expand(f"{RESULTS}/potential/model_{{i}}.pth", i=POTENTIAL_MEMBERS),
    *expand(f"{RESULTS}/potential/model_{{i}}_compressed.pth", i=POTENTIAL_MEMBERS),
    f"{RESULTS}/potential/test.h5",
    f"{RESULTS}/potential/parity.png",
    f"{RESULTS}/potential/lcurve.png",
]
