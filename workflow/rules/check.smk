# Engine check: every engine runs briefly before any science (ionscale.check).


rule check_engines:
    output:
        json=f"{RESULTS}/check/engines.json",
    log:
        f"{RESULTS}/logs/check_engines.log",
    benchmark:
        f"{RESULTS}/benchmarks/check_engines.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        config=stage_config("check"),
    script:
        "../../scripts/check_engines.py"


FINAL["check"] = [f"{RESULTS}/check/engines.json"]
