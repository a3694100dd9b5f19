"""The workflow as users run it: config/test.yaml end to end with the real engines, then what a
user relies on afterwards — provenance on every result, the HTML report, reruns that touch only
what a changed parameter affects, and recovery from a killed run.

The end-to-end run happens once per session in a scratch directory (``e2e``); the other tests
read from it or run Snakemake there in dry-run mode.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import BIN, ROOT, run_snakemake
from results_compare import compare_trees

from ionscale.config import load_config
from ionscale.io import read_provenance
from ionscale.provenance import config_hash

TEST_CONFIG = ROOT / "config" / "test.yaml"
CFG = load_config(TEST_CONFIG)
SYSTEM = CFG["system"]


@pytest.fixture(scope="session")
def e2e(tmp_path_factory) -> Path:
    """A finished run of config/test.yaml (every stage) in a scratch directory."""
    workdir = tmp_path_factory.mktemp("e2e")
    start = time.perf_counter()
    run_snakemake("--configfile", str(TEST_CONFIG), workdir=workdir)
    print(f"\nend-to-end run of config/test.yaml: {time.perf_counter() - start:.0f} s")
    return workdir


def _final_outputs(workdir: Path, configfile: Path = TEST_CONFIG) -> list[str]:
    """The files `rule all` asks for (from Snakemake's own dry-run summary)."""
    proc = run_snakemake(
        "--configfile", str(configfile), "--summary", "-n", workdir=workdir
    )  # fmt: skip
    lines = (proc.stdout + proc.stderr).splitlines()
    return [ln.split("\t")[0] for ln in lines if ln.startswith("results/")]


def _result_files(results: Path) -> list[Path]:
    skip = {"logs", "benchmarks", "work"}
    return [
        p
        for p in sorted(results.rglob("*"))
        if p.is_file()
        and p.suffix in {".h5", ".json"}
        and not skip & set(p.relative_to(results).parts)
        # ADIOS2's own files inside a VTX .bp directory are the engine's format, not results
        and not any(part.endswith(".bp") for part in p.relative_to(results).parts)
    ]


@pytest.mark.engine
@pytest.mark.slow
def test_end_to_end_produces_every_final_output(e2e):
    results = e2e / "results" / SYSTEM
    final = _final_outputs(e2e)
    assert final, "rule all names no outputs"
    missing = [f for f in final if not (e2e / f).exists()]
    assert not missing, f"missing final outputs: {missing}"
    assert not list(results.rglob("*.partial*")), "a partial file was left behind"
    proc = run_snakemake("-n", "--configfile", str(TEST_CONFIG), workdir=e2e)
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.engine
@pytest.mark.slow
def test_active_learning_loop_runs_to_its_cap(e2e):
    """test.yaml's trust level makes every round unconverged: the loop trains each round up to
    max_rounds, the cap's verdict is the allowed gate, and potential/ is the last round's."""
    results = e2e / "results" / SYSTEM
    cap = CFG["active_learning"]["max_rounds"]
    history = json.loads((results / "potential" / "active_learning.json").read_text())
    assert history["final_round"] == cap and not history["converged"]
    assert [r["round"] for r in history["rounds"]] == list(range(cap + 1))
    assert history["verdict"] == "allowed by config"
    assert all(r["worst_share"] > CFG["md"]["max_extrapolating_share"] for r in history["rounds"])
    final = results / "potential" / f"round{cap}" / "model_0_compressed.pth"
    assert (results / "potential" / "model_0_compressed.pth").read_bytes() == final.read_bytes()


@pytest.mark.engine
@pytest.mark.slow
def test_provenance_audit(e2e):
    """Every HDF5/JSON result carries provenance whose config subset matches the test config."""
    files = _result_files(e2e / "results" / SYSTEM)
    assert files
    for path in files:
        prov = read_provenance(path)  # raises if absent
        for key in ("stage", "config_sha256", "package_versions", "git_revision", "input_sha256"):
            assert key in prov, f"{path}: provenance lacks {key}"
        assert prov["config_sha256"] == config_hash(prov["config"]), f"{path}: hash mismatch"
        for dotted, value in _leaves(prov["config"]):
            node = CFG
            for part in dotted.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                continue  # not a config key (e.g. a sweep case the surrogate stage built)
            assert node == value, f"{path}: config key {dotted} = {value!r}, run used {node!r}"
        if path.suffix == ".h5":
            bad = _datasets_without_units(path)
            assert not bad, f"{path}: datasets without units: {bad}"


def _leaves(tree: dict, prefix: str = ""):
    """(dotted key, value) of every non-mapping value of a nested config subset."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _datasets_without_units(path: Path) -> list[str]:
    import h5py

    bad: list[str] = []
    with h5py.File(path) as h5:
        h5.visititems(
            lambda n, o: bad.append(n) if isinstance(o, h5py.Dataset) and "units" not in o.attrs
            else None
        )  # fmt: skip
    return bad


@pytest.mark.engine
@pytest.mark.slow
def test_report_holds_every_plot_with_its_caption(e2e, tmp_path):
    report = tmp_path / "report.html"
    run_snakemake("--configfile", str(TEST_CONFIG), "--report", str(report), workdir=e2e)
    html = report.read_text(errors="replace")
    declared = _report_outputs()
    assert declared, "no rule declares report() outputs"
    for category, filename, caption in declared:
        assert category in html, f"report lacks category {category}"
        assert filename in html, f"report lacks {filename}"
        first_words = " ".join(caption.split("{{")[0].split()[:4])  # before any template
        escaped = json.dumps(first_words)[1:-1]  # the report embeds captions as JSON strings
        assert first_words in html or escaped in html, (
            f"report lacks the caption of {filename}: {first_words!r}"
        )


def _report_outputs() -> list[tuple[str, str, str]]:
    """(category, file name, caption text) of every report() output declared in the rules."""
    out = []
    pattern = re.compile(
        r'report\(\s*f?"[^"]*/([^"/]+)",\s*caption="([^"]+)",\s*category="([^"]+)"', re.S
    )
    included = re.findall(r'^include: "([^"]+)"', (ROOT / "Snakefile").read_text(), flags=re.M)
    for smk in (ROOT / inc for inc in included):
        for name, caption, category in pattern.findall(smk.read_text()):
            caption_text = (smk.parent / caption).resolve().read_text()
            out.append((category, name.replace("{", "").split("}")[0], caption_text))
    return out


# -- reruns ---------------------------------------------------------------------------------------

#: (dotted config key, new value, the rule that uses it). The key must be used by that rule only.
RERUN_CASES = [
    ("check.md_steps", 6, "check_engines"),
    ("diffusion.report_temperature_K", 320.0, "diffusion_report"),  # a report-only key
    # a key only a plot uses reruns that plot alone
    ("thermo.measured_plateaus_V", [0.2, 0.1], "thermo_ocv_plot"),
    # a gate's own keys rerun the gate (and what waits for it), not what it checks
    ("thermo.ocv_check.min_V", -0.1, "thermo_ocv_check"),
    ("potential.lattice_check.max_steps", 40, "potential_lattice_check"),
]


def _jobs_of_dry_run(workdir: Path, configfile: Path) -> set[str]:
    proc = run_snakemake("-n", "--configfile", str(configfile), workdir=workdir)
    return set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout, flags=re.M))


def _descendants(workdir: Path, rule: str) -> set[str]:
    proc = run_snakemake("--rulegraph", "--configfile", str(TEST_CONFIG), workdir=workdir)
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', proc.stdout, flags=re.M))
    edges = re.findall(r"^\s*(\d+) -> (\d+)", proc.stdout, flags=re.M)
    children: dict[str, set[str]] = {}
    for a, b in edges:
        children.setdefault(names[a], set()).add(names[b])
    out, todo = set(), [rule]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


@pytest.mark.engine
@pytest.mark.slow
@pytest.mark.parametrize(("key", "value", "rule"), RERUN_CASES)
def test_changed_parameter_reruns_only_its_rule_and_downstream(e2e, tmp_path, key, value, rule):
    raw = yaml.safe_load(TEST_CONFIG.read_text())
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    assert node.get(leaf) != value
    node[leaf] = value
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(raw, sort_keys=False))  # a user's edit keeps the order
    jobs = _jobs_of_dry_run(e2e, changed)
    expected = {rule} | _descendants(e2e, rule)
    assert jobs == expected, f"changing {key}: would run {sorted(jobs)}, expected {expected}"


@pytest.mark.engine
@pytest.mark.slow
def test_own_dft_data_only_needs_no_dft_run(e2e, tmp_path):
    """reference.sampling.enabled: false with reference.imports: the reference data are the
    imported frames alone, and no DFT calculation runs (GPAW is not needed)."""
    from ase.io import read

    labelled = e2e / "results" / SYSTEM / "reference" / "labelled.extxyz"
    raw = yaml.safe_load(TEST_CONFIG.read_text())
    raw.setdefault("reference", {})
    raw["reference"]["sampling"] = {**raw["reference"].get("sampling", {}), "enabled": False}
    raw["reference"]["imports"] = [{"file": str(labelled), "format": "extxyz"}]
    own = tmp_path / "own.yaml"
    own.write_text(yaml.safe_dump(raw))
    target = f"results/{SYSTEM}/reference/labelled.extxyz"
    run_snakemake(target, "--configfile", str(own), workdir=tmp_path)
    frames = read(tmp_path / target, ":")
    assert len(frames) == len(read(labelled, ":"))
    assert {a.info["config_type"] for a in frames} == {"import"}
    assert not list((tmp_path / "results" / SYSTEM / "reference").glob("batches/work_*/*.txt"))


# -- interruption ---------------------------------------------------------------------------------

#: A target of several jobs (DFT labelling in batches), each long enough to be killed inside.
INTERRUPT_TARGET = f"results/{SYSTEM}/reference/labelled.extxyz"
#: The job to kill the run inside (its log file appears when it starts).
INTERRUPT_LOG = f"results/{SYSTEM}/logs/reference_label/batch_0000.log"


def _valid_result(path: Path) -> bool:
    """A file at a final name must be complete: provenance present, parsable."""
    if path.suffix in {".h5", ".json"}:
        read_provenance(path)
    elif path.suffix == ".extxyz":
        from ase.io import read

        read(path, ":")
    return True


@pytest.mark.engine
@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted_run(e2e, tmp_path):
    cmd = [
        str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"),
        "--workflow-profile", str(ROOT / "workflow" / "profiles" / "default"),
        "--configfile", str(TEST_CONFIG), "--directory", str(tmp_path), INTERRUPT_TARGET,
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 600
    try:
        while not (tmp_path / INTERRUPT_LOG).exists():
            assert proc.poll() is None, "the run ended before the job to interrupt started"
            assert time.monotonic() < deadline, "the job to interrupt never started"
            time.sleep(0.05)
        # inside the job: whatever appears at a final name meanwhile must already be complete
        inside = time.monotonic() + 2.0
        while time.monotonic() < inside:
            for path in _result_files(tmp_path / "results"):
                _valid_result(path)
            time.sleep(0.1)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the whole session: Snakemake and its job
    finally:
        proc.wait()
    # what is visible at a final name after the kill must be complete
    for path in (tmp_path / "results").rglob("*"):
        if path.is_file() and ".partial" not in path.name and "logs" not in path.parts:
            _valid_result(path)
    run_snakemake("--unlock", "--configfile", str(TEST_CONFIG), workdir=tmp_path)
    run_snakemake(
        INTERRUPT_TARGET, "--configfile", str(TEST_CONFIG), "--rerun-incomplete", workdir=tmp_path
    )
    assert (tmp_path / INTERRUPT_TARGET).exists()
    assert not list((tmp_path / "results").rglob("*.partial*"))
    only = [INTERRUPT_TARGET.removeprefix("results/")]
    diffs = compare_trees(tmp_path / "results", e2e / "results", only=only)
    assert not diffs, "\n".join(diffs)
