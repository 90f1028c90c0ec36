"""The terminal summary: the results table and what the terminal-stage report
writers add (sweep reports, profiled cases' top ops), then the run folder."""

from __future__ import annotations

import os
from typing import Any

import pytest

from openaiperf.plugin.session import SESSION_KEY
from openaiperf.report import run_writers


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not session.results:
        return

    report = session.report(width=max(terminalreporter._tw.fullwidth, 240))
    terminalreporter.write_sep("=", "OpenAIPerf")
    run_writers("terminal", report)
    for text, highlighted in report.lines:
        if text.endswith("\n"):
            terminalreporter.write(text)
        else:
            terminalreporter.write_line(text, yellow=highlighted)
    terminalreporter.write_line(f"reports: {os.path.relpath(report.run_dir)}")
