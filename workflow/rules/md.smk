# MD stage: one LAMMPS run per temperature with the DeePMD ensemble (ionscale.md). The host
# structure and mobile species are the reference stage's keys; the ensemble is the potential
# stage's compressed models (member 0 drives, all give the model deviation).
from pathlib import Path as _MDPath

_MD_PROJECT = _MDPath(
    workflow.current_basedir.get_path_or_uri(secret_free=True)
).parents[1]


# reference.structure.file as an input: as given if it exists (working directory), else in the
# project; empty when the reference stage builds a prototype
_MD_FILE = config["reference"]["structure"]["file"]
_MD_FILES = (
    {
        "structure": (
            _MD_FILE if _MDPath(_MD_FILE).exists() else str(_MD_PROJECT / _MD_FILE)
        )
    }
    if _MD_FILE
    else {}
)

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
            exclude=_MD_EXCLUDE,
        ),
    script:
        "../../scripts/md.py"


FINAL["md"] = expand(f"{RESULTS}/md/T{{T}}K/trajectory.h5", T=MD_TEMPERATURES)
