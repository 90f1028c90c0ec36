"""``ob run``: the benchmark suite from the ``ob`` command, a thin wrapper over pytest.

    ob run --task summarization.xsum --model smollm2-135m --scenario offline --engine hf --repeats 3
    ob run ... -- -x -v          # anything after -- goes to pytest unchanged

Its options are the plugin's, declared once (fields of the settings models, made into
options by :mod:`openaiperf.options`):
each one given becomes the same pytest option; ``--backend`` is ``--engine``
under the name the original command line used. The exit status is pytest's.
"""

from __future__ import annotations

import argparse

from openaiperf.options import GROUPS, add_options, options
from openaiperf.redact import redact_argv


def pytest_args(args: argparse.Namespace) -> list[str]:
    out = [args.benchmarks]
    for option in options():
        out += option.argv(getattr(args, option.dest, None))
    if args.alluredir:
        out.append(f"--alluredir={args.alluredir}")
    rest = list(args.pytest_args)
    return out + (rest[1:] if rest[:1] == ["--"] else rest)


def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    argv = pytest_args(args)
    print("pytest " + " ".join(redact_argv(argv)), flush=True)  # the key or URL credentials never shown
    return int(pytest.main(argv))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser("run", help="run benchmarks (a wrapper over pytest: the plugin's options)")
    for name, what in GROUPS.items():
        group = run.add_argument_group(f"{name}: {what}")
        add_options(group.add_argument, groups=[name])
        if name == "selection":
            group.add_argument("--backend", dest="engine", help="the same as --engine")
    run.add_argument("--alluredir", help="write Allure results here")
    run.add_argument("--benchmarks", default="benchmarks",
                     help="the folder or matrix file to run (default: benchmarks)")
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: passed to pytest")
    run.set_defaults(func=cmd_run)
