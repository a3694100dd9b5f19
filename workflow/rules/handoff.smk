# Handoff: one parameter file for the continuum stages (ionscale.handoff): the learned f(x, T)
# tables and networks, D(T) from the Arrhenius fit, and the host's volumes and elasticity. It
# waits for the thermo gates (THERMO_GATES), so nothing downstream runs on a failed check.


rule handoff_host:
    input:
        models=expand(
            f"{RESULTS}/potential/model_{{i}}.pth",
            i=range(config["potential"]["n_models"]),
        ),
        orderings=f"{RESULTS}/thermo/orderings.h5",
        relaxed=f"{RESULTS}/thermo/orderings_relaxed.extxyz",
    output:
        h5=f"{RESULTS}/handoff/host.h5",
    log:
        f"{RESULTS}/logs/handoff_host.log",
    benchmark:
        f"{RESULTS}/benchmarks/handoff_host.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        config=stage_config("handoff.elastic", *DISPERSION_KEYS),
    script:
        "../../scripts/handoff_host.py"


rule handoff_parameters:
    input:
        free_energy=f"{RESULTS}/thermo/free_energy.h5",
        arrhenius=f"{RESULTS}/diffusion/arrhenius.h5",
        host=f"{RESULTS}/handoff/host.h5",
        # the thermo gates (workflow/rules/thermo.smk): a failed check blocks the continuum
        gates=THERMO_GATES,
        lattice=POTENTIAL_GATES,
    output:
        h5=f"{RESULTS}/handoff/parameters.h5",
    log:
        f"{RESULTS}/logs/handoff_parameters.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=stage_config(),
    script:
        "../../scripts/handoff_parameters.py"


FINAL["handoff"] = [f"{RESULTS}/handoff/host.h5", f"{RESULTS}/handoff/parameters.h5"]
