"""The GitHub Actions workflows: structure, triggers, permissions, and the rules
for self-hosted runners (no pull_request_target, fork code only with a label)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


@pytest.mark.parametrize("name", ["ci.yml", "gpu-benchmarks.yml"])
def test_workflow_is_well_formed(name: str) -> None:
    workflow = load(name)
    assert workflow["name"] and workflow["jobs"]
    assert workflow["permissions"] == {"contents": "read"}
    assert "pull_request_target" not in workflow["on"]
    for job_name, job in workflow["jobs"].items():
        assert job.get("runs-on"), job_name
        assert job.get("timeout-minutes"), job_name
        steps = job["steps"]
        assert steps[0]["uses"].startswith("actions/checkout@")
        for step in steps:
            assert ("uses" in step) != ("run" in step), f"{name}:{job_name}: a step needs exactly one of uses/run"
        if not any("pytest benchmarks" in s.get("run", "") for s in steps):
            continue
        uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
        assert uploads and uploads[0]["if"] == "always()" and uploads[0]["with"]["path"] == "reports/"


def test_ci_runs_tests_and_the_embedded_benchmark_on_every_pr() -> None:
    workflow = load("ci.yml")
    assert "pull_request" in workflow["on"]
    runs = " ".join(s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"])
    assert "pytest tests" in runs
    assert "pytest benchmarks --hw cpu --model smollm2-135m" in runs


def test_gpu_workflow_triggers_runners_and_fork_guard() -> None:
    workflow = load("gpu-benchmarks.yml")
    on = workflow["on"]
    assert set(on) == {"schedule", "workflow_dispatch", "pull_request"}
    assert on["schedule"][0]["cron"]
    assert "labeled" in on["pull_request"]["types"]
    job = workflow["jobs"]["benchmark"]
    assert job["runs-on"][:2] == ["self-hosted", "gpu"] and "matrix.hw" in job["runs-on"][2]
    assert "fromJSON" in job["strategy"]["matrix"]["hw"]
    condition = " ".join(job["if"].split())
    assert "contains(github.event.pull_request.labels.*.name, 'gpu-benchmark')" in condition
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition
    assert "github.event.action == 'labeled'" in condition
    assert job["permissions"] == {"contents": "read"}
    checkout = job["steps"][0]
    assert checkout["with"]["persist-credentials"] is False
    bench = next(s["run"] for s in job["steps"] if "pytest benchmarks" in s.get("run", ""))
    assert "--baseline-compare" in bench and "matrix.hw" in bench
    # workflow_dispatch input reaches the shell through env, never pasted into the script.
    assert "github.event.inputs.extra_args" not in bench


def test_gpu_workflow_submits_only_where_a_registry_is_configured() -> None:
    steps = load("gpu-benchmarks.yml")["jobs"]["benchmark"]["steps"]
    submit = next(s for s in steps if "ob submit" in s.get("run", ""))
    assert submit["if"] == "always() && vars.OPENAIPERF_REGISTRY_URL != ''"
    assert submit["env"]["OPENAIPERF_TOKEN"] == "${{ secrets.OPENAIPERF_TOKEN }}"
    # the token reaches the client through the environment only, never the script's text
    assert "secrets." not in submit["run"] and "ob pack --output" in submit["run"]
    assert submit["continue-on-error"] is True
