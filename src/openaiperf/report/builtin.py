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

from pydantic import field_validator

from openaiperf.history import record_session_run
from openaiperf.history.location import normalize_url
from openaiperf.profiling import render_top_ops
from openaiperf.registry import Requirement, requirement
from openaiperf.report import RunReport, Writer, WriterOptions, allure
from openaiperf.report.console import render_table
from openaiperf.report.markdown import write_markdown
from openaiperf.report.results import read_results, write_results
from openaiperf.settings import setting
from openaiperf.sweeps.pareto import write_pareto
from openaiperf.sweeps.report import write_sweep_reports


class JsonWriter(Writer):
    """``results.json`` (the session writes it after every case too, so that an
    interrupted run keeps what finished)."""

    def write(self, report: RunReport) -> list[Path]:
        write_results(report.run_dir / "results.json", report.document)
        return []


class HistoryOptions(WriterOptions):
    history: str | None = setting(
        flag="--history", metavar="URL", recorded=False,
        help="results history store the run is written to: sqlite:///PATH, postgresql://USER@HOST/DB or a file path "
             "(default: $OPENAIPERF_HISTORY, else history.sqlite under the user data directory)")
    no_history: bool = setting(False, flag="--no-history", recorded=False,
                               help="do not write the run into the results history (nor show trends in the reports)")

    @field_validator("history")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is not None:
            normalize_url(url)
        return url


class HistoryWriter(Writer):
    """The run into the results history (never fails the run); the cases' trends for the reports."""

    Options = HistoryOptions
    options: HistoryOptions

    def write(self, report: RunReport) -> list[Path]:
        outcome = record_session_run(report.run_dir, report.root, history=self.options.history,
                                     disabled=self.options.no_history)
        report.trends = outcome.trends
        if line := outcome.summary_line():
            report.lines.append((line, bool(outcome.error)))
        return []


class MarkdownWriter(Writer):
    def write(self, report: RunReport) -> list[Path]:
        # as written (secrets masked), not as held in memory
        return write_markdown(report.run_dir, read_results(report.run_dir / "results.json"), trends=report.trends)


class HtmlOptions(WriterOptions):
    no_html_report: bool = setting(False, flag="--no-html-report", recorded=False,
                                   help="do not write report.html into the run folder at the end of the session")


class HtmlWriter(Writer):
    Options = HtmlOptions
    options: HtmlOptions
    requires: ClassVar[tuple[Requirement, ...]] = (
        requirement("jinja2>=3", install="pip install 'openaiperf[report]'"),
        requirement("matplotlib>=3.7", install="pip install 'openaiperf[report]'"))

    def enabled(self, report: RunReport) -> bool:
        return not self.options.no_html_report

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
