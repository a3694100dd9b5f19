"""Code and schema defaults agree: every stage's settings built from the schema's default
section (as the workflow builds them for an empty config) equal the dataclass's own defaults
(as tests and benchmarks build them). A default changed in one place only fails here."""

from __future__ import annotations

from dataclasses import fields, is_dataclass

import pytest

from ionscale.settings import default, section_defaults


def _pairs():
    """(name, from the schema's defaults, from the dataclass defaults) per settings class."""
    from ionscale import active, check, diffusion, fingerprint, md
    from ionscale.barrier import BarrierSettings
    from ionscale.fem import model as fem
    from ionscale.phasefield import cahn_hilliard as ch
    from ionscale.potential.settings import PotentialSettings
    from ionscale.reference import calculators, checks, sampling
    from ionscale.thermo import atomistic, cluster_expansion, gates, montecarlo, network, stage

    d = section_defaults
    thermo = d("thermo")
    species = default("reference.mobile_species")
    return [
        ("md.MDSettings", lambda: md.MDSettings.from_config(d("md"), 300, 1, species),
         lambda: md.MDSettings(temperature_K=300.0, seed=1, mobile_species=species)),
        ("active.ActiveSettings", lambda: active.ActiveSettings.from_config(d("active_learning")),
         active.ActiveSettings),
        ("diffusion.MSDSettings", lambda: diffusion.MSDSettings.from_config(d("diffusion")),
         diffusion.MSDSettings),
        ("diffusion.ArrheniusSettings",
         lambda: diffusion.ArrheniusSettings.from_config(d("diffusion")),
         diffusion.ArrheniusSettings),
        ("fingerprint.FingerprintSettings",
         lambda: fingerprint.FingerprintSettings.from_config(d("fingerprint")),
         fingerprint.FingerprintSettings),
        ("potential.PotentialSettings",
         lambda: PotentialSettings.from_config(d("potential")), PotentialSettings),
        ("check.CheckSettings", lambda: check.CheckSettings(**d("check")), check.CheckSettings),
        ("reference.CalculatorSettings",
         lambda: calculators.CalculatorSettings.from_config(d("reference.calculator")),
         calculators.CalculatorSettings),
        ("reference.CheckSettings",
         lambda: checks.CheckSettings.from_config(d("reference.checks")), checks.CheckSettings),
        ("reference.SamplingSettings",
         lambda: sampling.SamplingSettings.from_config(d("reference")),
         sampling.SamplingSettings),
        ("thermo.RelaxSettings", lambda: stage.relax_settings(thermo), atomistic.RelaxSettings),
        ("thermo.CESettings", lambda: cluster_expansion.CESettings(**thermo["cluster_expansion"]),
         cluster_expansion.CESettings),
        ("thermo.MCSettings", lambda: stage.mc_settings(thermo, seed=0), montecarlo.MCSettings),
        ("thermo.NetworkSettings", lambda: stage.network_settings(thermo, seed=0),
         network.NetworkSettings),
        ("thermo.DFTCheckSettings",
         lambda: gates.DFTCheckSettings.from_config(thermo["dft_check"]), gates.DFTCheckSettings),
        ("thermo.OCVIdentitySettings", lambda: stage.ocv_identity_settings(thermo),
         gates.OCVIdentitySettings),
        ("phasefield.SolverSettings",
         lambda: ch.SolverSettings.from_config(d("phasefield.solver")), ch.SolverSettings),
        ("fem.SolverSettings", lambda: fem.SolverSettings.from_config(d("fem.solver")),
         fem.SolverSettings),
        ("barrier.BarrierSettings", lambda: BarrierSettings.from_config(d("barrier")),
         BarrierSettings),
    ]  # fmt: skip


PAIRS = _pairs()


def _diff(a, b, where=""):
    if is_dataclass(a) and is_dataclass(b):
        return [d for f in fields(a) for d in _diff(getattr(a, f.name), getattr(b, f.name),
                                                      f"{where}.{f.name}")]  # fmt: skip
    if isinstance(a, dict) and isinstance(b, dict) and set(a) == set(b):
        return [d for k in a for d in _diff(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) == len(b):
            return [
                d
                for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _diff(x, y, f"{where}[{i}]")
            ]
        a, b = list(a), list(b)
    return [] if a == b else [f"{where}: schema {a!r} != code {b!r}"]


@pytest.mark.parametrize(
    "from_schema, from_code", [p[1:] for p in PAIRS], ids=[p[0] for p in PAIRS]
)
def test_code_defaults_equal_schema_defaults(from_schema, from_code):
    assert _diff(from_schema(), from_code()) == []


def _case_item_defaults(stage: str) -> dict:
    from ionscale.config import load_schema

    props = load_schema()["properties"][stage]["properties"]["cases"]["items"]["properties"]
    return {k: v["default"] for k, v in props.items() if "default" in v}


@pytest.mark.parametrize("stage", ["fem", "phasefield"])
def test_case_defaults_equal_schema_item_defaults(stage):
    """A case entry's absent keys take the schema's item defaults, which the case class holds."""
    from ionscale.fem.model import ParticleCase
    from ionscale.phasefield.cahn_hilliard import CahnHilliardCase

    cls = ParticleCase if stage == "fem" else CahnHilliardCase
    item = _case_item_defaults(stage)
    code = {f.name: f.default for f in fields(cls) if f.name in item}
    assert set(item) - {"name"} <= set(code), "case keys missing from the class"
    assert _diff({k: item[k] for k in code}, code) == []
