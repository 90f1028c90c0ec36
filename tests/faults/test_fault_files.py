"""Files a run reads that someone else may have written or broken: a crafted or
corrupt results.json, a corrupt baseline, a run folder among good ones in a history
import, and ``ob pack``. Each is refused with an error naming the file and field;
nothing is written outside its folder; the good parts are still used."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tarfile
from pathlib import Path

import pytest
from harness import bench_argv, ob, project, run, with_credentials


@pytest.fixture(scope="module")
def passed_run(server, tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of three rounds against the scripted server (baseline material): its folder."""
    folder = project(tmp_path_factory.mktemp("passed"), tokenizer)
    done = run(folder, bench_argv(with_credentials(server.url), "--repeats", "3"))
    assert done.returncode == 0, done.output
    done.assert_clean()
    (run_dir,) = done.run_dirs()
    return run_dir


def copy_run(run_dir: Path, into: Path, name: str | None = None) -> Path:
    target = into / (name or run_dir.name)
    shutil.copytree(run_dir, target)
    return target


def rewrite_results(run_dir: Path, change) -> None:
    path = run_dir / "results.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize("crafted", ["../../escaped", "/tmp/ob-fault-absolute", "sub/../../escaped"])
def test_a_crafted_case_id_cannot_write_outside_the_baselines(passed_run, tmp_path, crafted):
    run_dir = copy_run(passed_run, tmp_path / "runs")

    def craft(document):
        document["cases"][0]["id"] = document["cases"][0]["base_id"] = crafted

    rewrite_results(run_dir, craft)
    done = ob(tmp_path, "baseline", "update", str(run_dir), "--baselines", "baselines")
    assert done.returncode == 2, done.output
    assert f"case id: refused {crafted!r}" in done.output and "stays inside its folder" in done.output
    assert not list(tmp_path.rglob("escaped*")) and not Path("/tmp/ob-fault-absolute.json").exists()
    assert not (tmp_path / "baselines").exists() or not list((tmp_path / "baselines").rglob("*.json"))
    done.assert_clean()


def test_a_crafted_hardware_name_cannot_write_outside_the_baselines(passed_run, tmp_path):
    run_dir = copy_run(passed_run, tmp_path / "runs")
    done = ob(tmp_path, "baseline", "update", str(run_dir), "--baselines", "baselines", "--hw", "../../escaped")
    assert done.returncode == 2 and "hardware: refused '../../escaped'" in done.output, done.output
    assert not list(tmp_path.rglob("escaped*"))


def test_a_crafted_records_file_is_not_read_from_outside_the_run(passed_run, tmp_path, folder, server):
    """``ob report`` of a run whose results.json points its records outside the folder."""
    secret = tmp_path / "outside.jsonl"
    secret.write_text('{"request_id": "x"}\n')
    run_dir = copy_run(passed_run, tmp_path / "runs")
    rewrite_results(run_dir, lambda d: d["cases"][0].__setitem__("records_file", "../../outside.jsonl"))
    done = ob(tmp_path, "report", str(run_dir))
    assert done.returncode == 2, done.output
    assert "records_file: refused '../../outside.jsonl'" in done.output


def test_history_import_goes_past_a_corrupt_run_folder(passed_run, tmp_path):
    runs = tmp_path / "runs"
    first = copy_run(passed_run, runs, "20260101-000001-cpu")
    broken = copy_run(passed_run, runs, "20260101-000002-cpu")
    (broken / "results.json").write_text('{"schema": "openaiperf.results", "cases": [tru')
    last = copy_run(passed_run, runs, "20260101-000003-cpu")
    rewrite_results(last, lambda d: d.__setitem__("created", "2026-01-01T00:00:03+00:00"))
    store = tmp_path / "imported.sqlite"
    done = ob(tmp_path, "history", "import", "--history", f"sqlite:///{store}", f"{runs}/")
    assert done.returncode == 1, done.output
    assert f"not imported: {broken}: " in done.output and "cannot read results" in done.output
    assert f"imported {first}" in done.output and f"imported {last}" in done.output
    assert "1 of 3 run folder(s) not imported" in done.output
    with sqlite3.connect(store) as db:
        assert db.execute("select count(*) from ob_runs").fetchone() == (2,)
    done.assert_clean()


def test_a_corrupt_baseline_fails_the_case_naming_the_file(folder, server):
    content, message = "{not json", "not valid JSON"
    baselines = folder / "baselines" / "cpu"
    baselines.mkdir(parents=True)
    (baselines / "summarization.xsum-offline-openai-stub.json").write_text(content)
    done = run(folder, bench_argv(with_credentials(server.url), "--baseline-compare=baselines"))
    assert done.returncode == 1, done.output
    case = done.case()
    assert case["status"] == "failed"
    assert any("summarization.xsum-offline-openai-stub.json" in f and message in f for f in case["failures"]), case
    assert len(done.records()) == 4  # measured all the same
    done.assert_clean()


def test_corrupt_results_are_refused_by_compare_naming_the_file(passed_run, tmp_path):
    run_dir = copy_run(passed_run, tmp_path / "runs")
    (run_dir / "results.json").write_text("[1, 2")
    done = ob(tmp_path, "compare", str(passed_run), str(run_dir))
    assert done.returncode == 2, done.output
    assert f"{run_dir / 'results.json'}: cannot read results" in done.output and "Traceback" not in done.output


def test_pack_include_configs_packs_the_files_the_run_read(folder, server, tmp_path):
    """The run's --matrix and --task-file, not the current directory's benchmarks/matrix.yaml."""
    (folder / "suites").mkdir()
    (folder / "suites" / "mine.matrix.yaml").write_text((folder / "matrix.yaml").read_text())
    (folder / "benchmarks").mkdir()
    (folder / "benchmarks" / "matrix.yaml").write_text("suites: []  # not the one the run used\n")
    argv = [a if a != "matrix.yaml" else "suites/mine.matrix.yaml" for a in
            bench_argv(with_credentials(server.url), "--engine-option", "openai:served_model=stub")]
    done = run(folder, argv)
    assert done.returncode == 0, done.output
    (run_dir,) = done.run_dirs()
    packed = ob(folder, "pack", "--run", str(run_dir), "--include-configs", "--include-logs", "--output", "run.tgz")
    assert packed.returncode == 0, packed.output
    with tarfile.open(folder / "run.tgz") as archive:
        names = archive.getnames()
        configs = {n.split("/configs/", 1)[1] for n in names if "/configs/" in n}
        assert {"suites/mine.matrix.yaml", "models.yaml"} <= configs and "benchmarks/matrix.yaml" not in configs
        matrix = archive.extractfile(f"{run_dir.name}/configs/suites/mine.matrix.yaml")
        assert matrix is not None and b"summarization.xsum" in matrix.read()
    done.assert_clean()
    packed.assert_clean()
