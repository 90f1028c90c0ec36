"""Figures of the history (matplotlib, headless).

- :func:`metric_over_runs`: one metric of one case over its runs (``ob history show --plot``),
  one line per hardware profile, each point marked with its baseline verdict, hollow
  when the case failed or was INVALID, and a dotted line where the engine version changed;
- :func:`sparklines`: a case's headline metrics over its last runs, the current run
  highlighted (the HTML report's history section).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from openaiperf.history.store import Point
from openaiperf.history.trends import CaseTrend
from openaiperf.report import figures  # noqa: F401 - selects matplotlib's headless backend

#: baseline verdict -> (marker, colour, legend label)
VERDICT_STYLE: dict[str | None, tuple[str, str, str]] = {
    "regression": ("X", "#dc2626", "regression"),
    "inconclusive": ("D", "#d97706", "inconclusive"),
    "no regression": ("o", "#16a34a", "no regression"),
    None: ("o", "#111827", "not compared"),
}
LINE_COLOURS = ("#64748b", "#0891b2", "#ca8a04", "#7c3aed", "#db2777")
#: the HTML report's history figure stays within a page's width
SPARKLINES_PER_ROW = 4


def _label(point: Point) -> str:
    commit = (point.git_commit or "")[:7] + ("*" if point.git_dirty else "")
    return f"{point.created:%m-%d %H:%M}\n{commit or 'no commit'}"


def _scale(values: Sequence[float], unit: str | None) -> tuple[list[float], str | None]:
    if unit == "fraction":
        return [100 * v for v in values], "%"
    return list(values), unit


def metric_over_runs(series: dict[str, list[Point]], case_id: str, metric: str) -> Figure | None:
    """``series``: hardware profile -> points, oldest first. None when no point has a value."""
    series = {k: v for k, v in series.items() if any(p.value is not None for p in v)}
    if not series:
        return None
    # One x position per run, in time order across all series, so runs of several profiles interleave.
    runs = sorted({(p.created, p.run_id): p for points in series.values() for p in points}.items())
    position = {key: i for i, (key, _) in enumerate(runs)}
    figure, axes = plt.subplots(figsize=(max(7.0, min(16.0, 0.55 * len(runs) + 3)), 4.2))
    unit = next(p.unit for points in series.values() for p in points if p.value is not None)
    used_verdicts: set[str | None] = set()
    for index, (hardware, points) in enumerate(series.items()):
        shown = [p for p in points if p.value is not None]
        xs = [position[(p.created, p.run_id)] for p in shown]
        ys, shown_unit = _scale([p.value for p in shown], unit)  # type: ignore[misc]
        colour = LINE_COLOURS[index % len(LINE_COLOURS)]
        axes.plot(xs, ys, color=colour, linewidth=1.4, alpha=0.8, zorder=1,
                  label=f"{hardware}" if len(series) > 1 else None)
        for x, y, point in zip(xs, ys, shown):
            marker, edge, _ = VERDICT_STYLE.get(point.verdict, VERDICT_STYLE[None])
            used_verdicts.add(point.verdict if point.verdict in VERDICT_STYLE else None)
            face = edge if point.usable else "white"
            axes.scatter([x], [y], marker=marker, s=70, facecolors=face, edgecolors=edge, linewidths=1.5, zorder=3)
        previous = None
        for x, point in zip(xs, shown):
            if previous is not None and point.engine_version and point.engine_version != previous:
                changed = [p for p in point.engine_version.split(", ") if p not in previous.split(", ")]
                axes.axvline(x - 0.5, color="#9ca3af", linestyle=":", linewidth=1, zorder=0)
                axes.annotate(", ".join(changed) or point.engine_version, (x - 0.5, 0.98),
                              xycoords=("data", "axes fraction"), fontsize=7, rotation=90, va="top", ha="center",
                              color="#374151", bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                                                     "alpha": 0.85}, zorder=4)
            previous = point.engine_version or previous
    axes.set_xticks(range(len(runs)))
    axes.set_xticklabels([_label(point) for _, point in runs], fontsize=7)
    if len(runs) > 14:  # at most ~14 labels, evenly spaced back from the newest run
        step = -(-len(runs) // 14)
        for i, label in enumerate(axes.get_xticklabels()):
            label.set_visible((len(runs) - 1 - i) % step == 0)
    _, shown_unit = _scale([], unit)
    axes.set_ylabel(f"{metric} ({shown_unit})" if shown_unit else metric)
    axes.set_xlabel("run (time, commit; * = uncommitted changes)")
    axes.set_title(f"{case_id}: {metric}", fontsize=10)
    axes.grid(alpha=0.3)
    handles = [Line2D([], [], linestyle="", marker=VERDICT_STYLE[v][0], markersize=8,
                      markerfacecolor=VERDICT_STYLE[v][1], markeredgecolor=VERDICT_STYLE[v][1],
                      label=f"baseline: {VERDICT_STYLE[v][2]}")
               for v in VERDICT_STYLE if v in used_verdicts]
    if any(not p.usable for points in series.values() for p in points if p.value is not None):
        handles.append(Line2D([], [], linestyle="", marker="o", markersize=8, markerfacecolor="white",
                              markeredgecolor="#111827", label="failed or INVALID"))
    if len(series) > 1:
        handles += [Line2D([], [], color=LINE_COLOURS[i % len(LINE_COLOURS)], label=name)
                    for i, name in enumerate(series)]
    axes.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return figure


def sparklines(trend: CaseTrend) -> Figure | None:
    """One small panel per headline metric: the last runs (grey), their median (dashed)
    and the current value (orange star, right-most)."""
    panels = [m for m in trend.metrics if m.current is not None]
    if not panels or not trend.runs:
        return None
    columns = min(len(panels), SPARKLINES_PER_ROW)
    rows = -(-len(panels) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(2.4 * columns, 1.8 * rows), squeeze=False)
    for axes in grid.flat[len(panels):]:
        axes.set_visible(False)
    for axes, metric in zip(grid.flat, panels):
        history = [p for p in metric.points if p.value is not None]
        ys, unit = _scale([p.value for p in history], metric.unit)  # type: ignore[misc]
        (current,), _ = _scale([metric.current], metric.unit)  # type: ignore[list-item]
        axes.plot(range(len(ys)), ys, color="#64748b", marker="o", markersize=3, linewidth=1)
        for x, (y, point) in enumerate(zip(ys, history)):
            if point.verdict == "regression" or not point.usable:
                colour = "#dc2626" if point.verdict == "regression" else "#111827"
                axes.scatter([x], [y], marker="X" if point.verdict == "regression" else "o", s=30,
                             facecolors="white" if not point.usable else colour, edgecolors=colour, zorder=3)
        if metric.median is not None:
            (median,), _ = _scale([metric.median], metric.unit)
            axes.axhline(median, color="#94a3b8", linestyle="--", linewidth=0.8)
        axes.scatter([len(ys)], [current], marker="*", s=120, color="#f97316", zorder=4)
        axes.set_title(f"{metric.metric} ({unit})" if unit else metric.metric, fontsize=8)
        axes.tick_params(labelsize=6)
        axes.set_xticks([])
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def save_png(figure: Figure, path: Any) -> None:
    figure.savefig(path, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
