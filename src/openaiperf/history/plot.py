"""Figures of the history (matplotlib, headless).

- :func:`metric_over_runs`: one metric of one case over its runs (``ob history show --plot``),
  one line per hardware profile, each point marked with its baseline verdict, hollow
  when the case failed or was INVALID, and a dotted line where the engine version changed;
- :func:`sparkline_svg`: one metric of a case over its last runs as inline SVG, the
  current run highlighted (a column of the HTML report's history table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from openaiperf.history.store import Point
from openaiperf.history.trends import MetricTrend
from openaiperf.report import figures  # noqa: F401 - selects matplotlib's headless backend

#: baseline verdict -> (marker, colour, legend label)
VERDICT_STYLE: dict[str | None, tuple[str, str, str]] = {
    "regression": ("X", "#dc2626", "regression"),
    "inconclusive": ("D", "#d97706", "inconclusive"),
    "no regression": ("o", "#16a34a", "no regression"),
    None: ("o", "#111827", "not compared"),
}
LINE_COLOURS = ("#64748b", "#0891b2", "#ca8a04", "#7c3aed", "#db2777")


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


def sparkline_svg(metric: MetricTrend, width: int = 140, height: int = 30) -> str | None:
    """One metric over the case's last runs as a small inline SVG (the HTML report's
    history table): the runs (grey line; a regression a red cross, a failed or INVALID
    run hollow), their median (dashed) and this run (orange dot, right-most). Drawn as
    markup, not with matplotlib, so that a report of many cases stays fast."""
    history = [(p, p.value) for p in metric.points if p.value is not None]
    current, median = metric.current, metric.median
    if current is None or not history:
        return None
    drawn = [*(value for _, value in history), current, *([median] if median is not None else [])]
    low, high = min(drawn), max(drawn)
    span = (high - low) or abs(high) or 1.0
    pad = 4.0

    def x(index: int) -> float:
        return pad + index * (width - 2 * pad) / len(history)

    def y(value: float) -> float:
        return height - pad - (value - low) / span * (height - 2 * pad)

    line = " ".join(f"{x(i):.1f},{y(value):.1f}" for i, (_, value) in enumerate(history))
    parts = [f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f"<title>{metric.metric}: {len(history)} earlier run(s) and this run</title>"]
    if median is not None:
        parts.append(f'<line x1="{pad}" x2="{width - pad}" y1="{y(median):.1f}" y2="{y(median):.1f}" '
                     'stroke="#94a3b8" stroke-dasharray="3 2" stroke-width="0.8"/>')
    parts.append(f'<polyline points="{line}" fill="none" stroke="#64748b" stroke-width="1.2"/>')
    for i, (point, value) in enumerate(history):
        cx, cy = x(i), y(value)
        if point.verdict == "regression":
            parts.append(f'<path d="M{cx - 3:.1f},{cy - 3:.1f}l6,6m0,-6l-6,6" stroke="#dc2626" stroke-width="1.5"/>')
        else:
            fill = "#64748b" if point.usable else "white"
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="1.8" fill="{fill}" stroke="#64748b"/>')
    parts.append(f'<circle cx="{x(len(history)):.1f}" cy="{y(current):.1f}" r="3.2" fill="#f97316"/>')
    parts.append("</svg>")
    return "".join(parts)


def save_png(figure: Figure, path: Any) -> None:
    figure.savefig(path, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
