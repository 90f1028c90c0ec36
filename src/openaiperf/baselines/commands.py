"""``ob baseline compare|update`` (``ob compare`` is the same as ``ob baseline compare``).

    ob baseline compare RUN_A RUN_B    # two run folders (reports/<run>); RUN_A is the reference
    ob baseline compare RUN baselines/ # a run and the stored baselines (its hardware's folder)
    ob baseline update RUN [--hw NAME] # promote a run's passing cases to baselines/<hw>/

``ob baseline compare`` gives the gate's three outcomes per metric and per case, with
their intervals, what would settle an inconclusive one, and every configuration
difference; a differing configuration is refused unless ``--force``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from openaiperf.baselines import MIN_BASELINE_ROUNDS, Baseline
from openaiperf.baselines.compare import (
    Outcome,
    baseline_from_case,
    judged_side,
    stalled_note,
)
from openaiperf.baselines.gate import GateOutcome, GateSettings, judge, save
from openaiperf.baselines.json_store import read_baseline
from openaiperf.baselines.settings import BaselineSettings
from openaiperf.baselines.stats import holm
from openaiperf.errors import ConfigError
from openaiperf.options import add_options_as
from openaiperf.report.results import read_results
from openaiperf.result import RunResult
from openaiperf.tasks import load_task_specs


def read_run(run_dir: Path, *, judged: bool = False) -> tuple[RunResult, dict[str, Baseline], dict[str, list[int]]]:
    """A run folder's results.json, each case in the shape of a baseline, and the rounds
    left out of each case. ``judged``: the run is the one judged, so, as the gate does, a
    round the client stalled in at every attempt is left out (a reference keeps it)."""
    run = read_results(run_dir / "results.json")
    cases, left_out = {}, {}
    for case in run.cases:
        if judged:
            cases[case.id], stalled = judged_side(case)
            if stalled:
                left_out[case.id] = stalled
        else:
            cases[case.id] = baseline_from_case(case)
        cases[case.id].source = str(run_dir / "results.json")
    return run, cases, left_out


def load_side(path: Path, hardware: str | None = None, *,
              judged: bool = False) -> tuple[dict[str, Baseline], dict[str, list[int]]]:
    """Cases of a run folder, a baseline folder (``baselines/cpu``) or a baseline root
    (``baselines``, whose ``hardware`` folder is used), and the rounds a judged run
    folder leaves out (:func:`read_run`)."""
    if (path / "results.json").exists():
        _, cases, left_out = read_run(path, judged=judged)
        return cases, left_out
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
    return out, {}


def session_holm(outcomes: Sequence[GateOutcome], alpha: float) -> tuple[int, int]:
    """(metrics tested across every case, case-level regressions that stay significant
    when Holm runs over all of them at once)."""
    tested = [(m, m.p_value) for o in outcomes if o.comparison for m in o.comparison.metrics if m.p_value is not None]
    adjusted = holm([p for _, p in tested])
    return len(tested), sum(m.regression and p < alpha for (m, _), p in zip(tested, adjusted, strict=True))


def compare_settings(args: argparse.Namespace) -> GateSettings:
    """The gate's settings of ``ob baseline compare``'s flags, read through :class:`BaselineSettings`
    (its defaults and checks; an error names the flag as this command spells it)."""
    given = BaselineSettings.from_options(lambda dest: getattr(args, dest, None), COMPARE_FLAGS)
    return GateSettings(force=given.force, strict=given.strict, tolerances=dict(given.tolerances),
                        alpha=given.alpha, drift=given.drift)


def cmd_compare(args: argparse.Namespace) -> int:
    settings = compare_settings(args)
    # The run is judged against the other side; with two runs, RUN_A is the reference.
    a, b = Path(args.run_a), Path(args.run_b)
    if (a / "results.json").exists() and not (b / "results.json").exists():
        current_path, reference_path = a, b
    else:
        current_path, reference_path = b, a
    current, left_out = load_side(current_path, judged=True)
    hardware = next(iter(current.values())).hardware if current else None
    reference, _ = load_side(reference_path, hardware)
    tasks = load_task_specs()
    judged: list[tuple[str, GateOutcome]] = []
    for case_id, now in current.items():
        before = reference.get(case_id)
        if before is None:
            print(f"{case_id}: no baseline in {reference_path}")
            continue
        outcome = judge(before, now, settings, task_spec=tasks.get(now.case.task or ""), force_option="--force")
        if case_id in left_out:
            outcome.notes.append(stalled_note(left_out[case_id]))
        judged.append((case_id, outcome))
    print(render_comparisons(judged))
    for case_id, outcome in judged:
        print(f"{case_id}: {outcome.comparison.summary() if outcome.comparison else 'not compared'}")
        for line in outcome.failures + outcome.notes:
            print(f"  {line}")
    tested, surviving = session_holm([o for _, o in judged], settings.alpha)
    regressions = sum(o.outcome is Outcome.REGRESSION for _, o in judged)
    if tested:
        print(f"across all {len(judged)} case(s): {regressions} with a regression; with Holm over all {tested} "
              f"tested metrics at once, {surviving} regressing metric(s) stay significant")
    failed = any(o.failures for _, o in judged)
    return 1 if failed else 0


def _cell_ratio(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.4g} {unit}"


def render_comparisons(judged: Sequence[tuple[str, GateOutcome]]) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(title="baseline -> current (per-round values; interval of the ratio)")
    columns = ("case", "metric", "baseline", "current", "change", "interval", "tolerance", "rounds b/c", "Holm p",
               "outcome", "why / what would settle it")
    for column in columns:
        table.add_column(column, justify="right" if column in ("baseline", "current", "change", "Holm p") else "left")
    rows = [(case_id, m) for case_id, o in judged if o.comparison for m in o.comparison.metrics]
    for case_id, m in rows:
        change = "-" if m.ratio is None else f"{100 * m.delta:+.1f}% ({m.change})"
        interval = "-" if m.ci_low is None else f"[{m.ci_low:.3f}, {m.ci_high:.3f}] {m.confidence:.0%}"
        table.add_row(case_id, m.metric, _cell_ratio(m.baseline, m.unit), _cell_ratio(m.current, m.unit), change,
                      interval, m.tolerance_text(), f"{m.n_baseline}/{m.n_current}",
                      "-" if m.p_holm is None else f"{m.p_holm:.2g}", m.outcome.value,
                      m.settle or m.reason if m.outcome is Outcome.INCONCLUSIVE else m.reason)
    for case_id, outcome in judged:
        for difference in outcome.differences:
            table.add_row(case_id, "(configuration)", "", "", "", "", "", "", "",
                          "refused" if outcome.refused else "differs" if difference.refuses else "noted",
                          difference.text())
    buffer = io.StringIO()
    Console(file=buffer, width=240, color_system=None).print(table)
    return buffer.getvalue()


def cmd_baseline_update(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    run, cases, _ = read_run(run_dir)
    saved = 0
    statuses = {c.id: c.status for c in run.cases}
    for case_id, baseline in cases.items():
        if statuses.get(case_id) != "passed":
            print(f"skipped {case_id}: status {statuses.get(case_id)!r} (only passing cases become baselines)")
            continue
        if len(baseline.rounds) < MIN_BASELINE_ROUNDS:
            print(f"skipped {case_id}: {len(baseline.rounds)} round(s); a baseline needs at least "
                  f"{MIN_BASELINE_ROUNDS} (run with --repeats {MIN_BASELINE_ROUNDS} or more)")
            continue
        if baseline.fingerprint is None:
            print(f"skipped {case_id}: its results carry no configuration fingerprint (re-run the case)")
            continue
        if args.hw:
            baseline.hardware = args.hw
            baseline.fingerprint.checked["hardware profile"] = args.hw
        path, why_not = save(baseline, GateSettings(save_root=Path(args.baselines), append=args.append),
                             run_dir.name)
        if why_not:
            print(f"skipped {case_id}: {why_not}")
            continue
        saved += 1
        print(f"{'appended to' if args.append else 'saved'} {path}")
    print(f"{saved} baseline(s) updated from {run_dir}")
    return 0 if saved else 1


#: the gate's settings that ``ob baseline compare`` takes, as it spells them (declared flag -> its spelling)
COMPARE_FLAGS = {"--baseline-force": "--force", "--baseline-strict": "--strict", "--baseline-alpha": "--alpha",
                 "--tolerance": "--tolerance", "--baseline-drift": "--drift"}


def add_compare_arguments(compare: argparse.ArgumentParser) -> None:
    compare.add_argument("run_a", metavar="RUN_A", help="a run folder (the reference when RUN_B is a run too)")
    compare.add_argument("run_b", metavar="RUN_B", help="the run to judge, or a baseline folder to judge RUN_A by")

    # the gate's own options, as this command spells them (exit 1 stands for a failed case)
    add_options_as(compare.add_argument, COMPARE_FLAGS)
    compare.set_defaults(func=cmd_compare)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_compare_arguments(subparsers.add_parser(
        "compare", help="the same as ob baseline compare: a run against another run or the stored baselines"))
    baseline = subparsers.add_parser("baseline", help="compare runs with baselines, promote runs to baselines")
    actions = baseline.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)
    add_compare_arguments(actions.add_parser(
        "compare", help="compare a run with another run or with stored baselines"))
    update = actions.add_parser("update", help="promote a run's passing cases to baselines/<hw>/")
    update.add_argument("run_dir", metavar="RUN_DIR")
    update.add_argument("--hw", default=None, help="store under this hardware profile (default: the run's)")
    update.add_argument("--baselines", default="baselines", metavar="DIR", help="baseline root (default: baselines)")
    update.add_argument("--append", action="store_true",
                        help="add the run's rounds to the stored baselines (same configuration) instead of replacing")
    update.set_defaults(func=cmd_baseline_update)
