"""The GitHub Actions workflows: structure, triggers, permissions, the rules for
self-hosted runners (no pull_request_target, fork code only with a label), the pull
request's interleaved A/B and its comment posted by a separate workflow, and actionlint
and zizmor over them all (as `make lint` runs them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"


def load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


@pytest.mark.parametrize("name", ["ci.yml", "gpu-benchmarks.yml", "gpu-benchmarks-comment.yml"])
def test_workflow_is_well_formed(name: str) -> None:
    workflow = load(name)
    assert workflow["name"] and workflow["jobs"]
    assert workflow["permissions"] in ({"contents": "read"}, {})
    assert "pull_request_target" not in workflow["on"]
    for job_name, job in workflow["jobs"].items():
        assert job.get("runs-on"), job_name
        assert job.get("timeout-minutes"), job_name
        steps = job["steps"]
        if name != "gpu-benchmarks-comment.yml":  # the comment never checks out the pull request's code
            assert steps[0]["uses"].startswith("actions/checkout@")
        for step in steps:
            # every action pinned to a commit (a tag can be moved), its version in a comment
            assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", step.get("uses", "x@" + "0" * 40)), step["uses"]
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
        for step in steps:
            assert ("uses" in step) != ("run" in step), f"{name}:{job_name}: a step needs exactly one of uses/run"
        if not any("pytest benchmarks" in s.get("run", "") for s in steps):
            continue
        uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
        assert any(u["if"] == "always()" and u["with"]["path"] == "reports/" for u in uploads), job_name


def test_ci_runs_exactly_make_test_and_the_embedded_benchmark_on_every_pr() -> None:
    workflow = load("ci.yml")
    assert "pull_request" in workflow["on"]
    runs = [s["run"] for s in workflow["jobs"]["tests"]["steps"] if "run" in s]
    assert runs == ["make test"]  # what .ci/run runs: no pytest line of its own
    assert "exec make test" in (REPO / ".ci" / "run").read_text()
    bench = " ".join(s.get("run", "") for s in workflow["jobs"]["embedded-benchmark"]["steps"])
    assert bench.strip().startswith("make bench ") and "--model smollm2-135m" in bench
    assert "pytest" not in " ".join(s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"])


def test_gpu_workflow_triggers_runners_and_fork_guard() -> None:
    workflow = load("gpu-benchmarks.yml")
    on = workflow["on"]
    assert set(on) == {"schedule", "workflow_dispatch", "pull_request"}
    assert on["schedule"][0]["cron"]
    assert "labeled" in on["pull_request"]["types"]
    nightly = workflow["jobs"]["nightly"]
    assert nightly["if"] == "github.event_name != 'pull_request'"
    assert nightly["runs-on"][:2] == ["self-hosted", "gpu"] and "matrix.hw" in nightly["runs-on"][2]
    assert "fromJSON" in nightly["strategy"]["matrix"]["hw"]
    bench = next(s["run"] for s in nightly["steps"] if "pytest benchmarks" in s.get("run", ""))
    assert "--baseline-compare" in bench and '--hw "$HW"' in bench
    # inputs and matrix values reach the shell through env, never pasted into the script
    assert "${{" not in bench
    job = workflow["jobs"]["pull-request-ab"]
    assert job["runs-on"][:2] == ["self-hosted", "gpu"]
    condition = " ".join(job["if"].split())
    assert "contains(github.event.pull_request.labels.*.name, 'gpu-benchmark')" in condition
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition
    assert "github.event.action == 'labeled'" in condition
    assert condition.startswith("github.event_name == 'pull_request' &&")
    assert job["permissions"] == {"contents": "read"}


def test_a_pull_request_compares_its_head_with_its_base_interleaved_on_one_runner() -> None:
    job = load("gpu-benchmarks.yml")["jobs"]["pull-request-ab"]
    steps = job["steps"]
    checkouts = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 2 and checkouts[1]["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    base = checkouts[1]["with"]["path"]
    install = next(s["run"] for s in steps if "python -m venv" in s.get("run", ""))
    assert "python -m venv .venv" in install and f"python -m venv {base}/.venv" in install
    servers = next(s["run"] for s in steps if "ab_server.sh start" in s.get("run", ""))
    assert f"start {base}/.venv/bin/python 8100" in servers and "start .venv/bin/python 8101" in servers
    bench = next(s["run"] for s in steps if "pytest benchmarks" in s.get("run", ""))
    assert "--endpoint http://127.0.0.1:8100 --ab-endpoint http://127.0.0.1:8101" in " ".join(bench.split())
    assert "--baseline" not in bench and "${{" not in bench
    uploads = {s["with"]["name"]: s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")}
    verdict = uploads["ab-verdict-${{ matrix.hw }}"]
    assert verdict["if"] == "always()" and verdict["with"]["path"] == "verdict/"
    # the benchmark job can read and nothing else: the comment is another workflow's
    assert job["permissions"] == {"contents": "read"}
    assert not any("gh pr comment" in s.get("run", "") for s in steps)
    assert (REPO / "scripts" / "ab_server.sh").stat().st_mode & 0o111


def test_the_verdict_is_commented_by_a_separate_workflow_run_workflow() -> None:
    workflow = load("gpu-benchmarks-comment.yml")
    assert workflow["on"] == {"workflow_run": {"workflows": ["gpu-benchmarks"], "types": ["completed"]}}
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert job["if"] == "github.event.workflow_run.event == 'pull_request'"
    runs = [s["run"] for s in job["steps"]]
    assert not any("uses" in s for s in job["steps"])  # no checkout: the pull request's code never runs here
    assert "gh run download" in runs[0] and "ab-verdict-" in runs[0]
    # the artifact is data: the number checked, the pull request's head the benchmarked commit
    assert "^[0-9]+$" in runs[1] and "HEAD_SHA" in runs[1] and "--body-file" in runs[1]
    assert "${{" not in " ".join(runs)


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.skip(f"{name} is not installed (the lint extra: pip install -e '.[lint]')")
    return str(path)


@pytest.mark.parametrize("command", [["actionlint"], ["zizmor", "--offline", "--quiet", ".github/workflows"]])
def test_the_workflows_pass_actionlint_and_zizmor(command: list[str]) -> None:
    """What `make lint` runs; actionlint knows the self-hosted runners' labels from
    .github/actionlint.yaml, and zizmor finds no unpinned action, template injection or
    excessive permission."""
    done = subprocess.run([tool(command[0]), *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    makefile = (REPO / "Makefile").read_text()
    assert f"$(VENV)/bin/{' '.join(command)}" in makefile
    labels = yaml.safe_load((REPO / ".github" / "actionlint.yaml").read_text())["self-hosted-runner"]["labels"]
    assert {"gpu", "h100", "h200"} <= set(labels)


def test_gpu_workflow_submits_only_where_a_registry_is_configured() -> None:
    steps = load("gpu-benchmarks.yml")["jobs"]["nightly"]["steps"]
    submit = next(s for s in steps if "ob submit" in s.get("run", ""))
    assert submit["if"] == "always() && vars.OPENAIPERF_REGISTRY_URL != ''"
    assert submit["env"]["OPENAIPERF_TOKEN"] == "${{ secrets.OPENAIPERF_TOKEN }}"
    # the token reaches the client through the environment only, never the script's text
    assert "secrets." not in submit["run"] and "ob pack --output" in submit["run"]
    assert submit["continue-on-error"] is True
