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
