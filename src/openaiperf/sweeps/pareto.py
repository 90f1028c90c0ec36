"""Pareto curves of a load sweep: what one user gets against what the hardware gives.

A sweep over concurrency (``stream_count``, ``batch_size``) or rate
(``qps_target``) trades per-user speed for total throughput. Each sweep point
(one case variant) becomes a point:

- x: output tokens/s per device: the case's ``output_tokens_per_s`` divided by
  the devices the engine spans (``settings.efficiency.devices``; 1 when unknown,
  which for a remote server means "per server");
- y: output tokens/s per user: ``output_tokens_per_s_per_user``, 1 / the mean
  TPOT of the answered requests (:func:`openaiperf.metrics.throughput.per_user_rate`).

A point is on the Pareto front when no other point of the same sweep is at least
as good on both axes and better on one. :func:`write_pareto` writes
``pareto.csv`` (every point of every such sweep, ``on_front`` marked) and
``pareto.png`` (one line per sweep, the front drawn bold, each point labelled
with its concurrency or rate) into the run folder; the HTML report shows the
same figure (:func:`pareto_figure`).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from openaiperf.result import CaseResult

#: the swept keys that make a load curve (concurrency or rate)
LOAD_KEYS = ("stream_count", "qps_target", "batch_size", "concurrency")


@dataclass
class ParetoPoint:
    sweep: str
    variant: str
    load_key: str
    load: float
    devices: int
    output_tokens_per_s: float | None
    output_tokens_per_s_per_device: float | None
    output_tokens_per_s_per_user: float | None
    ttft_p90: float | None
    status: str
    on_front: bool = False


def curve_of(result: CaseResult) -> str:
    """The curve a variant belongs to: its base case and the swept values other than the
    load (a sweep of concurrency x prefix caching draws one curve per caching setting)."""
    others = [part for part in (result.variant or "").split(",") if part and part.partition("=")[0] not in LOAD_KEYS]
    return f"{result.base_id}[{','.join(others)}]" if others else str(result.base_id)


def load_of(result: CaseResult) -> tuple[str, float] | None:
    """The swept concurrency or rate of a variant (key, value), or None."""
    for part in (result.variant or "").split(","):
        key, _, value = part.partition("=")
        if key in LOAD_KEYS:
            try:
                return key, float(value)
            except ValueError:
                return None
    return None


def mark_front(points: Sequence[ParetoPoint]) -> None:
    """Set ``on_front`` on the points no other point dominates (both axes: higher is better)."""
    usable = [p for p in points if p.output_tokens_per_s_per_device is not None
              and p.output_tokens_per_s_per_user is not None]
    for point in usable:
        x, y = point.output_tokens_per_s_per_device, point.output_tokens_per_s_per_user
        assert x is not None and y is not None
        point.on_front = not any(
            (o.output_tokens_per_s_per_device or 0) >= x and (o.output_tokens_per_s_per_user or 0) >= y
            and ((o.output_tokens_per_s_per_device or 0) > x or (o.output_tokens_per_s_per_user or 0) > y)
            for o in usable if o is not point)


def pareto_points(results: Sequence[CaseResult]) -> list[ParetoPoint]:
    """The points of every sweep over concurrency or rate (sorted by sweep, then load)."""
    curves: dict[str, list[CaseResult]] = {}
    for result in results:
        if result.variant:
            curves.setdefault(curve_of(result), []).append(result)
    points: list[ParetoPoint] = []
    for base, variants in curves.items():
        members: list[ParetoPoint] = []
        for result in variants:
            load = load_of(result)
            if load is None:
                continue
            efficiency = result.settings.efficiency
            devices = efficiency.devices if efficiency is not None and efficiency.devices > 0 else 1
            total = result.value("output_tokens_per_s") if not result.failed else None
            members.append(ParetoPoint(
                sweep=base, variant=result.variant or "", load_key=load[0], load=load[1], devices=devices,
                output_tokens_per_s=total, output_tokens_per_s_per_device=total / devices if total else None,
                output_tokens_per_s_per_user=result.value("output_tokens_per_s_per_user") if not result.failed
                else None,
                ttft_p90=result.value("ttft_p90"), status=result.status))
        if len(members) >= 2:
            mark_front(members)
            points += sorted(members, key=lambda p: p.load)
    return points


def plot_pareto(path: Path, points: Sequence[ParetoPoint]) -> Path | None:
    """The figure (one line per sweep, the front bold); None without matplotlib or data."""
    figure = pareto_figure(points)
    if figure is None:
        return None
    figure.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path


def xy(point: ParetoPoint) -> tuple[float, float]:
    """(per device, per user) of a point that has both."""
    return float(point.output_tokens_per_s_per_device or 0.0), float(point.output_tokens_per_s_per_user or 0.0)


def pareto_figure(points: Sequence[ParetoPoint]) -> Any:
    usable = [p for p in points if p.output_tokens_per_s_per_device is not None
              and p.output_tokens_per_s_per_user is not None]
    if not usable:
        return None
    try:
        import matplotlib
    except ImportError:  # the 'report' extra is not installed: the CSV still has the points
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    sweeps = list(dict.fromkeys(p.sweep for p in usable))
    short = {"stream_count": "c", "batch_size": "b", "concurrency": "c", "qps_target": "qps "}
    for index, sweep in enumerate(sweeps):
        members = [p for p in usable if p.sweep == sweep]
        colour = f"C{index % 10}"
        label = sweep if len(sweep) <= 60 else sweep[:57] + "..."
        axes.plot([xy(p)[0] for p in members], [xy(p)[1] for p in members], marker="o", color=colour, alpha=0.35,
                  linewidth=1)
        front = sorted((p for p in members if p.on_front), key=lambda p: xy(p)[0])
        axes.plot([xy(p)[0] for p in front], [xy(p)[1] for p in front], marker="o", color=colour, linewidth=2.5,
                  label=f"{label} (front bold)")
        for p in members:
            axes.annotate(f"{short.get(p.load_key, p.load_key + '=')}{p.load:g}", xy(p),
                          textcoords="offset points", xytext=(5, 4), fontsize=8)
    devices = sorted({p.devices for p in usable})
    per = "device" if devices != [1] else "device (or server)"
    axes.set_xlabel(f"output tokens/s per {per}")
    axes.set_ylabel("output tokens/s per user (1 / mean TPOT)")
    axes.set_title("Pareto: per-user speed vs throughput (c = concurrency)", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return figure


def write_pareto(results: Sequence[CaseResult], run_dir: Path) -> list[Path]:
    """``pareto.csv`` and ``pareto.png`` in the run folder, when the run swept concurrency or rate."""
    points = pareto_points(results)
    if not points:
        return []
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "pareto.csv"
    rows = [asdict(p) for p in points]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    written = [path]
    png = plot_pareto(run_dir / "pareto.png", points)
    if png is not None:
        written.append(png)
    return written
