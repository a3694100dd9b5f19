# Diffusion stage: MSD and D(T) per temperature, then the Arrhenius fit with D and the ionic
# conductivity at the report temperature (ionscale.diffusion). Needs MD_TEMPERATURES (md.smk).

_MSD_KEYS = [
    "diffusion.directions",
    "diffusion.ballistic_time_ps",
    "diffusion.max_fit_fraction",
    "diffusion.slope_tolerance",
    "diffusion.min_fit_points",
    "diffusion.max_fit_points",
    "diffusion.hop_distance_A",
    "diffusion.hop_residence_time_ps",
    "diffusion.min_hops",
    "diffusion.carriers",
]


rule diffusion_msd:
    input:
        trajectory=f"{RESULTS}/md/T{{T}}K/trajectory.h5",
    output:
        msd=f"{RESULTS}/diffusion/T{{T}}K/msd.h5",
        plot=report(
            f"{RESULTS}/diffusion/T{{T}}K/msd.png",
            caption="../report/diffusion_msd.rst",
            category="Diffusion",
            subcategory="MSD per temperature",
            labels={"temperature": "{T} K"},
        ),
    log:
        f"{RESULTS}/logs/diffusion/msd_T{{T}}K.log",
    wildcard_constraints:
        T=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        config=stage_config(*_MSD_KEYS),
    script:
        "../../scripts/diffusion_msd.py"


rule diffusion_arrhenius:
    input:
        msd=expand(f"{RESULTS}/diffusion/T{{T}}K/msd.h5", T=MD_TEMPERATURES),
    output:
        arrhenius=f"{RESULTS}/diffusion/arrhenius.h5",
    log:
        f"{RESULTS}/logs/diffusion/arrhenius.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config=stage_config(
            "diffusion.charge_number",
            "diffusion.min_temperatures",
            "diffusion.min_temperature_span_K",
        ),
    script:
        "../../scripts/diffusion_arrhenius.py"


# report-only keys live here: a new report temperature reruns this rule alone
rule diffusion_report:
    input:
        arrhenius=f"{RESULTS}/diffusion/arrhenius.h5",
    output:
        report=f"{RESULTS}/diffusion/report.h5",
        plot=report(
            f"{RESULTS}/diffusion/arrhenius.png",
            caption="../report/diffusion_arrhenius.rst",
            category="Diffusion",
            subcategory="Arrhenius",
        ),
    log:
        f"{RESULTS}/logs/diffusion/report.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        config=stage_config(
            "diffusion.report_temperature_K", "diffusion.extrapolation_warning_ratio"
        ),
    script:
        "../../scripts/diffusion_report.py"


FINAL["diffusion"] = [
    f"{RESULTS}/diffusion/arrhenius.h5",
    f"{RESULTS}/diffusion/report.h5",
    f"{RESULTS}/diffusion/arrhenius.png",
]
