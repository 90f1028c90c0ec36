"""No secret typed on the command line reaches any file of a run: results.json,
the records, report.html, pr-comment.md, Allure's files, pytest-benchmark's
JSON and the baselines (the case runs on the deterministic fake engine)."""

from __future__ import annotations

import json
from pathlib import Path

from benchproject import bench_args

SECRETS = ("hunter2pass", "SECRETKEY123", "SECRETKEY456", "SECRETKEY789")


def files_containing(root: Path, needle: str) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and needle.encode() in p.read_bytes()]


def test_no_secret_in_any_file_of_the_run(bench_project):
    result = bench_project.runpytest(*bench_args(
        "--scenario", "offline", "--warmup-samples", "0",
        "--endpoint", "http://alice:hunter2pass@inference.example:8000/v1",
        "--engine-option", "server_args=--api-key SECRETKEY123 --port 8001",
        "--engine-option", "fake:api_key=SECRETKEY456",
        "--engine-option=fake:extra_args=--hf-token=SECRETKEY789",
        "--report-dir", "out", "--benchmark-json", "out/bench.json", "--alluredir", "out/allure",
        "--baseline-save", "out/baselines", "--repeats", "3"))
    result.assert_outcomes(passed=1, deselected=1)
    out = bench_project.path / "out"
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and p.name not in ("allure", "baselines")]
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {f"{run_dir.name}/results.json", f"{run_dir.name}/report.html", f"{run_dir.name}/pr-comment.md",
            "bench.json", "allure/environment.properties"} <= written
    assert any(name.startswith("baselines/") for name in written)
    for secret in SECRETS:
        assert files_containing(out, secret) == [], secret
    # what was asked is still there, masked
    config = json.loads((run_dir / "results.json").read_text())["config"]
    assert config["options"]["endpoint"] == "http://***@inference.example:8000/v1"
    assert "--engine-option" in config["pytest_args"]
    case = json.loads((run_dir / "results.json").read_text())["cases"][0]
    assert case["engine_options"]["api_key"] == "***"
    assert case["engine_options"]["server_args"] == "--api-key *** --port 8001"
    assert case["metrics"]["output_tokens"]["value"] > 0  # numbers are not redacted
