"""Figures of a run (matplotlib, headless): a case's latency CDF and TTFT/TPOT
histograms (Allure), small multiples of many cases' latency CDFs (one panel per
case, shared axes), and throughput vs latency (one point per case). Each returns
a Figure or None when there is nothing to draw; :func:`png_bytes` / :func:`data_uri` encode it."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from openaiperf.result import CaseResult  # noqa: E402


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def data_uri(figure: Figure) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(figure)).decode("ascii")


def legend_outside(axes: Any) -> None:
    """The legend right of the plot: with many cases an inner legend hides the lines."""
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def log_scale_if_wide(axes: Any, values: Sequence[float]) -> None:
    """Latencies of offline and streaming cases differ by orders of magnitude: a log axis keeps both readable."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > 100:
        axes.set_xscale("log")


def latency_cdf(latencies: dict[str, dict[str, list[float]]], metric: str = "e2e") -> Figure | None:
    """CDF of one per-request latency (ms), one line per case."""
    series = {case: np.sort(values[metric]) for case, values in latencies.items() if values.get(metric)}
    if not series:
        return None
    figure, axes = plt.subplots(figsize=(7, 3.6))
    for case, values in series.items():
        axes.step(values, np.arange(1, values.size + 1) / values.size, where="post", label=case)
    axes.set_xlabel(f"{metric.upper()} latency (ms)")
    axes.set_ylabel("fraction of requests")
    axes.set_title(f"{metric.upper()} latency CDF")
    axes.grid(alpha=0.3)
    log_scale_if_wide(axes, [float(v) for values in series.values() for v in values])
    legend_outside(axes)
    return figure


def ttft_tpot_histograms(latencies: dict[str, dict[str, list[float]]]) -> Figure | None:
    """Side by side histograms of TTFT and TPOT (ms), cases overlaid."""
    if not any(v.get("ttft") or v.get("tpot") for v in latencies.values()):
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    for axes, metric in ((left, "ttft"), (right, "tpot")):
        for case, values in latencies.items():
            if values.get(metric):
                axes.hist(values[metric], bins=min(30, max(5, len(values[metric]))), alpha=0.55, label=case)
        axes.set_xlabel(f"{metric.upper()} (ms)")
        axes.set_ylabel("requests")
        axes.set_title(f"{metric.upper()} distribution")
        axes.grid(alpha=0.3)
    legend_outside(right)
    return figure


#: one colour per engine (in order of appearance) and one marker per scenario, the same in every figure
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#475569")
SCENARIO_MARKERS = {"offline": "s", "single_stream": "o", "multi_stream": "D", "server": "^", "interactive": "v"}
#: the latencies a small-multiples panel draws, with their colours
PANEL_LATENCIES = (("ttft", "TTFT", "#2563eb"), ("tpot", "TPOT", "#16a34a"), ("e2e", "E2E", "#9333ea"))
PANEL_COLUMNS = 5


def colours(names: Sequence[str]) -> dict[str, str]:
    """A colour per name, in order of first appearance."""
    ordered = list(dict.fromkeys(names))
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(ordered)}


def marker(scenario: str) -> str:
    return SCENARIO_MARKERS.get(scenario, "P")


@dataclass
class Panel:
    """One case's panel in a small-multiples grid: its title, per-request latencies (ms)
    and a flag shown in red ("INVALID", "failed"...) or ""."""

    title: str
    latencies: dict[str, list[float]]
    flag: str = ""


def small_multiples(panels: Sequence[Panel], columns: int = PANEL_COLUMNS) -> Figure | None:
    """One small panel per case: the CDFs of its per-request TTFT, TPOT and E2E latency.
    The panels share both axes (a log latency axis when the values span more than 100x),
    so the cases of a group compare at a glance. None when no panel has a latency to draw."""
    every = [v for panel in panels for name, _, _ in PANEL_LATENCIES for v in panel.latencies.get(name) or []]
    if not every:
        return None
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    width, height, top = 2.6 * columns, 2.1 * rows + 0.7, 0.35  # inches; ``top``: the legend's strip
    figure, grid = plt.subplots(rows, columns, figsize=(max(width, 4.0), height), sharex=True, sharey=True,
                                squeeze=False)
    for axes in grid.flat[len(panels):]:
        axes.set_visible(False)
    for axes, panel in zip(grid.flat, panels, strict=False):  # the grid may have more cells than panels
        drawn = False
        for name, label, colour in PANEL_LATENCIES:
            values = np.sort(np.asarray(panel.latencies.get(name) or [], dtype=float))
            if values.size:
                axes.step(values, np.arange(1, values.size + 1) / values.size, where="post", color=colour,
                          linewidth=1.2, label=label)
                drawn = True
        if not drawn:
            axes.text(0.5, 0.5, "no measured requests", ha="center", va="center", fontsize=8, color="#6b7280",
                      transform=axes.transAxes)
        title = f"{panel.title}\n{panel.flag}" if panel.flag else panel.title
        axes.set_title(title, fontsize=8, color="#b91c1c" if panel.flag else "#111827")
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
        axes.set_ylim(0, 1.02)
    log_scale_if_wide(grid.flat[0], every)
    figure.supxlabel("latency (ms)" + (", log scale" if grid.flat[0].get_xscale() == "log" else ""), fontsize=8)
    figure.supylabel("fraction of requests", fontsize=8)
    handles = [Line2D([], [], color=colour, label=label) for _, label, colour in PANEL_LATENCIES]
    figure.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=8, frameon=False,
                  bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout(rect=(0, 0, 1, 1 - top / height))
    return figure


def number_ranges(numbers: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3,7"``."""
    ordered = sorted(set(numbers))
    parts: list[str] = []
    start = previous = ordered[0]
    for number in [*ordered[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if number is not None:
            start = previous = number
    return ",".join(parts)


def label_points(axes: Any, points: Sequence[tuple[int, float, float]], radius_px: float = 10.0) -> None:
    """Label each point with its number; points that sit on top of each other (within
    ``radius_px`` on screen) share one label ("1-3,7") instead of overprinting."""
    if not points:
        return
    axes.autoscale_view()
    screen = axes.transData.transform([(x, y) for _, x, y in points])
    clusters: list[list[int]] = []
    for index, (x, y) in enumerate(screen):
        for cluster in clusters:
            cx, cy = screen[cluster[0]]
            if (x - cx) ** 2 + (y - cy) ** 2 <= radius_px ** 2:
                cluster.append(index)
                break
        else:
            clusters.append([index])
    for cluster in clusters:
        _, x, y = points[cluster[0]]
        axes.annotate(number_ranges([points[i][0] for i in cluster]), (x, y), fontsize=7, xytext=(5, 3),
                      textcoords="offset points")


@dataclass
class ThroughputPoint:
    """One case in the throughput-vs-latency view: its number in the report's case
    table, engine, scenario, the sweep it belongs to (its base id), output tokens/s,
    and its TTFT and TPOT p50 and p90 (ms)."""

    number: int
    engine: str
    scenario: str
    series: str
    throughput: float
    latency: dict[str, tuple[float | None, float | None]]


def throughput_point(number: int, case: CaseResult) -> ThroughputPoint | None:
    """The case as a point (None without output tokens/s or any TTFT/TPOT percentile)."""
    throughput = case.value("output_tokens_per_s")
    latency = {name: (case.value(f"{name}_p50"), case.value(f"{name}_p90")) for name in ("ttft", "tpot")}
    if not throughput or all(p50 is None for p50, _ in latency.values()):
        return None
    return ThroughputPoint(number, case.engine, case.scenario, case.base_id, throughput, latency)


def throughput_vs_latency(points: Sequence[ThroughputPoint]) -> Figure | None:
    """Output tokens/s against TTFT (left) and TPOT (right), one point per case at its
    p50 with a bar up to its p90, coloured by engine, shaped by scenario, labelled with
    its number in the case table; the variants of one sweep (e.g. QPS targets) joined.
    None without points."""
    if not points:
        return None
    engine_colour = colours([p.engine for p in points])
    figure, panes = plt.subplots(1, 2, figsize=(12.5, 4.6))
    for axes, (name, label) in zip(panes, (("ttft", "TTFT"), ("tpot", "TPOT")), strict=True):
        ys: list[float] = []
        for series in dict.fromkeys(p.series for p in points):
            members = sorted((p for p in points if p.series == series and p.latency[name][0] is not None),
                             key=lambda p: p.throughput)
            if len(members) >= 2:  # a sweep: its variants as a curve
                axes.plot([p.throughput for p in members], [p.latency[name][0] for p in members],
                          color=engine_colour[members[0].engine], linewidth=0.8, alpha=0.6, linestyle="--")
        for p in points:
            p50, p90 = p.latency[name]
            if p50 is None:
                continue
            colour = engine_colour[p.engine]
            if p90 is not None and p90 > p50:
                axes.vlines(p.throughput, p50, p90, color=colour, linewidth=1.0, alpha=0.7)
                axes.scatter([p.throughput], [p90], marker="_", s=60, color=colour)
                ys.append(p90)
            axes.scatter([p.throughput], [p50], marker=marker(p.scenario), s=42, color=colour, edgecolors="white",
                         linewidths=0.6, zorder=3)
            ys.append(p50)
        axes.set_xlabel("output throughput (tokens/s)")
        axes.set_ylabel(f"{label} (ms): p50, bar to p90")
        axes.set_title(f"Throughput vs {label}")
        axes.grid(alpha=0.3, which="both")
        log_scale_if_wide(axes, [p.throughput for p in points])
        positive = [y for y in ys if y > 0]
        if positive and max(positive) / min(positive) > 100:
            axes.set_yscale("log")
        label_points(axes, [(p.number, p.throughput, p50) for p in points if (p50 := p.latency[name][0]) is not None])
    engines = [Line2D([], [], color=c, marker="o", linestyle="", label=e) for e, c in engine_colour.items()]
    scenarios = [Line2D([], [], color="#374151", marker=marker(s), linestyle="", label=s)
                 for s in dict.fromkeys(p.scenario for p in points)]
    figure.legend(handles=engines + scenarios, loc="lower center", ncol=min(8, len(engines) + len(scenarios)),
                  fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    return figure


#: one marker per roofline phase
PHASE_MARKERS = {"prefill": "o", "decode": "s"}


def roofline(points: Sequence[Any], ceilings: Sequence[Any]) -> Figure | None:
    """The roofline (:mod:`openaiperf.report.roofline`): achieved FLOP/s against
    arithmetic intensity, log-log; each ceiling set's bandwidth slope and compute roof
    (datasheet solid, calibrated dashed); each case's prefill (circle) and decode
    (square) as points coloured by engine and labelled with the case's number. None
    without points."""
    if not points:
        return None
    figure, axes = plt.subplots(figsize=(9.5, 5.2))
    xs = [p.intensity for p in points]
    ys = [p.flops for p in points]
    low, high = min(xs) / 4, max(xs) * 4
    for ceiling in ceilings:
        if ceiling.ridge:
            low, high = min(low, ceiling.ridge / 4), max(high, ceiling.ridge * 4)
    grid = np.geomspace(low, high, 200)
    style = {True: ("-", "#111827"), False: ("--", "#6b7280")}
    for ceiling in ceilings:
        linestyle, colour = style[ceiling.label.startswith("datasheet")]
        roof = np.full_like(grid, np.inf)
        if ceiling.flops:
            roof = np.minimum(roof, ceiling.flops)
        if ceiling.bandwidth:
            roof = np.minimum(roof, grid * ceiling.bandwidth)
        if not np.isfinite(roof).any():
            continue
        parts = [f"{ceiling.flops / 1e12:.3g} TFLOP/s" if ceiling.flops else "",
                 f"{ceiling.bandwidth / 1e9:.3g} GB/s" if ceiling.bandwidth else ""]
        axes.plot(grid, roof, linestyle=linestyle, color=colour, linewidth=1.4,
                  label=f"{ceiling.label}: " + ", ".join(p for p in parts if p))
        ys += [float(v) for v in roof if np.isfinite(v)]
    engine_colour = colours([p.engine for p in points])
    for p in points:
        axes.scatter([p.intensity], [p.flops], marker=PHASE_MARKERS.get(p.phase, "P"), s=46,
                     color=engine_colour[p.engine], edgecolors="white", linewidths=0.6, zorder=3)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(low, high)
    positive = [y for y in ys if y > 0]
    axes.set_ylim(min(positive) / 3, max(positive) * 3)
    axes.set_xlabel("arithmetic intensity (FLOP/byte)")
    axes.set_ylabel("achieved FLOP/s")
    axes.set_title("Roofline: prefill and decode of each case")
    axes.grid(alpha=0.3, which="both")
    label_points(axes, [(p.number, p.intensity, p.flops) for p in points])
    handles, _ = axes.get_legend_handles_labels()
    handles += [Line2D([], [], color=c, marker="o", linestyle="", label=e) for e, c in engine_colour.items()]
    handles += [Line2D([], [], color="#374151", marker=m, linestyle="", label=phase)
                for phase, m in PHASE_MARKERS.items() if any(p.phase == phase for p in points)]
    axes.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    figure.tight_layout()
    return figure
