"""handoff: parameters.h5 round-trips with units; assembly from the stages' results; the host's
mechanics (elastic identities, VRH, chemical strain) and bad input."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from ionscale.handoff import (
    LAYOUT,
    ContinuumParameters,
    HandoffInputError,
    assemble_parameters,
    read_parameters,
    run_handoff,
)
from ionscale.io import Quantity, read_provenance, write_h5
from ionscale.provenance import Provenance
from ionscale.thermo.host import chemical_strain, isotropic_moduli, site_density
from ionscale.thermo.network import regular_solution
from ionscale.units import A3_TO_M3, AVOGADRO_per_mol, BOLTZMANN_eV_K

OMEGA = 0.1
TEMPS = np.array([280.0, 300.0])
X = np.linspace(0.02, 0.98, 97)


def isotropic_C(E: float, nu: float) -> np.ndarray:
    lam = E * nu / ((1 + nu) * (1 - 2 * nu))
    mu = E / (2 * (1 + nu))
    C = np.zeros((6, 6))
    C[:3, :3] = lam
    C[np.arange(3), np.arange(3)] = lam + 2 * mu
    C[np.arange(3, 6), np.arange(3, 6)] = mu
    return C


def regular_parameters() -> ContinuumParameters:
    tables = [regular_solution(X, OMEGA, t) for t in TEMPS]
    return ContinuumParameters(
        x=X,
        temperature_K=TEMPS,
        free_energy_eV_per_site=[t[0] for t in tables],
        chemical_potential_eV=[t[1] for t in tables],
        d2f_dx2_eV_per_site=[t[2] for t in tables],
        D0_cm2_s=1e-3,
        activation_energy_eV=0.4,
        transport_temperature_K=np.array([600.0, 800.0, 1000.0]),
        diffusivity_cm2_s=1e-3 * np.exp(-0.4 / (BOLTZMANN_eV_K * np.array([600.0, 800, 1000]))),
        c_max_mol_m3=28000.0,
        molar_volume_m3_mol=1 / 28000.0,
        partial_molar_volume_Li_m3_mol=3.5e-6,
        elastic_constants_GPa=isotropic_C(20.0, 0.3),
        youngs_modulus_GPa=20.0,
        poisson_ratio=0.3,
        uncertainties={
            "D0_cm2_s": 2e-4,
            "activation_energy_eV": 0.02,
            "chemical_potential_eV": np.full((2, len(X)), 1e-3),
        },
        arrhenius_covariance=np.array([[0.04, 0.003], [0.003, 4e-4]]),
    )


def test_parameters_round_trip_with_units(tmp_path):
    p = regular_parameters()
    path = p.write(
        tmp_path / "parameters.h5",
        Provenance("handoff", {"k": 1}),
        extras={"thermo/extra_eV": Quantity([1.0], "eV")},
    )
    with h5py.File(path, "r") as h5:
        for dataset, (_, units) in LAYOUT.items():
            assert h5[dataset].attrs["units"] == units, dataset
        assert h5["thermo/extra_eV"].attrs["units"] == "eV"
        assert h5["transport/activation_energy_variance_eV2"].attrs["units"] == "eV²"
    q = read_parameters(path)
    for name in (
        "x",
        "temperature_K",
        "free_energy_eV_per_site",
        "chemical_potential_eV",
        "d2f_dx2_eV_per_site",
        "transport_temperature_K",
        "diffusivity_cm2_s",
        "elastic_constants_GPa",
        "arrhenius_covariance",
    ):
        np.testing.assert_array_equal(getattr(q, name), getattr(p, name), err_msg=name)
    for name in (
        "D0_cm2_s",
        "activation_energy_eV",
        "c_max_mol_m3",
        "youngs_modulus_GPa",
        "poisson_ratio",
        "partial_molar_volume_Li_m3_mol",
        "charge_number",
    ):
        assert getattr(q, name) == getattr(p, name), name
    assert q.uncertainties["activation_energy_eV"] == 0.02
    np.testing.assert_array_equal(q.uncertainties["chemical_potential_eV"], 1e-3)
    assert read_provenance(path)["config"] == {"k": 1}
    # the callables: tables at the grid, OCV = −μ, Arrhenius D(T)
    np.testing.assert_allclose(
        q.chemical_potential_eV_at(X[5:9], 300.0),
        regular_solution(X[5:9], OMEGA, 300.0)[1],
        rtol=1e-12,
    )
    np.testing.assert_allclose(q.ocv_V_at(X, 280.0), -q.chemical_potential_eV_at(X, 280.0))
    np.testing.assert_allclose(q.diffusivity_cm2_s_at(800.0), p.diffusivity_cm2_s[1])
    with pytest.raises(ValueError, match=r"Li fraction 0\.99 outside"):
        q.free_energy_eV_per_site_at([0.5, 0.99], 300.0)


def test_diffusivity_uncertainty_is_first_order_propagation():
    p = regular_parameters()
    T = 300.0
    rng = np.random.default_rng(0)
    ln_d0, ea = np.log(p.D0_cm2_s), p.activation_energy_eV
    draws = rng.multivariate_normal([ln_d0, ea], p.arrhenius_covariance, size=200_000)
    d = np.exp(draws[:, 0] - draws[:, 1] / (BOLTZMANN_eV_K * T))
    # first order in σ: compare the spread of ln D
    sigma_ln = p.diffusivity_cm2_s_uncertainty_at(T) / p.diffusivity_cm2_s_at(T)
    assert abs(np.std(np.log(d)) / sigma_ln - 1) < 0.01


def test_vrh_of_an_isotropic_tensor_is_exact():
    k, _g, e, nu = isotropic_moduli(isotropic_C(30.0, 0.25))
    np.testing.assert_allclose([e, nu], [30.0, 0.25], rtol=1e-12)
    np.testing.assert_allclose(k, 30.0 / (3 * (1 - 2 * 0.25)), rtol=1e-12)


def test_chemical_strain_and_site_density():
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 0.5])
    v = 50.0 + 4.0 * x  # Å³ per site, exactly linear
    s = chemical_strain(x, v)
    assert s.dv_dx_A3 == pytest.approx(4.0) and s.dv_dx_uncertainty_A3 < 1e-10
    assert s.partial_molar_volume_m3_mol == pytest.approx(4.0 * A3_TO_M3 * AVOGADRO_per_mol)
    c, vm = site_density(54.0)
    assert c * vm == pytest.approx(1.0) and vm == pytest.approx(54e-30 * AVOGADRO_per_mol)


# -- assembly from upstream files --------------------------------------------------------------
def _upstream(
    tmp_path: Path, drop: str = "", bad_units: str = "", hop_factor: float | None = None
) -> dict[str, str]:
    from ionscale.thermo.network import IntegrableFreeEnergy, NetworkSettings, fit_free_energy
    from ionscale.thermo.stage import FreeEnergyResult, write_free_energy

    fits, tables = [], []
    for t in TEMPS:
        xd = np.linspace(0.05, 0.95, 12)
        fit = fit_free_energy(
            xd,
            regular_solution(xd, OMEGA, t)[1],
            np.full(12, 1e-3),
            0.0,
            t,
            NetworkSettings(
                width=4,
                form="ideal",
                adam_steps=20,
                lbfgs_steps=0,
                validation_fraction=0,
                n_bootstrap=0,
            ),
        )
        fits.append(fit)
        tables.append(fit.model.evaluate(X))
    res = FreeEnergyResult(
        x=X,
        temperature_K=TEMPS,
        f=np.array([t[0] for t in tables]),
        mu=np.array([t[1] for t in tables]),
        d2f=np.array([t[2] for t in tables]),
        f_unc=None,
        mu_unc=None,
        d2f_unc=None,
        fits=fits,
        data=[],
        spinodal=[[], []],
        two_phase=[[], []],
        extrapolated=[[], []],
        f_end_eV=0.0,
    )
    assert isinstance(fits[0].model, IntegrableFreeEnergy)
    fe = tmp_path / "free_energy.h5"
    write_free_energy(res, fe, Provenance("thermo"))
    T = np.array([600.0, 800.0])
    D = 1e-3 * np.exp(-0.4 / (BOLTZMANN_eV_K * T))
    ar_data = {
        "temperature_K": Quantity(T, "K"),
        "diffusivity_cm2_s": Quantity(D, "cm²/s", "", 0.1 * D),
        "activation_energy_eV": Quantity(0.4, "eV", "", 0.03),
        "D0_cm2_s": Quantity(1e-3, "cm²/s", "", 3e-4),
        "fit/ln_D0_variance": Quantity(0.09, "1"),
        "fit/activation_energy_variance_eV2": Quantity(9e-4, "eV²"),
        "fit/covariance_lnD0_Ea_eV": Quantity(0.008, "eV"),
        "charge_number": Quantity(1.0, "1"),
    }
    if hop_factor is not None:  # the diffusion stage's hop diffusivity D*/(f c_v)
        ar_data["hop_D0_cm2_s"] = Quantity(1e-3 * hop_factor, "cm²/s", "", 3e-4 * hop_factor)
        ar_data["hop_diffusivity_cm2_s"] = Quantity(
            D * hop_factor, "cm²/s", "", 0.1 * D * hop_factor
        )
    if bad_units:
        ar_data[bad_units] = Quantity(ar_data[bad_units].value, "m²/s")
    ar_data.pop(drop, None)
    ar = write_h5(tmp_path / "arrhenius.h5", ar_data, Provenance("diffusion"))
    host = write_h5(
        tmp_path / "host.h5",
        {
            "c_max_mol_m3": Quantity(28000.0, "mol/m³"),
            "molar_volume_m3_mol": Quantity(1 / 28000.0, "m³/mol"),
            "partial_molar_volume_Li_m3_mol": Quantity(3e-6, "m³/mol", "", 2e-7),
            "elastic_constants_GPa": Quantity(isotropic_C(20.0, 0.3), "GPa"),
            "youngs_modulus_GPa": Quantity(20.0, "GPa"),
            "poisson_ratio": Quantity(0.3, "1"),
            "elastic/x1/C_GPa": Quantity(isotropic_C(20.0, 0.3), "GPa"),
        },
        Provenance("handoff"),
    )
    return {"free_energy": str(fe), "arrhenius": str(ar), "host": str(host)}


def test_assembly_from_stage_results(tmp_path):
    from ionscale.thermo.stage import read_network

    inputs = _upstream(tmp_path)
    out = run_handoff(inputs, tmp_path / "parameters.h5", Provenance("handoff"))
    p = read_parameters(out)
    assert p.activation_energy_eV == 0.4 and p.uncertainties["activation_energy_eV"] == 0.03
    assert p.c_max_mol_m3 == 28000.0 and p.uncertainties["partial_molar_volume_Li_m3_mol"] == 2e-7
    np.testing.assert_allclose(p.arrhenius_covariance, [[0.09, 0.008], [0.008, 9e-4]])
    # the tables are the networks' own values: rebuilt from the copied weights they agree
    for k, t in enumerate(TEMPS):
        net = read_network(out, t)
        np.testing.assert_allclose(net.evaluate(X)[1], p.chemical_potential_eV[k], rtol=1e-12)
    with h5py.File(out, "r") as h5:
        assert h5["host/details/elastic/x1/C_GPa"].attrs["units"] == "GPa"
        assert h5["transport/arrhenius/fit/ln_D0_variance"].attrs["units"] == "1"
    prov = read_provenance(out)
    assert set(prov["source_provenance"]) == {
        "thermo/free_energy.h5",
        "diffusion/arrhenius.h5",
        "handoff/host.h5",
    }


def test_handoff_carries_the_hop_diffusivity(tmp_path):
    """With the diffusion stage's hop diffusivity the handoff's D(T) is D*/(f c_v): the
    factor is recorded, Ea and the relative uncertainties are those of the tracer fit."""
    factor = 1 / (0.56006 * 2 / 18)
    out = run_handoff(_upstream(tmp_path, hop_factor=factor), tmp_path / "p.h5", Provenance("h"))
    p = read_parameters(out)
    assert p.D0_cm2_s == pytest.approx(1e-3 * factor) and p.activation_energy_eV == 0.4
    assert p.uncertainties["D0_cm2_s"] / p.D0_cm2_s == pytest.approx(0.3)
    tracer = 1e-3 * np.exp(-0.4 / (BOLTZMANN_eV_K * 700.0))
    assert p.diffusivity_cm2_s_at(700.0) == pytest.approx(tracer * factor)
    with h5py.File(out, "r") as h5:
        assert h5["transport/tracer_to_hop_factor"][()] == pytest.approx(factor)
        assert h5["transport/arrhenius/D0_cm2_s"][()] == pytest.approx(1e-3)  # the tracer fit
    old = run_handoff(_upstream(tmp_path / "old"), tmp_path / "q.h5", Provenance("h"))
    assert read_parameters(old).D0_cm2_s == 1e-3  # an arrhenius.h5 without it: D = D*


def test_assembly_names_missing_dataset_and_wrong_units(tmp_path):
    a = _upstream(tmp_path / "a", drop="D0_cm2_s")
    with pytest.raises(HandoffInputError, match="no dataset 'D0_cm2_s'"):
        assemble_parameters(a["free_energy"], a["arrhenius"], a["host"])
    b = _upstream(tmp_path / "b", bad_units="diffusivity_cm2_s")
    with pytest.raises(HandoffInputError, match="'diffusivity_cm2_s' has units 'm²/s'"):
        assemble_parameters(b["free_energy"], b["arrhenius"], b["host"])
    with pytest.raises(HandoffInputError, match="does not exist"):
        assemble_parameters(
            tmp_path / "nope.h5", tmp_path / "b/arrhenius.h5", tmp_path / "b/host.h5"
        )


# -- elasticity with a real (tiny) DeePMD model ------------------------------------------------
@pytest.mark.engine
@pytest.mark.slow
def test_stress_strain_equals_energy_curvature(tiny_dp):
    """C_jj from the stress–strain slope equals (1/V) ∂²E/∂ε_j² (relaxed ions), C is symmetric."""
    from ionscale.reference.structures import lic6_aa
    from ionscale.thermo.atomistic import RelaxSettings, dp_calculator, relax
    from ionscale.thermo.host import elastic_constants, energy_curvature_modulus

    calc = dp_calculator(tiny_dp[0])
    atoms = relax(lic6_aa(), calc, RelaxSettings(fmax_eV_A=1e-3, max_steps=300)).atoms
    res = elastic_constants(atoms, calc, strains=(-0.004, 0.004), fmax_eV_A=1e-3, max_steps=200)
    scale = np.max(np.abs(res.C_GPa))
    assert res.asymmetry_GPa < 0.05 * scale  # Maxwell relation, up to relaxation tolerance
    for j in (0, 2):
        curvature = energy_curvature_modulus(atoms, calc, j, 0.004, 1e-3, 200)
        assert abs(curvature - res.C_GPa[j, j]) < 0.03 * scale, (j, curvature, res.C_GPa[j, j])
