"""The live progress line through pytest: drawn on a terminal (the terminal
reporter says it writes to a TTY), absent from output that is not one (CI logs,
pipes, pytester's captured output)."""

from __future__ import annotations

from pathlib import Path

import pytest

from openaiperf.progress import SAVE_CURSOR

REPO = Path(__file__).resolve().parents[2]

CONFTEST = """
from scripted_engine import ScriptedEngine

from openaiperf.engines import engines

engines.register("scripted", ScriptedEngine)
"""

#: pretend the terminal is a TTY (the plugin asks when a case starts)
AS_TTY = """

def pytest_sessionstart(session):
    session.config.pluginmanager.get_plugin("terminalreporter").isatty = lambda: True
"""

MATRIX = """
suites:
  - tasks: [summarization.xsum]
    scenarios: [offline]
    engines: [scripted]
    models: [tiny]
    engine_options:
      scripted: {tokens: 3, token_s: 0.0005}
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(scripted_engine=(REPO / "fixtures" / "engines.py").read_text())
    weights = pytester.mkdir("tiny-weights")
    pytester.makefile(".yaml", models=f"tiny:\n  source: {weights}\n  parameters: 1000000\n  dtype: float32\n")
    (pytester.mkdir("benchmarks") / "matrix.yaml").write_text(MATRIX)
    return pytester


def run(suite: pytest.Pytester) -> pytest.RunResult:
    return suite.runpytest("benchmarks", "--hw", "cpu", "--model-file", "models.yaml", "--max-samples", "3",
                           "--warmup-samples", "0", "--report-dir", "out", "--no-history",
                           "-p", "no:cacheprovider")


def test_no_progress_line_when_the_output_is_not_a_terminal(suite):
    suite.makeconftest(CONFTEST)
    result = run(suite)
    result.assert_outcomes(passed=1)
    output = result.stdout.str()
    assert SAVE_CURSOR not in output
    assert "requests · " not in output


def test_progress_line_on_a_terminal_shows_the_round_and_its_requests(suite):
    suite.makeconftest(CONFTEST + AS_TTY)
    result = run(suite)
    result.assert_outcomes(passed=1)
    output = result.stdout.str()
    assert SAVE_CURSOR in output
    assert " 0/3 requests · 0:0" in output and "round 1/1" in output  # drawn when the round begins
