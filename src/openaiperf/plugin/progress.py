"""The live progress line of each case, on a terminal only.

At configure time, before pytest captures any output, its stdout is noted; a
case then gets a :class:`~openaiperf.progress.CaseProgress` drawing there when
pytest's terminal reporter writes to a TTY. Not a TTY (CI
logs, pipes), no terminal reporter, or an xdist worker: the progress has no
sink and writes nothing.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from openaiperf.progress import CaseProgress, TerminalLine

STDOUT_KEY = pytest.StashKey[Any]()


def terminal_of(config: pytest.Config) -> Any:
    """pytest's terminal reporter when it draws on a TTY, else None."""
    if hasattr(config, "workerinput"):  # an xdist worker: its output is not a terminal
        return None
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not reporter.isatty():
        return None
    return reporter


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.stash[STDOUT_KEY] = sys.stdout


def case_progress(config: pytest.Config, label: str) -> CaseProgress:
    """The progress of the case ``label``: drawn on the terminal where there is one."""
    reporter = terminal_of(config)
    stream = config.stash.get(STDOUT_KEY, None)
    if reporter is None or stream is None:
        return CaseProgress(label, None)
    writer = reporter._tw
    capture = config.pluginmanager.get_plugin("capturemanager")
    suspend = capture.global_and_fixture_disabled if capture is not None else None
    sink = TerminalLine(stream, column=lambda: writer.width_of_current_line, width=writer.fullwidth,
                        suspend=suspend)
    return CaseProgress(label, sink)
