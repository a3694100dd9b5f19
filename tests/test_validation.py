"""The pre-run check: every bad config of a generated set is rejected before any job, by
``ionscale validate-config`` and by the workflow alike, with the key and what was expected.

Each case mutates config/test.yaml in one way a user gets wrong (a reversed range, a cross-field
or cross-stage contradiction, a missing or wrong input file); the check must name the key.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import BIN, ROOT, run_snakemake

from ionscale.config import ConfigError
from ionscale.validation import check_run_config

BASE = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())


def _set(cfg: dict, dotted: str, value) -> None:
    node = cfg
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _case(cfg: dict, stage: str, **changes) -> None:
    """Change the first case of ``stage`` (phasefield or fem), creating it from the schema
    default when the config has none."""
    from ionscale.config import validate_config

    cases = cfg.setdefault(stage, {}).get("cases") or validate_config({})[stage]["cases"]
    cases = copy.deepcopy(cases)
    cases[0].update(changes)
    cfg[stage]["cases"] = cases


# -- structure files a user gets wrong ---------------------------------------------------------


def _graphite_file(tmp: Path) -> str:
    path = tmp / "graphite_as_li_metal.cif"
    path.write_text((ROOT / "resources" / "graphite" / "graphite_AB.cif").read_text())
    return str(path)


def _rocksalt_file(tmp: Path) -> str:
    from ase.build import bulk

    path = tmp / "LiF_rocksalt.cif"
    bulk("LiF", "rocksalt", a=4.03, cubic=True).write(path)
    return str(path)


def _half_li_file(tmp: Path) -> str:
    text = (ROOT / "resources" / "graphite" / "LiC6.cif").read_text()
    li_row = next(ln for ln in text.splitlines() if ln.strip().startswith("Li  Li1"))
    path = tmp / "LiC6_half.cif"
    path.write_text(text.replace(li_row, li_row.replace("1.0000", "0.5000")))
    return str(path)


def _overlapping_host_file(tmp: Path) -> str:
    import ase.io

    atoms = ase.io.read(ROOT / "resources" / "graphite" / "graphite_AB.cif")
    atoms.append(atoms[0])
    atoms.positions[-1] += np.array([0.3, 0.0, 0.0])
    path = tmp / "graphite_overlap.extxyz"
    ase.io.write(path, atoms)
    return str(path)


def _silicon_file(tmp: Path) -> str:
    import ase.io
    from ase.build import bulk

    path = tmp / "silicon.cif"
    ase.io.write(path, bulk("Si", "diamond", a=5.43))
    return str(path)


def _tilted_graphite_file(tmp: Path) -> str:
    """AB graphite rotated about x: its layers no longer lie in the xy plane."""
    import ase.io

    atoms = ase.io.read(ROOT / "resources" / "graphite" / "graphite_AB.cif")
    atoms.rotate(30, "x", rotate_cell=True)
    path = tmp / "graphite_tilted.extxyz"
    ase.io.write(path, atoms)
    return str(path)


def _fem_case(**changes):
    return lambda c, t: _case(c, "fem", **changes)


def _pf_case(**changes):
    return lambda c, t: _case(c, "phasefield", **changes)


def _file(key: str, make):
    return lambda c, t: _set(c, key, make(t))


def _keys(**dotted):
    """A mutation setting dotted keys (``md__trust_lo_eV_A`` spells ``md.trust_lo_eV_A``)."""
    return lambda c, t: [_set(c, k.replace("__", "."), v) for k, v in dotted.items()]


# (id, mutation of the config, text the error must name: the key): the cases users got wrong
# that passed the schema (reversed ranges, cross-field and cross-stage contradictions, files)
CASES = [
    ("phasefield-no-cases", _keys(phasefield__cases=[]), "phasefield.cases"),
    ("fem-no-cases", _keys(fem__cases=[]), "fem.cases"),
    ("mc-x-reversed", _keys(thermo__monte_carlo__x_min=0.9, thermo__monte_carlo__x_max=0.1),
     "thermo.monte_carlo"),
    ("grid-x-reversed", _keys(thermo__grid__x_min=0.9, thermo__grid__x_max=0.1), "thermo.grid"),
    ("rcut-smth-above-rcut", _keys(potential__rcut_smth_A=7.0), "rcut_smth_A"),
    ("md-trust-reversed", _keys(md__trust_lo_eV_A=0.3, md__trust_hi_eV_A=0.1), "md.trust"),
    ("active-trust-reversed",
     _keys(active_learning__trust_lo_eV_A=0.6, active_learning__trust_hi_eV_A=0.1),
     "active_learning.trust"),
    ("zbl-inner-above-outer",
     _keys(md__zbl_repulsion={"enabled": True, "inner_A": 1.2, "outer_A": 1.0}),
     "md.zbl_repulsion"),
    ("decay-above-numb-steps", _keys(potential__learning_rate__decay_steps=10**7), "decay_steps"),
    ("active-training-below-decay",
     _keys(active_learning__max_rounds=1, active_learning__training_steps=1),
     "active_learning.training_steps"),
    ("fem-at-0.3-K", _fem_case(temperature_K=0.3), "temperature_K"),
    ("phasefield-at-27-K", _pf_case(temperature_K=27), "temperature_K"),
    ("report-at-0.3-K", _keys(diffusion__report_temperature_K=0.3),
     "diffusion.report_temperature_K"),
    ("fem-outside-thermo-T", _fem_case(temperature_K=350.0), "thermo.temperatures_K"),
    ("phasefield-outside-thermo-T", _pf_case(temperature_K=400), "thermo.temperatures_K"),
    ("min-temperatures-above-md-sweep", _keys(diffusion__min_temperatures=10),
     "diffusion.min_temperatures"),
    ("md-vacancies-100", _keys(md__mobile_vacancies=100), "md.mobile_vacancies"),
    ("active-temperatures-below-md-top",
     _keys(active_learning__max_rounds=1, active_learning__temperatures_K=[700, 900],
           md__temperatures_K=[700, 800, 1000]),
     "active_learning.temperatures_K"),
    ("active-convergence-action-typo",
     _keys(active_learning__convergence={"action": "ignore"}),
     "active_learning.convergence.action"),
    ("active-vacancies-100",
     _keys(active_learning__max_rounds=1, active_learning__mobile_vacancies=100),
     "active_learning.mobile_vacancies"),
    ("surrogate-target-typo", _keys(surrogate__fem__targets=["capacity_mAh_cm"]),
     "surrogate.fem.targets"),
    ("fit-points-reversed", _keys(diffusion__min_fit_points=50, diffusion__max_fit_points=20),
     "diffusion.min_fit_points"),
    ("missing-structure-file", _keys(reference__structure__file="nope/LiC6.cif"),
     "reference.structure.file"),
    ("missing-import-file",
     _keys(reference__imports=[{"file": "nope.extxyz", "format": "extxyz"}]),
     "reference.imports[0].file"),
    ("x-range-reversed", _keys(reference__x_range=[1.0, 0.0]), "reference.x_range"),
    ("duplicate-fem-case", _keys(fem__cases=[{"name": "a"}, {"name": "a"}]), "fem.cases"),
    ("duplicate-phasefield-case", _keys(phasefield__cases=[{"name": "a"}, {"name": "a"}]),
     "phasefield.cases"),
    ("final-below-initial", _fem_case(initial_li_fraction=0.9, final_li_fraction=0.1),
     "fem.cases"),
    ("unknown-base-case", _keys(surrogate__fem__base_case="nope"), "surrogate.fem.base_case"),
    ("sweep-low-above-high",
     _keys(surrogate__fem__parameters=[{"name": "c_rate", "low": 2.0, "high": 1.0}]),
     "surrogate.fem.parameters"),
    ("no-sampling-no-imports", _keys(reference__sampling__enabled=False), "reference.imports"),
    ("pulay-with-cp2k", _keys(reference__calculator__name="cp2k"),
     "reference.pulay_correction.enabled"),
    ("pulay-step-too-wide", _keys(reference__pulay_correction__delta_cutoff_eV=200.0),
     "reference.pulay_correction.delta_cutoff_eV"),
    ("pulay-cannot-separate-species",
     _keys(reference__host__enabled=False, reference__li_metal__enabled=False),
     "reference.pulay_correction"),
    ("staging-a-non-layered-host",
     lambda c, t: [_set(c, "reference.sampling.stages", [2]),
                   _set(c, "reference.structure.file", _rocksalt_file(t))],
     "reference.sampling.stages"),
    ("thermo-staging-a-non-layered-host",
     lambda c, t: [_set(c, "thermo.orderings.stages", [2]),
                   _set(c, "reference.structure.file", _rocksalt_file(t))],
     "thermo.orderings.stages"),
    ("vdw-df-with-d3", _keys(reference__calculator__xc="optB88-vdW"),
     "reference.calculator.dispersion"),
    ("convergence-below-configured", _keys(reference__convergence__cutoff_eV=250.0),
     "reference.convergence"),
    ("li-metal-without-li", _file("reference.li_metal.file", _graphite_file),
     "reference.li_metal"),
    ("half-occupied-li", _file("reference.structure.file", _half_li_file), "partial occupancies"),
    ("overlapping-host", _file("reference.host.file", _overlapping_host_file), "reference.host"),
    ("relax-cell-typo", _keys(thermo__relax__relax_cell="ab"), "thermo.relax.relax_cell"),
    ("host-not-the-framework", _file("reference.host.file", _silicon_file),
     "is not the framework of the lithiated host"),
    ("c-mode-layers-not-in-xy",
     lambda c, t: [_set(c, "thermo.relax.relax_cell", "c"),
                   _set(c, "reference.host.file", _tilted_graphite_file(t))],
     "layers lie in the xy plane"),
]  # fmt: skip


# -- generated from the schema: every bounded or enumerated leaf, just outside what it allows --


def _schema_mutations():
    """(dotted key, a value the schema forbids) for every leaf with a range or an enum."""
    from ionscale.config import load_schema

    def walk(node, prefix):
        for name, sub in node.get("properties", {}).items():
            key = f"{prefix}{name}"
            if sub.get("type") == "object":
                yield from walk(sub, key + ".")
                continue
            if "enum" in sub:
                yield key, "not-one-of-the-choices"
            if "minimum" in sub:
                yield key, sub["minimum"] - (1 if sub.get("type") == "integer" else 1e-3)
            if "exclusiveMinimum" in sub:
                yield key, sub["exclusiveMinimum"]
            if "maximum" in sub:
                yield key, sub["maximum"] + 1
            if sub.get("type") in ("integer", "number", "boolean"):
                yield key, "a string"

    return list(walk(load_schema(), ""))


GENERATED = _schema_mutations()


@pytest.mark.parametrize(("key", "value"), GENERATED, ids=[f"{k}={v!r}" for k, v in GENERATED])
def test_generated_bad_value_is_rejected_naming_the_key(key, value):
    cfg = copy.deepcopy(BASE)
    _set(cfg, key, value)
    with pytest.raises(ConfigError) as err:
        check_run_config(cfg)
    assert f"'{key}'" in str(err.value) or f"{key}:" in str(err.value), str(err.value)


@pytest.mark.parametrize("mutate, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_config_is_rejected_naming_the_key(mutate, expected, tmp_path):
    cfg = copy.deepcopy(BASE)
    mutate(cfg, tmp_path)
    with pytest.raises(ConfigError) as err:
        check_run_config(cfg)
    assert expected in str(err.value), str(err.value)


def test_shipped_configs_pass_every_check():
    for name in ("config.yaml", "test.yaml", "production.yaml"):
        check_run_config(yaml.safe_load((ROOT / "config" / name).read_text()))


def test_every_problem_is_reported_at_once():
    """Independent problems, even two in one stage, are all listed."""
    cfg = copy.deepcopy(BASE)
    for key, value in {
        "md.mobile_vacancies": 100, "md.trust_lo_eV_A": 0.3, "md.trust_hi_eV_A": 0.1,
        "diffusion.min_temperatures": 10, "thermo.grid.x_min": 0.9, "thermo.grid.x_max": 0.1,
        "thermo.monte_carlo.x_min": 0.9, "thermo.monte_carlo.x_max": 0.1,
    }.items():  # fmt: skip
        _set(cfg, key, value)
    _case(cfg, "fem", temperature_K=350.0)
    with pytest.raises(ConfigError) as err:
        check_run_config(cfg)
    for key in ("md.mobile_vacancies", "md.trust_hi_eV_A", "diffusion.min_temperatures",
                "thermo.grid", "thermo.monte_carlo", "fem.cases[C1].temperature_K"):  # fmt: skip
        assert key in str(err.value), key


# The workflow and the CLI run the same function; a sample through each front end.
FRONT_END_SAMPLE = ["md-vacancies-100", "fem-outside-thermo-T", "half-occupied-li"]


@pytest.mark.parametrize("case_id", FRONT_END_SAMPLE)
def test_validate_config_and_workflow_both_reject(case_id, tmp_path):
    mutate, expected = next(c[1:] for c in CASES if c[0] == case_id)
    cfg = copy.deepcopy(BASE)
    mutate(cfg, tmp_path)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cli = subprocess.run(
        [str(BIN / "ionscale"), "validate-config", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert cli.returncode == 2 and expected in cli.stderr, cli.stderr
    proc = run_snakemake("-n", "--configfile", str(path), workdir=tmp_path, check=False)
    assert proc.returncode != 0 and expected in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_print_into_a_closed_pipe_is_quiet():
    """``ionscale validate-config --print | head -1`` ends without a traceback."""
    proc = subprocess.run(
        f"'{BIN / 'ionscale'}' validate-config config/test.yaml --print | head -1",
        shell=True, cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.stdout.strip() == "{"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
