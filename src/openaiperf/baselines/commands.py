"""``ob compare`` and ``ob baseline update``.

    ob compare RUN_A RUN_B             # two run folders (reports/<run>)
    ob compare RUN baselines/          # a run and the stored baselines (its hardware's folder)
    ob baseline update RUN [--hw NAME] # promote a run's passing cases to baselines/<hw>/
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from openaiperf.baselines import Baseline
from openaiperf.baselines.compare import CaseComparison, baseline_from_case, compare_case
from openaiperf.baselines.gate import hardware_mismatch, parse_tolerances, resolve_tolerances
from openaiperf.baselines.json_store import JsonBaselineStore, read_baseline
from openaiperf.errors import ConfigError


def read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Baseline]]:
    """A run folder's results.json, and each case in the shape of a baseline (with its records)."""
    from openaiperf.records import read_records
    from openaiperf.report.results import read_results

    document = read_results(run_dir / "results.json")
    cases = {}
    for case in document.get("cases", []):
        records = run_dir / case["records_file"] if case.get("records_file") else None
        cases[case["id"]] = baseline_from_case(case, read_records(records) if records and records.exists() else [])
        cases[case["id"]].source = str(run_dir / "results.json")
    return document, cases


def load_side(path: Path, hardware: str | None = None) -> dict[str, Baseline]:
    """Cases of a run folder, a baseline folder (``baselines/cpu``) or a baseline root
    (``baselines``, whose ``hardware`` folder is used)."""
    if (path / "results.json").exists():
        return read_run(path)[1]
    if not path.is_dir():
        raise ConfigError("expected a run folder (with results.json) or a baseline folder", source=str(path))
    files = sorted(path.glob("*.json"))
    if not files:
        folders = sorted(p for p in path.iterdir() if p.is_dir())
        if hardware and (path / hardware).is_dir():
            files = sorted((path / hardware).glob("*.json"))
        elif len(folders) == 1:
            files = sorted(folders[0].glob("*.json"))
        else:
            raise ConfigError(f"no baselines for hardware {hardware!r}; folders: {', '.join(p.name for p in folders)}",
                              source=str(path))
    out = {}
    for file in files:
        baseline = read_baseline(file)
        out[baseline.case_id] = baseline
    return out


def cmd_compare(args: argparse.Namespace) -> int:
    from openaiperf.tasks import load_task_specs

    # The run is judged against the other side; with two runs, RUN_A is the reference.
    a, b = Path(args.run_a), Path(args.run_b)
    if (a / "results.json").exists() and not (b / "results.json").exists():
        current_path, reference_path = a, b
    else:
        current_path, reference_path = b, a
    current = load_side(current_path)
    hardware = next(iter(current.values())).hardware if current else None
    reference = load_side(reference_path, hardware)
    overrides = parse_tolerances(args.tolerance or [])
    tasks = load_task_specs()
    comparisons: list[CaseComparison] = []
    for case_id, now in current.items():
        before = reference.get(case_id)
        if before is None:
            print(f"{case_id}: no baseline in {reference_path}")
            continue
        refusal = hardware_mismatch(before, now.hardware, args.force)
        if refusal:
            raise ConfigError(refusal.replace("--baseline-force", "--force"), source="ob compare")
        comparisons.append(compare_case(before, now, resolve_tolerances(tasks.get(now.case.get("task")), overrides)))
    print(render_comparisons(comparisons))
    regressions = sum(len(c.regressions) for c in comparisons)
    for comparison in comparisons:
        for metric in comparison.regressions:
            print(f"REGRESSION {comparison.case_id}: {metric.message()}")
    return 1 if regressions else 0


def render_comparisons(comparisons: list[CaseComparison]) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(title="baseline -> current")
    for column in ("case", "metric", "baseline", "current", "change", "95% CI of ratio", "tolerance", "test", "verdict"):
        table.add_column(column, justify="left" if column in ("case", "metric", "test", "verdict") else "right")
    rows = [(c, m) for c in comparisons for m in c.metrics]
    rows.sort(key=lambda cm: cm[1].verdict != "regression")
    for comparison, m in rows:
        ci = f"[{m.ci_low:.3f}, {m.ci_high:.3f}]" if m.ci_low is not None else "-"
        table.add_row(comparison.case_id, m.metric, f"{m.baseline:.4g} {m.unit}", f"{m.current:.4g} {m.unit}",
                      f"{100 * m.delta:+.1f}%", ci, f"{'+' if m.better == 'lower' else '-'}{m.tolerance:.0%}",
                      m.method, m.verdict)
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(table)
    return buffer.getvalue()


def cmd_baseline_update(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    document, cases = read_run(run_dir)
    store = JsonBaselineStore(Path(args.baselines))
    saved = 0
    statuses = {c["id"]: c.get("status") for c in document.get("cases", [])}
    for case_id, baseline in cases.items():
        if statuses.get(case_id) != "passed":
            print(f"skipped {case_id}: status {statuses.get(case_id)!r} (only passing cases become baselines)")
            continue
        if args.hw:
            baseline.hardware = args.hw
        path = store.save(baseline)
        saved += 1
        print(f"saved {path}")
    print(f"{saved} baseline(s) updated from {run_dir}")
    return 0 if saved else 1


def register(subparsers: Any) -> None:
    compare = subparsers.add_parser("compare", help="compare a run with another run or with stored baselines")
    compare.add_argument("run_a", metavar="RUN_A", help="a run folder (the reference when RUN_B is a run too)")
    compare.add_argument("run_b", metavar="RUN_B", help="the run to judge, or a baseline folder to judge RUN_A by")
    compare.add_argument("--force", action="store_true", help="compare across hardware profiles")
    compare.add_argument("--tolerance", action="append", metavar="METRIC=FRACTION", help="override a tolerance")
    compare.set_defaults(func=cmd_compare)
    baseline = subparsers.add_parser("baseline", help="manage stored baselines")
    actions = baseline.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)
    update = actions.add_parser("update", help="promote a run's passing cases to baselines/<hw>/")
    update.add_argument("run_dir", metavar="RUN_DIR")
    update.add_argument("--hw", default=None, help="store under this hardware profile (default: the run's)")
    update.add_argument("--baselines", default="baselines", metavar="DIR", help="baseline root (default: baselines)")
    update.set_defaults(func=cmd_baseline_update)

