# MD stage: one LAMMPS run per temperature with the DeePMD ensemble (ionscale.md). The host
# structure and mobile species are the reference stage's keys; the ensemble is the potential
# stage's compressed models (member 0 drives, all give the model deviation).

# reference.structure.file as an input, resolved once by the reference stage's plan
# (reference.smk); empty when the reference stage builds a prototype
_MD_FILES = {k: v for k, v in REFERENCE_FILES.items() if k == "structure"}

MD_TEMPERATURES = config["md"]["temperatures_K"]
MD_MODELS = [
    f"{RESULTS}/potential/model_{i}_compressed.pth"
    for i in range(config["potential"]["n_models"])
]
# every md key but the sweep itself: adding a temperature reruns no finished temperature
_MD_EXCLUDE = ("md.temperatures_K",)


rule md:
    input:
        **_MD_FILES,
        models=MD_MODELS,
        # the potential's lattice check (potential.smk): wrong layer spacings stop MD
        gates=POTENTIAL_GATES,
    output:
        trajectory=f"{RESULTS}/md/T{{T}}K/trajectory.h5",
    log:
        main=f"{RESULTS}/logs/md/T{{T}}K.log",
        lammps=f"{RESULTS}/logs/md/T{{T}}K.lammps.log",
    benchmark:
        f"{RESULTS}/benchmarks/md/T{{T}}K.tsv"
    wildcard_constraints:
        T=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        config=stage_config(
            "seed",
            "reference.structure.file",
            "reference.structure.prototype",
            "reference.mobile_species",
            "md",
            *DISPERSION_KEYS,
            exclude=_MD_EXCLUDE,
        ),
    script:
        "../../scripts/md.py"


FINAL["md"] = expand(f"{RESULTS}/md/T{{T}}K/trajectory.h5", T=MD_TEMPERATURES)
