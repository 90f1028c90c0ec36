"""The regression gate's trade-off, by simulation of its own code: how often a
slowdown is caught and how often an unchanged run raises a false alarm, for a
round-to-round spread, a run-to-run drift, round counts and a tolerance.

Each simulated comparison draws per-round log values of ``--metrics`` perfectly
correlated metrics (a per-token slowdown moves TPOT, E2E and throughput
together; the worst case for Holm's correction): each baseline run's rounds
``N(0, spread)`` plus that run's effect ``N(0, drift)``, the new run's rounds
``N(log(1 + change), spread)`` plus its own run effect, and judges them with
:func:`openaiperf.baselines.compare.compare_case` at its defaults. A design
``MxN:K`` is a baseline of M runs of N rounds (M > 1: ``--baseline-append``) and
a new run of K rounds.

    python benchmarks/scripts/gate_power.py                       # the table in docs/baselines-and-reports.md
    python benchmarks/scripts/gate_power.py --spread 0.02 --drift 0.01 --tolerance 0.05
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from openaiperf.baselines import Baseline
from openaiperf.baselines.compare import DRIFT, compare_case


def simulate(spread: float, drift: float, design: str, change: float, tolerance: float, metrics: int,
             trials: int, rng: np.random.Generator, assumed_drift: float = DRIFT) -> dict[str, float]:
    runs_rounds, current = design.split(":")
    runs, rounds = (int(x) for x in runs_rounds.split("x"))
    names = [f"m{i}" for i in range(metrics)]
    meta = {name: {"value": 1.0, "unit": "ms", "better": "lower"} for name in names}
    outcomes = {"regression": 0, "inconclusive": 0, "no regression": 0}
    for _ in range(trials):
        baseline_rounds = []
        for run in range(runs):
            logs = rng.normal(0, drift) + rng.normal(0, spread, rounds)
            # Perfectly correlated metrics: the same rounds under several names.
            baseline_rounds += [{"_run": str(run), **dict.fromkeys(names, float(np.exp(v)))} for v in logs]
        logs = np.log1p(change) + rng.normal(0, drift) + rng.normal(0, spread, int(current))
        current_rounds = [dict.fromkeys(names, float(np.exp(v))) for v in logs]
        baseline, now = Baseline("c", "cpu", meta, baseline_rounds), Baseline("c", "cpu", meta, current_rounds)
        case = compare_case(baseline, now, dict.fromkeys(names, tolerance), drift=assumed_drift)
        outcomes[case.outcome.value] += 1
    return {k: v / trials for k, v in outcomes.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spread", type=float, nargs="*", default=[0.01, 0.03],
                        help="round-to-round spread (log sd)")
    parser.add_argument("--drift", type=float, nargs="*", default=[0.0, 0.01, 0.03],
                        help="run-to-run drift (log sd)")
    parser.add_argument("--designs", nargs="*", default=["1x3:1", "1x5:1", "1x5:3", "5x3:1", "5x3:3"],
                        help="RUNSxROUNDS:NEW: baseline runs x rounds each, rounds of the new run")
    parser.add_argument("--change", type=float, default=0.10, help="the slowdown to catch (default 0.10)")
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--metrics", type=int, default=7, help="gated metrics moving together (default 7)")
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--assumed-drift", type=float, default=DRIFT,
                        help=f"the drift a one-run baseline assumes (--baseline-drift; default {DRIFT})")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"tolerance {args.tolerance:.0%}, {args.metrics} correlated metrics, {args.trials} trials per cell, "
          f"one-run baselines assume a {args.assumed_drift:.0%} drift; A/A: false alarms (regression) and "
          f"no-regression verdicts; A/B: {args.change:.0%} slowdown caught")
    print("| spread | drift | baseline runs x rounds : new rounds | A/A false alarm | A/A no regression | "
          "A/B caught | A/B inconclusive |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for spread in args.spread:
        for drift in args.drift:
            for design in args.designs:
                aa = simulate(spread, drift, design, 0.0, args.tolerance, args.metrics, args.trials, rng,
                              args.assumed_drift)
                ab = simulate(spread, drift, design, args.change, args.tolerance, args.metrics, args.trials, rng,
                              args.assumed_drift)
                print(f"| {spread:.0%} | {drift:.0%} | {design} | {aa['regression']:.1%} | {aa['no regression']:.0%} "
                      f"| {ab['regression']:.0%} | {ab['inconclusive']:.0%} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
