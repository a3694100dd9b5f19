# Potential: a DeePMD-kit ensemble, one training job per member (ionscale.potential).

POTENTIAL_MEMBERS = list(range(config["potential"]["n_models"]))
# Each rule gets only the keys it uses, so e.g. a new gate reruns only potential_test.
POTENTIAL_TRAIN_KEYS = [
    f"potential.{k}" for k in config["potential"] if k not in ("gates", "n_models")
]
POTENTIAL_PREPARE_KEYS = [k for k in POTENTIAL_TRAIN_KEYS if k != "potential.compress"]


rule potential_prepare:
    input:
        labelled=f"{RESULTS}/reference/labelled.extxyz",
        split=f"{RESULTS}/fingerprint/split.json",
    output:
        data=directory(f"{RESULTS}/potential/data"),
        neighbor_stat=f"{RESULTS}/potential/neighbor_stat.json",
    log:
        f"{RESULTS}/logs/potential_prepare.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=stage_config(*POTENTIAL_PREPARE_KEYS),
    script:
        "../../scripts/potential_prepare.py"


rule potential_train:
    input:
        data=f"{RESULTS}/potential/data",
        neighbor_stat=f"{RESULTS}/potential/neighbor_stat.json",
    output:
        model=f"{RESULTS}/potential/model_{{member}}.pth",
        compressed=f"{RESULTS}/potential/model_{{member}}_compressed.pth",
        lcurve=f"{RESULTS}/potential/lcurve_{{member}}.out",
        summary=f"{RESULTS}/potential/train_{{member}}.json",
    log:
        f"{RESULTS}/logs/potential_train_{{member}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/potential_train_{{member}}.tsv"
    wildcard_constraints:
        member=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        config=stage_config("seed", *POTENTIAL_TRAIN_KEYS),
        workdir=lambda wc: f"{RESULTS}/potential/work/member_{wc.member}",
    script:
        "../../scripts/potential_train.py"


rule potential_test:
    input:
        labelled=f"{RESULTS}/reference/labelled.extxyz",
        split=f"{RESULTS}/fingerprint/split.json",
        models=expand(f"{RESULTS}/potential/model_{{i}}.pth", i=POTENTIAL_MEMBERS),
        compressed=expand(
            f"{RESULTS}/potential/model_{{i}}_compressed.pth", i=POTENTIAL_MEMBERS
        ),
        lcurves=expand(f"{RESULTS}/potential/lcurve_{{i}}.out", i=POTENTIAL_MEMBERS),
        summaries=expand(f"{RESULTS}/potential/train_{{i}}.json", i=POTENTIAL_MEMBERS),
    output:
        test=f"{RESULTS}/potential/test.h5",
        parity=report(
            f"{RESULTS}/potential/parity.png",
            caption="../report/potential_parity.rst",
            category="Potential",
        ),
        lcurve=report(
            f"{RESULTS}/potential/lcurve.png",
            caption="../report/potential_lcurve.rst",
            category="Potential",
        ),
    log:
        f"{RESULTS}/logs/potential_test.log",
    benchmark:
        f"{RESULTS}/benchmarks/potential_test.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        config=stage_config("potential.gates"),
    script:
        "../../scripts/potential_test.py"


FINAL["potential"] = [
    *expand(f"{RESULTS}/potential/model_{{i}}.pth", i=POTENTIAL_MEMBERS),
    *expand(f"{RESULTS}/potential/model_{{i}}_compressed.pth", i=POTENTIAL_MEMBERS),
    f"{RESULTS}/potential/test.h5",
    f"{RESULTS}/potential/parity.png",
    f"{RESULTS}/potential/lcurve.png",
]
