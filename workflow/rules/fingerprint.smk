# Fingerprint: SOAP descriptors, train/validation split, novelty model (ionscale.fingerprint).


rule fingerprint:
    input:
        labelled=f"{RESULTS}/reference/labelled.extxyz",
    output:
        split=f"{RESULTS}/fingerprint/split.json",
        descriptors=f"{RESULTS}/fingerprint/descriptors.h5",
        map=report(
            f"{RESULTS}/fingerprint/map.png",
            caption="../report/fingerprint_map.rst",
            category="Fingerprint",
        ),
    log:
        f"{RESULTS}/logs/fingerprint.log",
    benchmark:
        f"{RESULTS}/benchmarks/fingerprint.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        config=stage_config("seed", "fingerprint"),
    script:
        "../../scripts/fingerprint.py"


FINAL["fingerprint"] = [
    f"{RESULTS}/fingerprint/split.json",
    f"{RESULTS}/fingerprint/descriptors.h5",
    f"{RESULTS}/fingerprint/map.png",
]
