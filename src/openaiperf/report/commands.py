"""``ob report`` and ``ob pack``.

    ob report RUN_DIR [--history URL]      # report.html + pr-comment.md (+ $GITHUB_STEP_SUMMARY)
    ob pack [--run RUN_DIR] [--include-logs] [--include-configs] --output result.tgz
"""

from __future__ import annotations

import argparse
import io
import os
import tarfile
import time
from pathlib import Path

from openaiperf.checksums import sha256_file
from openaiperf.errors import ConfigError
from openaiperf.history.session import read_trends
from openaiperf.report.markdown import write_markdown
from openaiperf.report.results import read_results

CONFIG_FILES = ("benchmarks/matrix.yaml", "pytest.ini", "pyproject.toml")
#: the archive's manifest (``sha256sum`` format, paths relative to the run folder): the
#: registry checks every member against it before it accepts a submission
MANIFEST = "SHA256SUMS"


def latest_run(reports: Path) -> Path:
    runs = sorted(p for p in reports.glob("*") if (p / "results.json").exists())
    if not runs:
        raise ConfigError("no run folder with a results.json", source=str(reports))
    return runs[-1]


def cmd_report(args: argparse.Namespace) -> int:
    from openaiperf.report.html import write_html_report  # jinja2, matplotlib: the report extra

    run_dir = Path(args.run_dir)
    run = read_results(run_dir / "results.json")
    trends = read_trends(run_dir, run, history=args.history, disabled=args.no_history)
    html = write_html_report(run_dir, Path(args.output) if args.output else None, trends=trends, run=run)
    for path in [html, *write_markdown(run_dir, run, trends=trends)]:
        print(f"wrote {path}")
    return 0


def pack_members(run_dir: Path, include_logs: bool, include_configs: bool) -> list[tuple[Path, str]]:
    """(file, name in the archive): the run's results, records and reports; logs and
    the configs that defined the run on request."""
    members = []
    for path in sorted(run_dir.rglob("*")):
        relative = path.relative_to(run_dir)
        if path.is_file() and (include_logs or relative.parts[0] != "logs"):
            members.append((path, f"{run_dir.name}/{relative}"))
    if include_configs:
        run = read_results(run_dir / "results.json")
        profile = run.hardware_profile
        used = run.config.config_files
        if used:  # the files the run read, wherever they were (written by runs since they are recorded)
            # named from the folder they share: benchmarks/matrix.yaml, models.yaml
            common = Path(os.path.commonpath(used)) if len(used) > 1 else Path(used[0]).parent
            for file in used:
                path = Path(file)
                if path.is_file():
                    members.append((path, f"{run_dir.name}/configs/{path.relative_to(common).as_posix()}"))
                else:
                    print(f"not packed: {file} (the run read it; it is gone)")
            candidates = [f"hardware_profiles/{profile}.yaml"] if profile else []
        else:  # an older run: the current directory's
            candidates = [*CONFIG_FILES, f"hardware_profiles/{profile}.yaml"] if profile else list(CONFIG_FILES)
        for name in candidates:
            if Path(name).is_file():
                members.append((Path(name), f"{run_dir.name}/configs/{name}"))
    return members


def manifest_text(members: list[tuple[Path, str]], top: str) -> str:
    """``<sha256>  <path>`` per member, the path relative to the archive's run folder."""
    return "".join(f"{sha256_file(path)}  {name[len(top) + 1:]}\n" for path, name in members)


def cmd_pack(args: argparse.Namespace) -> int:
    run_dir = Path(args.run) if args.run else latest_run(Path(args.reports))
    if not (run_dir / "results.json").exists():
        raise ConfigError("not a run folder: results.json is missing", source=str(run_dir))
    members = [m for m in pack_members(run_dir, args.include_logs, args.include_configs)
               if m[1] != f"{run_dir.name}/{MANIFEST}"]
    with tarfile.open(args.output, "w:gz" if args.compress == "gzip" else "w") as archive:
        for path, name in members:
            archive.add(path, arcname=name, recursive=False)
        manifest = manifest_text(members, run_dir.name).encode()
        info = tarfile.TarInfo(f"{run_dir.name}/{MANIFEST}")
        info.size, info.mtime, info.mode = len(manifest), int(time.time()), 0o644
        archive.addfile(info, io.BytesIO(manifest))
    print(f"packed {len(members)} file(s) of {run_dir} into {args.output}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser("report", help="write the HTML and Markdown reports of a run folder")
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("--output", default=None, help="HTML file (default: RUN_DIR/report.html)")
    report.add_argument("--history", default=None, metavar="URL",
                        help="results history to read the cases' trends from (default: as for the run)")
    report.add_argument("--no-history", action="store_true", help="leave the history section out")
    report.set_defaults(func=cmd_report)
    pack = subparsers.add_parser("pack", help="archive a run's results (results, records, optionally logs and configs)")
    pack.add_argument("--run", default=None, metavar="RUN_DIR", help="run folder (default: the latest in --reports)")
    pack.add_argument("--reports", default="reports", metavar="DIR")
    pack.add_argument("--include-logs", action="store_true", help="add the engine/server logs")
    pack.add_argument("--include-configs", action="store_true",
                      help="add the matrix, pytest.ini, pyproject.toml and the hardware profile")
    pack.add_argument("--compress", choices=("gzip", "none"), default="gzip")
    pack.add_argument("--output", required=True, metavar="FILE")
    pack.set_defaults(func=cmd_pack)
