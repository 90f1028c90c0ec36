"""Figures of a run (matplotlib, headless): latency CDF, TTFT/TPOT histograms,
throughput vs latency over the QPS points of the scenarios that have a QPS axis
(the scenario registry says which: server, interactive). Each returns a Figure
or None when there is nothing to draw; :func:`png_bytes` / :func:`data_uri` encode it."""

from __future__ import annotations

import base64
import io
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


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


def qps_of(case: dict[str, Any]) -> float | None:
    options = case.get("scenario_options") or {}
    for key in ("qps", "target_qps", "qps_target"):
        if options.get(key) is not None:
            return float(options[key])
    return None


def throughput_vs_latency(cases: Sequence[dict[str, Any]], latency: str = "ttft_p90") -> Figure | None:
    """Runs of the scenarios with a QPS axis: achieved throughput against a latency
    percentile, one line per task/scenario/engine/model over its QPS targets. None
    unless some group has >= 2 QPS points."""
    from openaiperf.scenarios import rate_scenarios

    rated = rate_scenarios()
    groups: dict[str, list[tuple[float, float, float]]] = {}
    for case in cases:
        qps = qps_of(case)
        metrics = case.get("metrics") or {}
        x = (metrics.get("requests_per_s") or {}).get("value")
        y = (metrics.get(latency) or {}).get("value")
        if case.get("scenario") in rated and qps is not None and x is not None and y is not None:
            scenario = "" if case["scenario"] == "server" else f" ({case['scenario']})"
            groups.setdefault(f"{case['task']} {case['engine']} {case['model']}{scenario}", []).append((qps, x, y))
    groups = {k: sorted(v) for k, v in groups.items() if len(v) >= 2}
    if not groups:
        return None
    figure, axes = plt.subplots(figsize=(7, 3.8))
    for name, points in groups.items():
        axes.plot([p[1] for p in points], [p[2] for p in points], marker="o", label=name)
        for qps, x, y in points:
            axes.annotate(f"{qps:g} QPS", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    axes.set_xlabel("achieved throughput (requests/s)")
    axes.set_ylabel(f"{latency} (ms)")
    axes.set_title("Throughput vs latency (open-loop scenarios)")
    axes.grid(alpha=0.3)
    legend_outside(axes)
    return figure
