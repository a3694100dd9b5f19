"""Snakemake entry point of rule handoff_parameters: assemble parameters.h5 (ionscale.handoff)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import setup

from ionscale.handoff import read_parameters, run_handoff
from ionscale.provenance import Provenance

smk = snakemake  # noqa: F821  (injected by Snakemake)
log = setup(smk)
run_handoff(
    {
        "free_energy": smk.input.free_energy,
        "arrhenius": smk.input.arrhenius,
        "host": smk.input.host,
    },
    smk.output.h5,
    Provenance.from_snakemake(smk, "handoff"),
)
p = read_parameters(smk.output.h5)
log.info(
    "parameters.h5: x %s, T %s K, c_max %.0f mol/m3, Omega_Li %.3g m3/mol, E %.1f GPa, nu %.3f, "
    "D0 %.3g cm2/s, Ea %.3f eV",
    p.x_range,
    p.temperature_K.tolist(),
    p.c_max_mol_m3,
    p.partial_molar_volume_Li_m3_mol,
    p.youngs_modulus_GPa,
    p.poisson_ratio,
    p.D0_cm2_s,
    p.activation_energy_eV,
)
