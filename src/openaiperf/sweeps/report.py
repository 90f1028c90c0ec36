"""Sweep reports: one table (CSV) per swept case, and for a ``qps_target`` sweep
of the server scenario the throughput-vs-latency curve (CSV + PNG)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openaiperf.metrics.catalogue import catalogue
from openaiperf.paths import name_in
from openaiperf.result import CaseResult


def group_sweeps(results: Sequence[CaseResult]) -> dict[str, list[CaseResult]]:
    """base case id -> its swept variants' results, in run order."""
    groups: dict[str, list[CaseResult]] = {}
    for result in results:
        if result.variant:
            groups.setdefault(result.base_id, []).append(result)
    return groups


def qps_curve(variants: Sequence[CaseResult]) -> list[dict[str, Any]]:
    """(offered qps -> achieved throughput and latency) points, sorted by offered qps."""
    points = []
    for result in variants:
        qps = result.qps_target
        if qps is None:
            continue
        point: dict[str, Any] = {"variant": result.variant, "qps_target": qps, "status": result.status,
                                 "valid": result.valid}
        point.update({name: result.value(name) for name in catalogue.names("curve")})
        points.append(point)
    return sorted(points, key=lambda p: (p["variant"].replace(f"qps_target={p['qps_target']}", ""), p["qps_target"]))


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        writer.writeheader()
        writer.writerows(rows)
    return path


def plot_curve(path: Path, title: str, points: Sequence[dict[str, Any]]) -> Path | None:
    usable = [p for p in points if p["requests_per_s"] is not None and p["e2e_p90"] is not None]
    if not usable:
        return None
    try:
        import matplotlib
    except ImportError:  # the 'report' extra is not installed: the CSV still has the curve
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p["requests_per_s"] for p in usable], [p["e2e_p90"] for p in usable], marker="o")
    for p in usable:
        ax.annotate(f"{p['qps_target']:g} qps", (p["requests_per_s"], p["e2e_p90"]), fontsize=7)
    ax.set_xlabel("achieved throughput (requests/s)")
    ax.set_ylabel("E2E latency p90 (ms)")
    ax.set_title(title, fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_sweep_reports(results: Sequence[CaseResult], run_dir: Path) -> list[Path]:
    """Write ``sweeps/<base-id>.csv`` per swept case and ``sweeps/<base-id>.qps_curve.{csv,png}``."""
    written: list[Path] = []
    for base, variants in group_sweeps(results).items():
        rows = [{"variant": r.variant, "status": r.status, **{name: r.value(name) for name in catalogue.names("sweep")}}
                for r in variants]
        folder = run_dir / "sweeps"
        written.append(_write_csv(name_in(folder, base, field="case id", suffix=".csv"), rows))
        points = qps_curve(variants)
        if points:
            written.append(_write_csv(name_in(folder, base, field="case id", suffix=".qps_curve.csv"), points))
            png = plot_curve(name_in(folder, base, field="case id", suffix=".qps_curve.png"),
                             f"{base}: throughput vs latency", points)
            if png is not None:
                written.append(png)
    return written
