"""Fuzz every parser of outside input for minutes, and say how many inputs each one tried.

The targets and their properties are those of ``tests/fuzz`` (``tests/fuzz/targets.py``:
never an uncaught exception, never a hang, a clear error or a correct parse). CI runs
them under the bounded ``ci`` profile; this script runs them under ``long`` (new random
inputs every run), in batches, sharing the time equally between the targets, and
prints a table of inputs tried per target. A failure prints Hypothesis's minimal
failing input and its reproduction blob, and the script exits with 1.

    python benchmarks/scripts/fuzz.py --profile long --minutes 10
    python benchmarks/scripts/fuzz.py --minutes 2 --target sse.stream --target sse.served
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "src"), str(REPO)]
# the scripted server runs in a subprocess: the same sources
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)

from tests.fuzz.targets import TARGETS, TRIED, FuzzEnv, run_target  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="long", choices=["ci", "long"],
                        help="ci: each target's bounded, reproducible inputs once (--minutes is ignored); "
                             "long: new inputs in batches for --minutes (default)")
    parser.add_argument("--minutes", type=float, default=5.0, help="total time, shared equally by the targets")
    parser.add_argument("--batch", type=int, default=200, help="inputs per Hypothesis run in the long profile")
    parser.add_argument("--target", action="append", choices=[t.name for t in TARGETS],
                        help="only this target (repeatable; default: all)")
    args = parser.parse_args(argv)
    targets = [t for t in TARGETS if not args.target or t.name in args.target]
    share_s = args.minutes * 60 / len(targets)
    failed: list[str] = []
    spent: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ob-fuzz-") as scratch:
        env = FuzzEnv(Path(scratch))
        try:
            for target in targets:
                start = time.monotonic()
                try:
                    if args.profile == "ci":
                        run_target(target, env, "ci", target.ci_examples)
                    else:
                        while time.monotonic() - start < share_s:
                            run_target(target, env, "long", args.batch)
                except Exception:  # noqa: BLE001 - Hypothesis's report of the failing input
                    traceback.print_exc()
                    failed.append(target.name)
                spent[target.name] = time.monotonic() - start
                print(f"{target.name}: {TRIED[target.name]} inputs in {spent[target.name]:.0f} s", flush=True)
        finally:
            env.close()
    print(f"\n{'target':<16} {'inputs tried':>12} {'seconds':>8} {'inputs/s':>9}  result")
    for target in targets:
        tried, seconds = TRIED[target.name], spent.get(target.name, 0.0)
        rate = tried / seconds if seconds else 0.0
        result = "FAILED" if target.name in failed else "ok"
        print(f"{target.name:<16} {tried:>12} {seconds:>8.0f} {rate:>9.0f}  {result}")
    print(f"{'total':<16} {sum(TRIED[t.name] for t in targets):>12} {sum(spent.values()):>8.0f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
