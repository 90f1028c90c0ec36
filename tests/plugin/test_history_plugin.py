"""The results history through real ``pytest benchmarks`` runs (fake engine): two runs
land in the store, ``ob history`` lists them and plots the metric, the second run's
reports show the first as its history; a store that cannot be reached leaves the
run passing with a warning, and ``ob history import`` loads it later."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
from benchproject import bench_args

from openaiperf.cli import main as ob

pytest_plugins = ["pytester"]

OFFLINE = "summarization.xsum-offline-fake-fake-tiny"


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "reports").iterdir() if p.is_dir())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def metric(run: Path, name: str) -> float:
    case = json.loads((run / "results.json").read_text())["cases"][0]
    return case["metrics"][name]["value"]


def test_two_runs_then_list_show_plot_and_trends(bench_project: pytest.Pytester, temp_history_store: Path,
                                                 monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    git = ["git", "-C", str(bench_project.path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench project"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()

    first = bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3", "--baseline-save"))
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines([f"history: recorded as run 1 in sqlite:///{temp_history_store}"])
    monkeypatch.setenv("FAKE_SLOWDOWN", "0.15")  # the second run is 15% slower: a regression, and above the range
    second = bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3", "--baseline-compare"))
    second.assert_outcomes(failed=1)
    second.stdout.fnmatch_lines(["history: recorded as run 2 in *"])
    run1, run2 = run_dirs(bench_project.path)

    capsys.readouterr()
    assert ob(["history", "list"]) == 0
    listing = capsys.readouterr().out
    assert f"store: sqlite:///{temp_history_store}" in listing
    assert run1.name in listing and run2.name in listing and "2 run(s)" in listing
    # the commit of the project under test; clean, as untracked files (the new reports/) do not count
    assert listing.count(head[:10]) == 2 and head[:10] + "*" not in listing

    plot = bench_project.path / "tpot.png"
    assert ob(["history", "show", OFFLINE, "--metric", "tpot_p50", "--plot", str(plot)]) == 0
    shown = capsys.readouterr().out
    rows = [line for line in shown.splitlines() if "fake" not in line and " ms " in line]
    assert len(rows) == 2 and "regression" in rows[1] and "regression" not in rows[0]
    assert f"{metric(run1, 'tpot_p50'):.4g} ms" in rows[0] and f"{metric(run2, 'tpot_p50'):.4g} ms" in rows[1]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {plot}" in shown

    # The second run's reports: the first run is its history, and the slowdown is outside it.
    markdown = (run2 / "pr-comment.md").read_text()
    ratio = metric(run2, "tpot_p50") / metric(run1, "tpot_p50")
    assert ratio == pytest.approx(1.15, rel=0.03)
    assert (f"| `{OFFLINE}` | tpot_p50 | {metric(run2, 'tpot_p50'):.4g} ms | {metric(run1, 'tpot_p50'):.4g} ms "
            f"(1 run(s)) | {metric(run1, 'tpot_p50'):.4g} ms | {100 * (ratio - 1):+.1f}% | above the range (worse) |"
            in markdown)
    assert "No earlier runs of these cases" in (run1 / "pr-comment.md").read_text()
    page = (run2 / "report.html").read_text()
    assert "History: each case against its last 10 runs" in page and "(1 earlier run(s))" in page
    assert json.loads((run2 / "run-meta.json").read_text())["git_commit"] == head


def test_unreachable_store_warns_and_the_run_passes(bench_project: pytest.Pytester, temp_history_store: Path,
                                                    capsys) -> None:
    port = closed_port()
    url = f"postgresql://bench:do-not-print-me@127.0.0.1:{port}/perf"
    result = bench_project.runpytest(*bench_args("-k", "offline", "--history", url))
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    (run,) = run_dirs(bench_project.path)
    result.stdout.fnmatch_lines([
        (f"history not written: cannot open history store postgresql+psycopg://***@127.0.0.1:{port}/perf: "
         f"*refused*; load it later with `ob history import --history postgresql+psycopg://***@127.0.0.1:{port}/perf "
         f"*{run.name}`")])
    assert "do-not-print-me" not in result.stdout.str() + result.stderr.str()
    assert not any("do-not-print-me" in p.read_text(errors="replace") for p in run.rglob("*") if p.is_file())
    assert (f"ob history import --history postgresql+psycopg://***@127.0.0.1:{port}/perf {run.resolve()}"
            in (run / "history-not-written.txt").read_text())
    assert "History not available: cannot open history store" in (run / "pr-comment.md").read_text()
    assert (run / "results.json").exists() and (run / "report.html").exists()

    # Later, into the default store:
    capsys.readouterr()
    assert ob(["history", "import", str(run)]) == 0
    assert f"imported {run} as run 1 (1 case(s))" in capsys.readouterr().out
    assert ob(["history", "import", str(bench_project.path / "reports")]) == 0
    assert "already in the store: " in capsys.readouterr().out
    assert ob(["history", "list"]) == 0
    assert run.name in capsys.readouterr().out


def test_no_history_writes_nothing(bench_project: pytest.Pytester, temp_history_store: Path) -> None:
    result = bench_project.runpytest(*bench_args("-k", "offline", "--no-history"))
    result.assert_outcomes(passed=1)
    assert "history" not in result.stdout.str().split("OpenAIPerf")[-1].replace("--no-history", "")
    assert not temp_history_store.exists()
    (run,) = run_dirs(bench_project.path)
    assert "Trend vs recent history" not in (run / "pr-comment.md").read_text()


def test_bad_history_url_is_a_usage_error(bench_project: pytest.Pytester) -> None:
    result = bench_project.runpytest(*bench_args("--history", "mysql://u@h/db"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--history: unsupported history URL scheme 'mysql'*"])


def test_show_names_known_cases_and_metrics(bench_project: pytest.Pytester, capsys) -> None:
    bench_project.runpytest(*bench_args("-k", "offline")).assert_outcomes(passed=1)
    capsys.readouterr()
    assert ob(["history", "show", "summarization.xsum-offline-fake", "--metric", "tpot_p50"]) == 2
    assert f"no case 'summarization.xsum-offline-fake' in the history; did you mean: {OFFLINE}" in (
        capsys.readouterr().err)
    assert ob(["history", "show", OFFLINE, "--metric", "tpot_p5"]) == 2
    error = capsys.readouterr().err
    assert f"--metric: case {OFFLINE} has no metric 'tpot_p5'" in error and "tpot_p50" in error
