"""``ob history``: the runs in the results history, a case's metric over time, CSV export, import.

    ob history list [--hardware H] [--engine E] [--model M] [--commit SHA] [--case CASE] [--limit N]
    ob history show CASE --metric M [--plot out.png] [--limit N] [filters]
    ob history export --csv FILE|- [--case CASE] [--metric M] [filters]
    ob history import RUN_DIR [RUN_DIR ...] [--commit SHA]

Every subcommand takes ``--history URL`` (default: ``$OPENAIPERF_HISTORY``, else the
SQLite file under the user data directory), as ``pytest benchmarks`` does.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

from openaiperf.cli import help_of
from openaiperf.errors import ConfigError, OpenAIPerfError
from openaiperf.history.location import resolve_url
from openaiperf.history.runmeta import read_run_meta
from openaiperf.history.store import Filters, HistoryError, HistoryStore
from openaiperf.history.trends import format_value

DEFAULT_LIST_LIMIT = 30


def _store(args: argparse.Namespace) -> Any:
    url = resolve_url(getattr(args, "history", None))
    if url is None:
        raise ConfigError("the history is turned off ($OPENAIPERF_HISTORY=off); pass --history URL", source="--history")
    return HistoryStore(url)


def _filters(args: argparse.Namespace, case: str | None = None) -> Any:
    return Filters(hardware=args.hardware, engine=args.engine, model=args.model, commit=args.commit,
                   case=case if case is not None else getattr(args, "case", None))


def _print_table(title: str, headers: list[str], rows: list[list[str]], right: Collection[int] = ()) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for index, header in enumerate(headers):
        table.add_column(header, justify="right" if index in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*row)
    buffer = io.StringIO()
    Console(file=buffer, width=200, force_terminal=False, color_system=None).print(table)
    sys.stdout.write(buffer.getvalue())


def _commit(commit: str | None, dirty: bool | None) -> str:
    return f"{commit[:10]}{'*' if dirty else ''}" if commit else "-"


# -- list ---------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        runs = store.runs(_filters(args), limit=args.limit)
        print(f"store: {store.shown_url}")
    if not runs:
        print("no runs match" if any((args.hardware, args.engine, args.model, args.commit, args.case))
              else "no runs recorded yet")
        return 0
    rows = [[str(r.id), f"{r.created:%Y-%m-%d %H:%M:%S}", r.run_name, r.hardware_profile or "-",
             r.hardware_summary or "-", _commit(r.git_commit, r.git_dirty), f"{r.cases_passed}/{r.cases_total}",
             ", ".join(r.engines) or "-"] for r in runs]
    _print_table(f"{len(runs)} run(s), newest first (* = uncommitted changes)",
                 ["run", "created (UTC)", "folder", "hw", "hardware", "commit", "passed", "engines"], rows, {0})
    return 0


# -- show ---------------------------------------------------------------------------------
def _unknown_case(store: Any, case: str, filters: Any) -> ConfigError:
    import difflib

    known = store.case_ids(filters)
    close = difflib.get_close_matches(case, known, n=5, cutoff=0.3) or known[:10]
    return ConfigError(f"no case {case!r} in the history; " + (f"did you mean: {', '.join(close)}" if close
                                                               else "no runs recorded yet"), source="ob history show")


def cmd_show(args: argparse.Namespace) -> int:
    filters = _filters(args, case=args.case)
    with _store(args) as store:
        points = store.case_points(args.case, args.metric, filters, limit=args.limit)
        if not points:
            if args.case not in store.case_ids(_filters(args, case="")):
                raise _unknown_case(store, args.case, _filters(args, case=""))
            names = store.metric_names(args.case)
            raise ConfigError(f"case {args.case} has no metric {args.metric!r} in the matching runs; "
                              f"its metrics: {', '.join(names)}", source="--metric")
        print(f"store: {store.shown_url}")
    rows = [[str(p.run_id), f"{p.created:%Y-%m-%d %H:%M:%S}", p.hardware_profile or "-",
             _commit(p.git_commit, p.git_dirty), p.engine_version or "-", format_value(p.value, p.unit),
             (p.status or "?") + ("" if p.valid is not False else " (INVALID)"), p.verdict or "-"] for p in points]
    _print_table(f"{args.case}: {args.metric}, oldest first", ["run", "created (UTC)", "hw", "commit", "engine",
                                                                args.metric, "status", "baseline"], rows, {0, 5})
    usable = [p.value for p in points if p.usable and p.value is not None]
    if usable:
        import statistics

        unit = points[-1].unit
        print(f"{len(usable)} valid value(s): median {format_value(statistics.median(usable), unit)}, "
              f"range {format_value(min(usable), unit)}–{format_value(max(usable), unit)}")
    if args.plot:
        from openaiperf.history.plot import metric_over_runs, save_png  # matplotlib: the report extra

        series: dict[str, list[Any]] = {}
        for point in points:
            series.setdefault(point.hardware_profile or "?", []).append(point)
        figure = metric_over_runs(series, args.case, args.metric)
        if figure is None:
            print("nothing to plot: no value of this metric in the matching runs")
        else:
            Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
            save_png(figure, args.plot)
            print(f"wrote {args.plot}")
    return 0


# -- export -------------------------------------------------------------------------------
EXPORT_FIELDS = ("run_id", "run_name", "created", "hardware_profile", "hardware_summary", "host", "git_commit",
                 "git_branch", "git_dirty", "ci_ref", "case_id", "task", "scenario", "engine", "engine_version",
                 "model", "status", "metric", "value", "unit", "better", "ci_low", "ci_high", "valid",
                 "baseline_verdict", "baseline_value", "baseline_ratio")


def cmd_export(args: argparse.Namespace) -> int:
    with _store(args) as store, contextlib.ExitStack() as files:
        handle = sys.stdout if args.csv == "-" else files.enter_context(
            open(args.csv, "w", newline="", encoding="utf-8"))
        writer = csv.DictWriter(handle, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        count = 0
        for row in store.export_rows(_filters(args), metric=args.metric):
            writer.writerow(row)
            count += 1
    if args.csv != "-":
        print(f"wrote {count} row(s) to {args.csv}")
    return 0


# -- import -------------------------------------------------------------------------------
def run_folders(path: Path) -> list[Path]:
    """``path`` itself when it is a run folder, else the run folders directly inside it."""
    if (path / "results.json").is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if (p / "results.json").is_file())
        if found:
            return found
    raise ConfigError("not a run folder (no results.json) nor a folder of runs", source=str(path))


def cmd_import(args: argparse.Namespace) -> int:
    folders = [folder for given in args.run_dirs for folder in run_folders(Path(given))]
    failed: list[Path] = []
    with _store(args) as store:
        for folder in folders:
            meta = read_run_meta(folder)
            if args.commit:
                meta["git_commit"] = args.commit
            try:
                outcome = store.record_run(folder / "results.json", folder, meta)
            except HistoryError:
                raise  # the store itself failed: the next folders would fail the same way
            except (OpenAIPerfError, OSError, ValueError) as exc:
                # one corrupt run folder: say so, and import the others
                failed.append(folder)
                print(f"not imported: {folder}: {exc}", file=sys.stderr)
                continue
            verb = "imported" if outcome.created else "already in the store:"
            print(f"{verb} {folder} as run {outcome.run_id} ({outcome.cases} case(s))")
        print(f"store: {store.shown_url}")
    if failed:
        print(f"{len(failed)} of {len(folders)} run folder(s) not imported: {', '.join(map(str, failed))}",
              file=sys.stderr)
        return 1
    return 0


# -- parser -------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--history", default=argparse.SUPPRESS, metavar="URL",
                       help="the store: sqlite:///PATH, postgresql://USER@HOST/DB or a file path "
                            "(default: $OPENAIPERF_HISTORY, else history.sqlite under the user data directory)")
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--hardware", default=None, metavar="H",
                         help="hardware profile, or part of the hardware description (e.g. H100)")
    filters.add_argument("--engine", default=None, metavar="E", help="engine name (hf, vllm, openai, ...)")
    filters.add_argument("--model", default=None, metavar="M", help="model name (e.g. smollm2-135m)")
    filters.add_argument("--commit", default=None, metavar="SHA", help="git commit (a prefix is enough)")

    history = subparsers.add_parser("history", parents=[store], help="the results history: runs, trends, export")
    history.set_defaults(func=help_of(history))
    commands = history.add_subparsers(dest="history_command", metavar="SUBCOMMAND")

    listing = commands.add_parser("list", parents=[store, filters], help="the runs, newest first")
    listing.add_argument("--case", default=None, help="only runs holding this case")
    listing.add_argument("--limit", type=int, default=DEFAULT_LIST_LIMIT, metavar="N",
                         help=f"at most N runs (default {DEFAULT_LIST_LIMIT})")
    listing.set_defaults(func=cmd_list)

    show = commands.add_parser("show", parents=[store, filters], help="one metric of one case over the runs")
    show.add_argument("case", metavar="CASE", help="case id, e.g. synthetic.random-offline-hf-smollm2-135m")
    show.add_argument("--metric", required=True, metavar="M", help="metric name, e.g. ttft_p50")
    show.add_argument("--plot", default=None, metavar="PNG", help="also draw it into this PNG file")
    show.add_argument("--limit", type=int, default=None, metavar="N", help="only the newest N runs")
    show.set_defaults(func=cmd_show)

    export = commands.add_parser("export", parents=[store, filters], help="every metric point as CSV")
    export.add_argument("--csv", required=True, metavar="FILE", help="output file, - for stdout")
    export.add_argument("--case", default=None, help="only this case")
    export.add_argument("--metric", default=None, help="only this metric")
    export.set_defaults(func=cmd_export)

    load = commands.add_parser("import", parents=[store], help="load run folders written while the store was away")
    load.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="a run folder, or a folder of runs (reports/)")
    load.add_argument("--commit", default=None, metavar="SHA",
                      help="the git commit the run measured (default: the run's run-meta.json)")
    load.set_defaults(func=cmd_import)
