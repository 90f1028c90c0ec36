"""How a run's values sit against the recent history of the same cases.

For each case of a run, the headline metrics of its last N runs on the same
hardware profile (the current run left out), and for each metric the median and
range of those runs' values and where the current value falls:

    ttft_p50 412 ms vs median 405 ms of the last 10 runs (range 398–430): +1.7%, within the range

Only passed, valid cases count in the statistics; failed or INVALID runs are
still listed (and drawn hollow).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from openaiperf.history.store import HistoryStore, Point, parse_created, run_key
from openaiperf.metrics.catalogue import catalogue
from openaiperf.result import RunResult

DEFAULT_LAST_N = 10


#: fewer earlier valid runs than this make no range worth calling a value outside of
MIN_RUNS_FOR_RANGE = 3


def format_value(value: float | None, unit: str | None) -> str:
    if value is None:
        return "-"
    if unit == "fraction":
        return f"{100 * value:.3g}%"
    number = f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    return f"{number} {unit}" if unit else number


def format_range(low: float | None, high: float | None, unit: str | None) -> str:
    if low is None or high is None:
        return "-"
    return format_value(low, unit) if low == high else f"{format_value(low, unit)}–{format_value(high, unit)}"


@dataclass
class MetricTrend:
    metric: str
    unit: str | None
    better: str | None
    current: float | None
    points: list[Point] = field(default_factory=list)  # oldest first, the current run excluded

    @property
    def values(self) -> list[float]:
        return [p.value for p in self.points if p.usable and p.value is not None]

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def low(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def high(self) -> float | None:
        return max(self.values) if self.values else None

    @property
    def change(self) -> float | None:
        """Relative change of the current value from the history's median."""
        if self.current is None or not self.median:
            return None
        return self.current / self.median - 1.0

    @property
    def side(self) -> str | None:
        """``above`` / ``below`` the history's range, ``within`` it, or None without history."""
        if self.current is None or not self.values:
            return None
        if self.current > self.high:  # type: ignore[operator]
            return "above"
        if self.current < self.low:  # type: ignore[operator]
            return "below"
        return "within"

    @property
    def outcome(self) -> str | None:
        """``worse`` / ``better`` when outside the range in a direction that matters, else None."""
        if self.side in (None, "within") or self.better not in ("lower", "higher"):
            return None
        return "worse" if (self.side == "above") == (self.better == "lower") else "better"

    def position(self) -> str:
        if self.current is None:
            return "no current value"
        if not self.values:
            return "no earlier valid runs"
        text = f"{self.side} the range"
        return f"{text} ({self.outcome})" if self.outcome else text

    def sentence(self) -> str:
        """``ttft_p50 412 ms vs median 405 ms of the last 10 runs (range 398–430): +1.7%, within the range``"""
        if self.current is None or not self.values:
            return f"{self.metric} {format_value(self.current, self.unit)}: {self.position()}"
        change = f"{100 * self.change:+.1f}%, " if self.change is not None else ""
        return (f"{self.metric} {format_value(self.current, self.unit)} vs median "
                f"{format_value(self.median, self.unit)} of the last {len(self.values)} run(s) "
                f"(range {format_range(self.low, self.high, self.unit)}): {change}{self.position()}")


@dataclass
class CaseTrend:
    case_id: str
    hardware: str | None
    metrics: list[MetricTrend] = field(default_factory=list)

    @property
    def runs(self) -> int:
        """Earlier runs of this case in the store (within the last N)."""
        return len({p.run_id for m in self.metrics for p in m.points})


@dataclass
class HistoryTrends:
    """The trends of one run's cases, or why there are none (``error``)."""

    store: str | None  # the store's URL, password hidden; None: history off
    limit: int = DEFAULT_LAST_N
    cases: dict[str, CaseTrend] = field(default_factory=dict)
    error: str | None = None

    @property
    def outside(self) -> list[tuple[str, MetricTrend]]:
        """(case id, metric) of every current value outside its recent range on the worse side,
        where that range holds at least :data:`MIN_RUNS_FOR_RANGE` runs; the farthest first."""
        found = [(cid, m) for cid, case in self.cases.items() for m in case.metrics
                 if m.outcome == "worse" and len(m.values) >= MIN_RUNS_FOR_RANGE]
        return sorted(found, key=lambda cm: -abs(cm[1].change or 0.0))


def current_run_key(run: RunResult, run_name: str) -> str:
    return run_key(run_name, parse_created(run.created))


def case_trends(store: HistoryStore, run: RunResult, run_name: str, *, limit: int = DEFAULT_LAST_N,
                metrics: Sequence[str] | None = None) -> HistoryTrends:
    """Trends of every case of ``run`` (the run folder ``run_name``), read from ``store``: of
    ``metrics``, by default the catalogue's trend metrics and the quality metrics a task file
    gave a label (read now: a metric declared after import is followed too)."""
    metrics = catalogue.names("trend") if metrics is None else metrics
    trends = HistoryTrends(store=store.shown_url, limit=limit)
    exclude = current_run_key(run, run_name)
    for case in run.cases:
        labelled = [name for name, m in case.metrics.items() if m.label and name not in metrics]
        names = [m for m in [*metrics, *labelled] if case.value(m) is not None]
        if not names:
            continue
        history = store.recent_points(case.id, case.hardware, names, limit, exclude_run_key=exclude)
        trends.cases[case.id] = CaseTrend(case.id, case.hardware, [
            MetricTrend(name, case.metrics[name].unit, case.metrics[name].better.value, case.value(name),
                        history.get(name, [])) for name in names])
    return trends


def markdown_lines(trends: HistoryTrends | None) -> list[str]:
    """The PR comment's section: one line on values outside their recent range, and the
    per-case table in a collapsed block."""
    if trends is None:
        return []
    lines = ["### Trend vs recent history", ""]
    if trends.error:
        return [*lines, f"History not available: {trends.error}", ""]
    with_history = {cid: c for cid, c in trends.cases.items() if c.runs}
    if not with_history:
        return [*lines, f"No earlier runs of these cases in the history store ({trends.store}).", ""]
    outside = trends.outside
    if outside:
        lines.append(f"{len(outside)} value(s) outside the range of their recent runs, on the worse side "
                     "(informative: the baseline comparison is the gate):")
        lines += [f"- `{cid}`: {m.sentence()}" for cid, m in outside]
    else:
        lines.append(f"No value outside the range of its recent runs on the worse side (ranges of at least "
                     f"{MIN_RUNS_FOR_RANGE} earlier valid runs).")
    lines += ["", f"<details><summary>Each case against its last {trends.limit} runs ({trends.store})</summary>", "",
              "| case | metric | current | median | range | vs median | position |",
              "|---|---|---:|---:|---|---:|---|"]
    for cid, case in with_history.items():
        for m in case.metrics:
            if not m.values:
                lines.append(f"| `{cid}` | {m.metric} | {format_value(m.current, m.unit)} | - | - | - | "
                             f"{m.position()} |")
                continue
            change = f"{100 * m.change:+.1f}%" if m.change is not None else "-"
            lines.append(f"| `{cid}` | {m.metric} | {format_value(m.current, m.unit)} | "
                         f"{format_value(m.median, m.unit)} ({len(m.values)} run(s)) | "
                         f"{format_range(m.low, m.high, m.unit)} | {change} | {m.position()} |")
    lines += ["", "</details>", ""]
    return lines
