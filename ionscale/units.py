"""The one units table of ionscale.

Internal units are those of the atomistic engines: energy eV, length Å, time ps, temperature K,
stress eV/Å³. Results that leave the atomistic half are converted with the factors here and carry
their unit in the dataset name or in an HDF5 ``units`` attribute. Physical constants come from
scipy.constants (CODATA), never typed in by hand.
"""

from scipy import constants as _c

#: Boltzmann constant, eV/K.
BOLTZMANN_eV_K: float = _c.k / _c.e
#: Elementary charge, C.
ELEMENTARY_CHARGE_C: float = _c.e
#: Faraday constant, C/mol.
FARADAY_C_mol: float = _c.physical_constants["Faraday constant"][0]
#: Avogadro constant, 1/mol.
AVOGADRO_per_mol: float = _c.N_A
#: Gas constant, J/(mol K).
GAS_CONSTANT_J_mol_K: float = _c.R

#: Å²/ps → cm²/s (1 Å² = 1e-16 cm², 1 ps = 1e-12 s).
A2_PER_PS_TO_CM2_PER_S: float = 1e-16 / 1e-12
#: eV/Å³ → GPa.
EV_PER_A3_TO_GPA: float = _c.e / 1e-30 / 1e9
#: Å³ → m³.
A3_TO_M3: float = 1e-30
#: Å³ → cm³.
A3_TO_CM3: float = 1e-24

#: Unit strings used in HDF5 ``units`` attributes, one spelling each.
UNITS = {
    "energy": "eV",
    "energy_per_atom": "eV/atom",
    "force": "eV/Å",
    "stress": "eV/Å³",
    "length": "Å",
    "time": "ps",
    "temperature": "K",
    "diffusivity": "cm²/s",
    "conductivity": "S/cm",
    "concentration": "mol/m³",
    "chemical_potential": "eV",
    "voltage": "V",
    "dimensionless": "1",
}
