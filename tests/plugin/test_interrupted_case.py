"""Ctrl-C inside a case: the case is in results.json as ``interrupted`` with its
records file (every request completed before the interrupt) and the metrics of
what finished, and the session's reports are still written."""

from __future__ import annotations

import json

import pytest
from benchproject import bench_args

# A deterministic test engine (the project's fake_engine.py) that raises KeyboardInterrupt,
# as Ctrl-C would, when asked for its third request.
INTERRUPTING_ENGINE = """
from fake_engine import FakeEngine


class InterruptingEngine(FakeEngine):
    name = "interrupting"
    served = 0

    def run(self, requests, records, on_done):
        for request, record in zip(requests, records):
            if InterruptingEngine.served == 2:
                raise KeyboardInterrupt
            InterruptingEngine.served += 1
            super().run([request], [record], on_done)
"""


def test_an_interrupted_case_is_recorded_with_what_finished(bench_project):
    bench_project.makepyfile(interrupting_engine=INTERRUPTING_ENGINE)
    conftest = bench_project.path / "conftest.py"
    conftest.write_text(conftest.read_text() + "\nfrom interrupting_engine import InterruptingEngine\n"
                        'engines.register("interrupting", InterruptingEngine)\n')
    matrix = bench_project.path / "benchmarks" / "matrix.yaml"
    matrix.write_text(matrix.read_text().replace("engines: [fake]", "engines: [interrupting]"))
    result = bench_project.runpytest(*bench_args("--scenario", "single_stream", "--report-dir", "out"),
                                     no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    (run_dir,) = (bench_project.path / "out").iterdir()
    (case,) = json.loads((run_dir / "results.json").read_text())["cases"]
    assert case["id"] == "summarization.xsum-single_stream-interrupting-fake-tiny"
    assert case["status"] == "interrupted" and "KeyboardInterrupt" in case["error"]
    records = (run_dir / case["records_file"]).read_text().splitlines()
    assert len(records) == 2  # the two requests served before Ctrl-C
    assert case["metrics"]["requests"]["value"] == 2
    assert case["metrics"]["output_tokens"]["value"] == 2 * 12
    assert case["metrics"]["ttft_p50"]["value"] == pytest.approx(20.0, rel=0.1)  # the fake engine's 20 ms
    assert any("interrupted (Ctrl-C) during measurement" in note for note in case["notes"])
    # the session's reports are written all the same
    assert (run_dir / "report.html").exists()
    assert "interrupted" in (run_dir / "pr-comment.md").read_text()
    result.stdout.fnmatch_lines(["*summarization.xsum-single_stream-interrupting-fake-tiny*interrupted*"])
