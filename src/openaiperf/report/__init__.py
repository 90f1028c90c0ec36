"""Reports: what a run leaves behind in ``reports/<run-id>/``.

- ``results.json``: schema-versioned; the system probe, the run's config, one
  case result per case (:mod:`openaiperf.report.results`);
- ``records/<case-id>.jsonl``: every request of every case, written as it completes;
- what the report writers write at the end of the session: each a :class:`Writer`
  registered by name in :data:`writers` (built in, in this order: ``json``,
  ``history``, ``markdown``, ``html``, ``allure``, then for the terminal
  ``console``, ``sweeps``, ``profile``; see :mod:`openaiperf.report.builtin`);
  another joins with ``@writers.register("name")`` or an ``openaiperf.writers``
  entry point. A writer declares its own command-line options in its ``Options``
  (a :class:`WriterOptions` whose fields are made with
  :func:`openaiperf.settings.setting`): the plugin and ``ob run`` offer them in the
  report group, and the writer reads them as ``self.options``.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from openaiperf.registry import Registry, Requirement, add_registry, unmet
from openaiperf.settings import Settings

if TYPE_CHECKING:
    from openaiperf.result import CaseResult, RunResult, SystemInfo


@dataclass
class RunReport:
    """What the writers get: the run folder and its results document, and what they
    add for the writers after them (the history's trends) and for the terminal (lines)."""

    run_dir: Path
    #: the run's typed results (what results.json holds: ``system``, ``config``, ``cases``)
    document: RunResult
    hardware: str
    #: the repository under test (the history reads its git commit there)
    root: Path
    #: the run's options by name (None for one nobody declared): the writers' ``Options`` are read from it
    option: Callable[[str], Any]
    #: the terminal's width, for tables
    width: int = 240
    #: the results history's trends of the run's cases (the ``history`` writer sets them)
    trends: Any = None
    #: lines for the terminal summary, as (text, highlighted)
    lines: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def results(self) -> list[CaseResult]:
        return list(self.document.cases)

    @property
    def system(self) -> SystemInfo:
        return self.document.system


class WriterOptions(Settings):
    """A writer's own options (none here): a subclass's fields, made with
    :func:`openaiperf.settings.setting`, are flags of the report group."""

    group = "report"


class Writer:
    """Base class of report writers."""

    name: ClassVar[str] = ""
    #: its command-line options; an instance reads them as ``self.options``
    Options: ClassVar[type[WriterOptions]] = WriterOptions
    #: "session": at the end of the session (files); "terminal": in the terminal summary
    stage: ClassVar[str] = "session"
    #: whether it needs case results (a session without any skips it)
    needs_results: ClassVar[bool] = True
    requires: ClassVar[tuple[Requirement, ...]] = ()

    def __init__(self, options: WriterOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()

    def enabled(self, report: RunReport) -> bool:
        """Whether it writes in this run (an option may turn it off)."""
        return True

    def write(self, report: RunReport) -> list[Path]:
        """Write; returns the files written (shown as ``report: PATH`` when the stage is session)."""
        raise NotImplementedError


#: the report-writer registry (its order is the order they run in)
writers: Registry[type[Writer]] = add_registry(Registry(
    "writer", "openaiperf.writers",
    builtins={name: f"openaiperf.report.builtin:{cls}" for name, cls in (
        ("json", "JsonWriter"), ("history", "HistoryWriter"), ("markdown", "MarkdownWriter"),
        ("html", "HtmlWriter"), ("allure", "AllureWriter"), ("console", "ConsoleWriter"),
        ("sweeps", "SweepWriter"), ("profile", "TopOpsWriter"))},
    base=Writer, required=("write",)))


def run_writers(stage: str, report: RunReport) -> list[Path]:
    """Every registered writer of ``stage``, in registry order."""
    written: list[Path] = []
    for name in writers.names():
        cls = writers.get(name)
        writer = cls(cls.Options.from_options(report.option))
        if writer.stage != stage or (writer.needs_results and not report.results) or not writer.enabled(report):
            continue
        missing = unmet(writer.requires)
        if missing:
            # An optional extra not installed leaves out its report, never the others.
            report.lines.append((f"{name} report not written: {missing}", True))
            continue
        written += writer.write(report)
    return written


def new_run_id(hardware: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9_.-]', '_', hardware)}"


def make_run_dir(base: Path, hardware: str) -> Path:
    """A new run folder under ``base``, created atomically: runs started together with the
    same report folder each get their own (``<id>``, ``<id>-2``...), never one another's."""
    run_id = new_run_id(hardware)
    base.mkdir(parents=True, exist_ok=True)
    for suffix in itertools.count(1):
        path = base / (run_id if suffix == 1 else f"{run_id}-{suffix}")
        try:
            path.mkdir()  # exclusive: fails if another run made it first
        except FileExistsError:
            continue
        return path
    raise AssertionError("unreachable")
