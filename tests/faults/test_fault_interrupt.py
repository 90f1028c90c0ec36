"""Ctrl-C in the middle of a case, with every report asked for (``--benchmark-json``,
JUnit, Allure, the history): the session's reports are all still written, the case
is ``interrupted`` and not valid, and no process is left."""

from __future__ import annotations

import json
import sqlite3

import pytest
from harness import bench_argv, interrupted, with_credentials


def test_ctrl_c_during_measurement_keeps_every_report(folder, server):
    server.reset()
    argv = bench_argv(with_credentials(server.url), "--engine-option", "openai:served_model=stub-slow")
    done = interrupted(folder, argv, ready=lambda: server.stats()["requests"] >= 4)
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.output
    assert "min() arg is an empty sequence" not in done.output
    (run_dir,) = done.run_dirs()
    case = done.case()
    assert case["status"] == "interrupted" and case["valid"] is False
    assert "interrupted during measurement" in case["error"]
    for name in ("report.html", "pr-comment.md", "run-meta.json", "results.json"):
        assert (run_dir / name).exists(), name
    out = folder / "out"
    assert json.loads((out / "bench.json").read_text())["benchmarks"] == []  # no timings from a cut round
    assert (out / "junit.xml").exists() and list((out / "allure").glob("*-result.json"))
    with sqlite3.connect(folder / "history.sqlite") as db:
        assert db.execute("select status from ob_cases").fetchall() == [("interrupted",)]
    done.assert_clean()
