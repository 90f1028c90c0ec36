"""The built-in report writers (registered in :data:`openaiperf.report.writers`).

Session stage, in order: ``json`` (results.json, final), ``history`` (the run
into the results history; its trends go to the writers after it), ``markdown``
(``pr-comment.md``, ``$GITHUB_STEP_SUMMARY``), ``html`` (``report.html``, unless
``--no-html-report``), ``allure`` (Allure's environment and categories, with
``--alluredir``). Terminal stage: ``console`` (the results table), ``sweeps``
(one table per swept case, the QPS curve), ``profile`` (top ops of profiled cases).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from openaiperf.history import record_session_run
from openaiperf.profiling import render_top_ops
from openaiperf.registry import Requirement, requirement
from openaiperf.report import RunReport, Writer, allure
from openaiperf.report.console import render_table
from openaiperf.report.markdown import write_markdown
from openaiperf.report.results import read_results, write_results
from openaiperf.sweeps.pareto import write_pareto
from openaiperf.sweeps.report import write_sweep_reports


class JsonWriter(Writer):
    """``results.json`` (the session writes it after every case too, so that an
    interrupted run keeps what finished)."""

    def write(self, report: RunReport) -> list[Path]:
        write_results(report.run_dir / "results.json", report.document)
        return []


class HistoryWriter(Writer):
    """The run into the results history (never fails the run); the cases' trends for the reports."""

    def write(self, report: RunReport) -> list[Path]:
        outcome = record_session_run(report.run_dir, report.root, history=report.option("history"),
                                     disabled=report.option("no_history"))
        report.trends = outcome.trends
        if line := outcome.summary_line():
            report.lines.append((line, bool(outcome.error)))
        return []


class MarkdownWriter(Writer):
    def write(self, report: RunReport) -> list[Path]:
        # as written (secrets masked), not as held in memory
        return write_markdown(report.run_dir, read_results(report.run_dir / "results.json"), trends=report.trends)


class HtmlWriter(Writer):
    requires: ClassVar[tuple[Requirement, ...]] = (
        requirement("jinja2>=3", install="pip install 'openaiperf[report]'"),
        requirement("matplotlib>=3.7", install="pip install 'openaiperf[report]'"))

    def enabled(self, report: RunReport) -> bool:
        return not report.option("no_html_report")

    def write(self, report: RunReport) -> list[Path]:
        from openaiperf.report.html import write_html_report  # jinja2, matplotlib: the report extra

        return [write_html_report(report.run_dir, trends=report.trends)]


class AllureWriter(Writer):
    """Allure's ``environment.properties`` and ``categories.json`` (with ``--alluredir``)."""

    needs_results: ClassVar[bool] = False

    def enabled(self, report: RunReport) -> bool:
        return allure._allure() is not None and bool(report.option("allure_report_dir"))

    def write(self, report: RunReport) -> list[Path]:
        allure.write_run_files(Path(report.option("allure_report_dir")), report.system, report.hardware)
        return []


class ConsoleWriter(Writer):
    """The results table."""

    stage: ClassVar[str] = "terminal"

    def write(self, report: RunReport) -> list[Path]:
        report.lines.append((render_table(report.results, title=f"hardware: {report.hardware}", width=report.width),
                             False))
        return []


class SweepWriter(Writer):
    stage: ClassVar[str] = "terminal"

    def write(self, report: RunReport) -> list[Path]:
        paths = write_sweep_reports(report.results, report.run_dir) + write_pareto(report.results, report.run_dir)
        report.lines += [(f"sweep report: {os.path.relpath(path)}", False) for path in paths]
        return paths


class TopOpsWriter(Writer):
    stage: ClassVar[str] = "terminal"

    def write(self, report: RunReport) -> list[Path]:
        if top_ops := render_top_ops(report.results):
            report.lines.append((top_ops, False))
        return []
