"""``ob run``: seed 000's command line as a thin wrapper over ``pytest benchmarks``.

    ob run --task summarization.xsum --model smollm2-135m --scenario offline --backend hf --repeats 3
    ob run ... -- -x -v          # anything after -- goes to pytest unchanged

Every flag maps to a plugin option (``--backend`` is ``--engine``); the exit
status is pytest's.
"""

from __future__ import annotations

import argparse
from typing import Any

#: ob run flag -> pytest option
FLAG_MAP = {
    "task": "--task", "model": "--model", "scenario": "--scenario", "backend": "--engine", "hw": "--hw",
    "qps_target": "--qps-target", "repeats": "--repeats", "subset_seed": "--subset-seed",
    "max_samples": "--max-samples", "report_dir": "--report-dir", "baseline_compare": "--baseline-compare",
    "baseline_save": "--baseline-save",
}


def pytest_args(args: argparse.Namespace) -> list[str]:
    out = [args.benchmarks]
    for attr, option in FLAG_MAP.items():
        value = getattr(args, attr, None)
        if value is None or value is False:
            continue
        out.append(option if value is True else f"{option}={value}")
    if args.alluredir:
        out.append(f"--alluredir={args.alluredir}")
    rest = list(args.pytest_args)
    return out + (rest[1:] if rest[:1] == ["--"] else rest)


def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    argv = pytest_args(args)
    print("pytest " + " ".join(argv), flush=True)
    return int(pytest.main(argv))


def register(subparsers: Any) -> None:
    run = subparsers.add_parser("run", help="run benchmarks (a wrapper over pytest benchmarks)")
    run.add_argument("--task", help="task(s), comma-separated")
    run.add_argument("--model", help="model(s), comma-separated")
    run.add_argument("--scenario", help="scenario(s): offline, single_stream, server, ...")
    run.add_argument("--backend", help="engine(s): hf, vllm, openai")
    run.add_argument("--hw", help="hardware profile, or auto")
    run.add_argument("--qps-target", type=float, help="server scenario target QPS")
    run.add_argument("--repeats", type=int)
    run.add_argument("--subset-seed", type=int)
    run.add_argument("--max-samples", type=int)
    run.add_argument("--report-dir")
    run.add_argument("--baseline-compare", nargs="?", const=True, help="compare with baselines (optional PATH)")
    run.add_argument("--baseline-save", nargs="?", const=True, help="save baselines (optional DIR)")
    run.add_argument("--alluredir", help="write Allure results here")
    run.add_argument("--benchmarks", default="benchmarks", help="the benchmark folder (default: benchmarks)")
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: passed to pytest")
    run.set_defaults(func=cmd_run)
