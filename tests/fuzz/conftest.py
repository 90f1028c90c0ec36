"""The fuzz tests report how many inputs each target tried: a table at the end of the
run (each test's ``inputs_tried`` property, which xdist brings back from its workers)."""

from __future__ import annotations

from typing import Any

TRIED: dict[str, int] = {}


def pytest_runtest_logreport(report: Any) -> None:
    if report.when == "call":
        for name, value in report.user_properties:
            if name == "inputs_tried":
                TRIED[report.nodeid.rsplit("[", 1)[-1].rstrip("]")] = int(value)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TRIED:
        terminalreporter.write_sep("-", "fuzz: inputs tried per target (Hypothesis profile ci)")
        for name, count in TRIED.items():
            terminalreporter.write_line(f"{name:<16} {count:>6}")
        terminalreporter.write_line(f"{'total':<16} {sum(TRIED.values()):>6}")
