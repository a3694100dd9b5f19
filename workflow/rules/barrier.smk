# Barrier stage: climbing-image NEB of the mobile ion's vacancy hop with every member of the
# final potential, DFT single points on member 0's path, and the gate on the ensemble spread
# and |DP - DFT| (ionscale.barrier). Included after md.smk: the host structure input is the
# md stage's.


if config["barrier"]["enabled"]:

    rule barrier_neb:
        input:
            **_MD_FILES,
            models=expand(
                f"{RESULTS}/potential/model_{{i}}.pth",
                i=range(config["potential"]["n_models"]),
            ),
        output:
            json=f"{RESULTS}/barrier/barrier.json",
            path=f"{RESULTS}/barrier/path.extxyz",
            plot=report(
                f"{RESULTS}/barrier/barrier.png",
                caption="../report/barrier.rst",
                category="Barrier",
            ),
        log:
            main=f"{RESULTS}/logs/barrier/neb.log",
            dft=f"{RESULTS}/logs/barrier/dft.txt",
        benchmark:
            f"{RESULTS}/benchmarks/barrier/neb.tsv"
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=4000,
            runtime=120,
        params:
            config=stage_config(
                "barrier",
                "reference.structure.file",
                "reference.structure.prototype",
                "reference.mobile_species",
                "reference.calculator",
                "potential.dispersion",
            ),
            workdir=f"{RESULTS}/barrier/work",
        script:
            "../../scripts/barrier_neb.py"

    FINAL["barrier"] = [f"{RESULTS}/barrier/barrier.json"]
