# Thermo: Li/vacancy orderings relaxed with DP, hull, cluster expansion, Monte Carlo μ(x, T) and
# the integrable network f(x, T) (ionscale.thermo). The host is the reference stage's structure.
THERMO = f"{RESULTS}/thermo"
THERMO_TEMPERATURES = [int(t) for t in config["thermo"]["temperatures_K"]]
THERMO_MODELS = expand(
    f"{RESULTS}/potential/model_{{i}}.pth", i=range(config["potential"]["n_models"])
)
THERMO_HOST_KEYS = [
    "reference.structure.file",
    "reference.structure.prototype",
    "reference.mobile_species",
]


# the x = 0 reference of the formation energies: the empty host end member (reference.host,
# e.g. AB graphite) when enabled, else the empty lattice cell
THERMO_HOST_REFERENCE_KEYS = [
    "reference.host.enabled",
    "reference.host.file",
    "reference.host.prototype",
]


# the host structure files as rerun triggers, resolved once by the reference stage's plan
THERMO_STRUCTURE = [v for k, v in REFERENCE_FILES.items() if k == "structure"]
THERMO_HOST_REFERENCE = [v for k, v in REFERENCE_FILES.items() if k == "host"]

# the thermo gates the continuum waits for (ionscale.thermo.gates): a failed DFT check writes
# no dft_check.json, so the handoff (and phasefield, fem, surrogates after it) cannot run; the
# OCV identity is checked inside thermo_free_energy, whose output the handoff needs anyway; a
# learned OCV that contradicts the measured one writes no ocv_check.json
THERMO_GATES = [
    *([f"{THERMO}/dft_check.json"] if config["thermo"]["dft_check"]["enabled"] else []),
    *([f"{THERMO}/ocv_check.json"] if config["thermo"]["ocv_check"]["enabled"] else []),
]


# where the orderings' energies come from (thermo.energies.source): the potential (model 0
# relaxes, the ensemble evaluates, DFT spot-checks a few) or DFT directly, in
# thermo.energies.n_jobs parallel jobs, and the thermo stage does not wait for the potential
THERMO_DFT_KEYS = [
    *THERMO_HOST_KEYS,
    *THERMO_HOST_REFERENCE_KEYS,
    "reference.calculator",
    "thermo.orderings",
    "thermo.energies",
]

if config["thermo"]["energies"]["source"] == "dft":

    rule thermo_dft_orderings:
        input:
            structure=THERMO_STRUCTURE,
            host_reference=THERMO_HOST_REFERENCE,
        output:
            frames=f"{THERMO}/dft/batch_{{batch}}.extxyz",
        log:
            main=f"{RESULTS}/logs/thermo_dft_orderings/batch_{{batch}}.log",
            dft=f"{RESULTS}/logs/thermo_dft_orderings/batch_{{batch}}.dft.txt",
        benchmark:
            f"{RESULTS}/benchmarks/thermo_dft_orderings/batch_{{batch}}.tsv"
        wildcard_constraints:
            batch=r"\d+",
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=4000,
            runtime=240,
        params:
            config=stage_config(*THERMO_DFT_KEYS),
            workdir=lambda wc: f"{THERMO}/dft/work_{wc.batch}",
        script:
            "../../scripts/thermo_dft_orderings.py"

    rule thermo_orderings:
        input:
            batches=expand(
                f"{THERMO}/dft/batch_{{batch}}.extxyz",
                batch=range(config["thermo"]["energies"]["n_jobs"]),
            ),
            structure=THERMO_STRUCTURE,
            host_reference=THERMO_HOST_REFERENCE,
        output:
            h5=f"{THERMO}/orderings.h5",
            lattice=f"{THERMO}/orderings_lattice.extxyz",
            relaxed=f"{THERMO}/orderings_relaxed.extxyz",
            plot=report(
                f"{THERMO}/formation_energies.png",
                caption="../report/thermo_formation_energies.rst",
                category="Thermo",
            ),
        log:
            f"{RESULTS}/logs/thermo_orderings.log",
        benchmark:
            f"{RESULTS}/benchmarks/thermo_orderings.tsv"
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=3000,
            runtime=20,
        params:
            config=stage_config(*THERMO_DFT_KEYS),
        script:
            "../../scripts/thermo_orderings_dft.py"

    rule thermo_dft_check:
        input:
            orderings=f"{THERMO}/orderings.h5",
            lattice=f"{THERMO}/orderings_lattice.extxyz",
            ce=f"{THERMO}/cluster_expansion.ce",
        output:
            json=f"{THERMO}/dft_check.json",
            plot=report(
                f"{THERMO}/dft_check.png",
                caption="../report/thermo_dft_check.rst",
                category="Thermo",
            ),
        log:
            f"{RESULTS}/logs/thermo_dft_check.log",
        benchmark:
            f"{RESULTS}/benchmarks/thermo_dft_check.tsv"
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            config=stage_config(
                *THERMO_HOST_KEYS, "seed", "thermo.energies", "thermo.dft_check"
            ),
        script:
            "../../scripts/thermo_ce_check.py"

else:

    rule thermo_orderings:
        input:
            models=THERMO_MODELS,
            structure=THERMO_STRUCTURE,
            host_reference=THERMO_HOST_REFERENCE,
        output:
            h5=f"{THERMO}/orderings.h5",
            lattice=f"{THERMO}/orderings_lattice.extxyz",
            relaxed=f"{THERMO}/orderings_relaxed.extxyz",
            plot=report(
                f"{THERMO}/formation_energies.png",
                caption="../report/thermo_formation_energies.rst",
                category="Thermo",
            ),
        log:
            f"{RESULTS}/logs/thermo_orderings.log",
        benchmark:
            f"{RESULTS}/benchmarks/thermo_orderings.tsv"
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=3000,
            runtime=60,
        params:
            config=stage_config(
                *THERMO_HOST_KEYS,
                *THERMO_HOST_REFERENCE_KEYS,
                "thermo.orderings",
                "thermo.relax",
                *DISPERSION_KEYS,
            ),
        script:
            "../../scripts/thermo_orderings.py"

    rule thermo_dft_check:
        input:
            orderings=f"{THERMO}/orderings.h5",
            relaxed=f"{THERMO}/orderings_relaxed.extxyz",
        output:
            json=f"{THERMO}/dft_check.json",
            plot=report(
                f"{THERMO}/dft_check.png",
                caption="../report/thermo_dft_check.rst",
                category="Thermo",
            ),
        log:
            f"{RESULTS}/logs/thermo_dft_check.log",
        benchmark:
            f"{RESULTS}/benchmarks/thermo_dft_check.tsv"
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=4000,
            runtime=120,
        params:
            config=stage_config(
                *THERMO_HOST_KEYS,
                "reference.calculator",
                "thermo.dft_check",
                "seed",
                "active_learning.max_rounds",
                "active_learning.orderings",
            ),
            workdir=f"{THERMO}/dft_work",
        script:
            "../../scripts/thermo_dft_check.py"


rule thermo_cluster_expansion:
    input:
        orderings=f"{THERMO}/orderings.h5",
        lattice=f"{THERMO}/orderings_lattice.extxyz",
    output:
        ce=f"{THERMO}/cluster_expansion.ce",
        json=f"{THERMO}/cluster_expansion.json",
    log:
        f"{RESULTS}/logs/thermo_cluster_expansion.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=stage_config(
            "seed",
            *THERMO_HOST_KEYS,
            "thermo.cluster_expansion",
            "thermo.energies.source",
            "thermo.dft_check.n_structures",
        ),
    script:
        "../../scripts/thermo_cluster_expansion.py"


rule thermo_monte_carlo:
    input:
        ce=f"{THERMO}/cluster_expansion.ce",
    output:
        h5=f"{THERMO}/mc/T{{T}}K.h5",
    log:
        f"{RESULTS}/logs/thermo_monte_carlo_T{{T}}K.log",
    benchmark:
        f"{RESULTS}/benchmarks/thermo_monte_carlo_T{{T}}K.tsv"
    wildcard_constraints:
        T=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        config=stage_config("seed", *THERMO_HOST_KEYS, "thermo.monte_carlo"),
    script:
        "../../scripts/thermo_monte_carlo.py"


rule thermo_free_energy:
    input:
        mc=expand(f"{THERMO}/mc/T{{T}}K.h5", T=THERMO_TEMPERATURES),
        ce_json=f"{THERMO}/cluster_expansion.json",
        orderings=f"{THERMO}/orderings.h5",
    output:
        h5=f"{THERMO}/free_energy.h5",
        mu_plot=report(
            f"{THERMO}/chemical_potential.png",
            caption="../report/thermo_chemical_potential.rst",
            category="Thermo",
        ),
        f_plot=report(
            f"{THERMO}/free_energy.png",
            caption="../report/thermo_free_energy.rst",
            category="Thermo",
        ),
    log:
        f"{RESULTS}/logs/thermo_free_energy.log",
    benchmark:
        f"{RESULTS}/benchmarks/thermo_free_energy.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=stage_config(
            "seed",
            "thermo.temperatures_K",
            "thermo.network",
            "thermo.grid",
            "thermo.ocv_identity",
        ),
    script:
        "../../scripts/thermo_free_energy.py"


# plot-only keys live here: changing the measured plateaus redraws this plot and nothing else
rule thermo_ocv_plot:
    input:
        h5=f"{THERMO}/free_energy.h5",
    output:
        plot=report(
            f"{THERMO}/ocv.png",
            caption="../report/thermo_ocv.rst",
            category="Thermo",
        ),
    log:
        f"{RESULTS}/logs/thermo_ocv_plot.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        config=stage_config("thermo.measured_plateaus_V"),
    script:
        "../../scripts/thermo_ocv_plot.py"


# the measured voltages are this rule's keys only: changing them reruns the check, not the fit
rule thermo_ocv_check:
    input:
        h5=f"{THERMO}/free_energy.h5",
    output:
        json=f"{THERMO}/ocv_check.json",
    log:
        f"{RESULTS}/logs/thermo_ocv_check.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        config=stage_config("thermo.ocv_check"),
    script:
        "../../scripts/thermo_ocv_check.py"


FINAL["thermo"] = [
    f"{THERMO}/orderings.h5",
    f"{THERMO}/formation_energies.png",
    f"{THERMO}/cluster_expansion.json",
    f"{THERMO}/free_energy.h5",
    f"{THERMO}/chemical_potential.png",
    f"{THERMO}/free_energy.png",
    f"{THERMO}/ocv.png",
    *([f"{THERMO}/dft_check.png"] if config["thermo"]["dft_check"]["enabled"] else []),
    *THERMO_GATES,
]
