"""Does the regression gate cry wolf, and does it catch a real slowdown?

Every measurement is a **separate pytest run** of one small real case
(SmolLM2-135M on the ``hf`` engine, offline, short synthetic prompts), started
one after another as a user or CI would start them, never interleaved:

    A0, B0, A1, B1, ..., An-1, Bn-1, An

``A`` runs the plain engine; ``B`` the same case with every token after the
first slowed by ``--slowdown`` (default 10%: :class:`~openaiperf.engines.slowed.SlowedHFEngine`,
loaded as a pytest plugin, so the case id and its configuration are those of
``hf``). Each run keeps ``--rounds`` measured rounds in its ``results.json``.

The gate is :func:`openaiperf.baselines.gate.compare_with_baseline`, at its defaults
(tolerances, alpha, Holm across the case's metrics), on baselines of
``--baseline-rounds`` rounds (saving needs at least three):

- **real sequential pairs**: run Ai is the baseline (its first ``--baseline-rounds``
  rounds); the A/A comparison judges the next A run, the A/B comparison the B run
  right after Ai; the new run contributes its first ``k`` rounds, for each
  ``k`` of ``--new-rounds`` (``k = 1`` is a default ``--repeats 1`` run);
- **resampled comparisons** (``--resample N``): N times, a baseline run and a
  different new run are drawn at random from the recorded runs (A for the
  baseline; A or B for the new run), then ``--baseline-rounds`` rounds of the
  one and ``k`` rounds of the other, without replacement within a run. The
  draws reuse a limited number of real runs, so they are not independent: the
  real pairs are the primary evidence, the resampled counts the larger sample.

A comparison of an A run is a **false alarm** when its verdict is "regression";
one of a B run is a **detection** when its verdict is "regression". Inconclusive
verdicts are counted apart (they pass, and fail only with ``--baseline-strict``).

    python benchmarks/scripts/gate_false_alarm.py --pairs 20 --resample 100
    python benchmarks/scripts/gate_false_alarm.py --analyze DIR      # again, on recorded runs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CASE_ID = "gate.synthetic-offline-hf-smollm2-135m"

TASK = """
name: gate.synthetic
kind: synthetic
description: short random-token prompts for the gate's false-alarm and detection rates
parameters: {{input_lengths: [{input_length}], output_lengths: [{tokens}], samples_per_point: {samples}, seed: 0}}
scenarios: [offline]
input_profile: {{max_new_tokens: {tokens}}}
warmup: {{samples: {samples}}}
"""

MATRIX = """
suites:
  - name: gate
    tasks: [gate.synthetic]
    scenarios: [offline]
    engines: [hf]
    models: [smollm2-135m]
    engine_options:
      hf: {{batch_size: {samples}}}
"""


def load_average() -> float:
    return os.getloadavg()[0]


def run_once(work: Path, label: str, args: argparse.Namespace) -> dict[str, Any]:
    """One separate pytest run; returns where its results are and how busy the machine was."""
    report_dir = work / "runs" / label
    command = [sys.executable, "-m", "pytest", "benchmarks", "--hw", args.hw, "--matrix", str(work / "matrix.yaml"),
               "--task-file", str(work / "task.yaml"), "--task", "gate.synthetic", "--repeats", str(args.rounds),
               "--report-dir", str(report_dir), "--no-monitor", "--no-html-report", "-p", "no:cacheprovider",
               "-q", "--benchmark-disable"]
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(args.threads)
    if label.startswith("B"):
        command[3:3] = ["-p", "openaiperf.engines.slowed"]
        env["OPENAIPERF_SLOWDOWN"] = str(args.slowdown)
    load_before, started = load_average(), time.perf_counter()
    completed = subprocess.run(command, check=False, cwd=REPO, env=env, capture_output=True, text=True)
    entry = {"label": label, "returncode": completed.returncode, "seconds": round(time.perf_counter() - started, 1),
             "load_before": round(load_before, 2), "load_after": round(load_average(), 2)}
    results = sorted(report_dir.glob("*/results.json"))
    entry["results"] = str(results[-1]) if results else None
    if completed.returncode != 0 or not results:
        entry["output_tail"] = (completed.stdout + completed.stderr)[-3000:]
    return entry


def record(work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "task.yaml").write_text(TASK.format(input_length=args.input_length, tokens=args.tokens,
                                                samples=args.samples))
    (work / "matrix.yaml").write_text(MATRIX.format(samples=args.samples))
    labels = [label for i in range(args.pairs) for label in (f"A{i:03d}", f"B{i:03d}")] + [f"A{args.pairs:03d}"]
    runs: list[dict[str, Any]] = []
    for label in labels:
        entry = run_once(work, label, args)
        runs.append(entry)
        (work / "runs.json").write_text(json.dumps({"args": vars(args), "runs": runs}, indent=2, default=str))
        status = "ok" if entry["results"] and entry["returncode"] == 0 else f"FAILED rc={entry['returncode']}"
        print(f"{label}: {status} in {entry['seconds']} s (load {entry['load_before']} -> {entry['load_after']})",
              flush=True)
        if entry.get("output_tail") and not entry["results"]:
            print(entry["output_tail"], flush=True)
    return runs


# -- analysis ------------------------------------------------------------------------------
def load_runs(work: Path) -> list[dict[str, Any]]:
    """The recorded runs that produced a case result, in recording order."""
    recorded = json.loads((work / "runs.json").read_text())["runs"]
    runs = []
    for entry in recorded:
        if not entry.get("results"):
            continue
        document = json.loads(Path(entry["results"]).read_text())
        case = next((c for c in document["cases"] if c["id"] == CASE_ID), None)
        if case is None or case.get("status") != "passed":
            continue
        runs.append(entry | {"case": case, "kind": entry["label"][0], "index": int(entry["label"][1:])})
    return runs


def side(run: dict[str, Any], rounds: list[int]) -> Any:
    """A run's case as the gate sees it, keeping only the given rounds."""
    from openaiperf.baselines.compare import baseline_from_case

    case = dict(run["case"])
    case["rounds"] = [case["rounds"][i] for i in rounds]
    return baseline_from_case(case)


def verdict(baseline_run: dict[str, Any], baseline_rounds: list[int], new_run: dict[str, Any],
            new_rounds: list[int]) -> tuple[str, Any]:
    """The gate's verdict at its defaults: "regression", "no regression", "inconclusive" or "refused"."""
    from openaiperf.baselines.gate import GateSettings, judge

    outcome = judge(side(baseline_run, baseline_rounds), side(new_run, new_rounds), GateSettings())
    if outcome.refused:
        return "refused", outcome
    return outcome.outcome.value, outcome


def tally(verdicts: list[str]) -> str:
    n = len(verdicts)
    parts = [f"{verdicts.count(v)} {v}" for v in ("regression", "inconclusive", "no regression", "refused")
             if verdicts.count(v) or v != "refused"]
    return f"{n} comparisons: " + ", ".join(parts)


def median_tpot(run: dict[str, Any]) -> float:
    import numpy as np

    return float(np.median([r["tpot_p50"] for r in run["case"]["rounds"]]))


def analyze(work: Path, args: argparse.Namespace) -> int:
    import numpy as np

    runs = load_runs(work)
    a_runs = [r for r in runs if r["kind"] == "A"]
    b_runs = [r for r in runs if r["kind"] == "B"]
    rounds = min(len(r["case"]["rounds"]) for r in runs)
    nb = args.baseline_rounds
    ks = [int(k) for k in str(args.new_rounds).split(",")]
    if nb > rounds or max(ks) > rounds:
        raise SystemExit(f"runs have {rounds} rounds: --baseline-rounds {nb} / --new-rounds {max(ks)} do not fit")
    loads = [x for r in runs for x in (r["load_before"], r["load_after"])]
    print(f"{len(a_runs)} A runs and {len(b_runs)} B runs of {CASE_ID}, {rounds} rounds each, "
          f"{sum(r['seconds'] for r in runs) / 60:.0f} min; load average (1 min) during the runs: "
          f"median {np.median(loads):.2f}, max {max(loads):.2f} on {os.cpu_count()} CPUs")
    ratio = np.median([median_tpot(b) for b in b_runs]) / np.median([median_tpot(a) for a in a_runs])
    print(f"TPOT p50, median over runs: B / A = {ratio:.3f} (injected slowdown {args.slowdown:.0%} per token)")
    spreads = [float(np.std(np.log([r["tpot_p50"] for r in run["case"]["rounds"]]), ddof=1)) for run in a_runs]
    drift = float(np.std(np.log([median_tpot(a) for a in a_runs]), ddof=1))
    print(f"A runs: TPOT p50 round-to-round spread (log sd) median {np.median(spreads):.3f}; run-to-run spread of "
          f"run medians {drift:.3f}")
    by_index = {(r["kind"], r["index"]): r for r in runs}
    failed = False
    first = list(range(nb))
    for k in ks:
        print(f"\n-- baseline {nb} rounds, new run {k} round(s) --")
        aa, ab = [], []
        for i in range(max(r["index"] for r in runs) + 1):
            base = by_index.get(("A", i))
            if base is None:
                continue
            if ("A", i + 1) in by_index:
                aa.append(verdict(base, first, by_index[("A", i + 1)], list(range(k)))[0])
            if ("B", i) in by_index:
                ab.append(verdict(base, first, by_index[("B", i)], list(range(k)))[0])
        print(f"real sequential pairs  A/A: {tally(aa)}")
        print(f"real sequential pairs  A/B: {tally(ab)}")
        rng = np.random.default_rng(args.seed)
        raa, rab = [], []
        for _ in range(args.resample):
            base, other = rng.choice(len(a_runs), size=2, replace=False)
            base_rounds = sorted(rng.choice(rounds, size=nb, replace=False).tolist())
            raa.append(verdict(a_runs[base], base_rounds, a_runs[other],
                               sorted(rng.choice(rounds, size=k, replace=False).tolist()))[0])
            slow = b_runs[int(rng.integers(len(b_runs)))]
            rab.append(verdict(a_runs[base], base_rounds, slow,
                               sorted(rng.choice(rounds, size=k, replace=False).tolist()))[0])
        print(f"resampled              A/A: {tally(raa)}")
        print(f"resampled              A/B: {tally(rab)}")
        alarms, caught = raa.count("regression"), rab.count("regression")
        ok = alarms <= 0.01 * len(raa) and caught >= 0.95 * len(rab) and not aa.count("regression") > 0.05 * len(aa)
        print(f"A/A false alarms {alarms}/{len(raa)} (goal <= 1 in 100), A/B detections {caught}/{len(rab)} "
              f"(goal >= 95 in 100): {'PASS' if ok else 'FAIL'}")
        failed |= not ok
    refused = [v for v in ("refused",) if v in aa + ab]
    if refused:
        print("some comparisons were refused: the runs' configurations differ (see the fingerprints)")
    command = (f"python benchmarks/scripts/gate_false_alarm.py --pairs {args.pairs} --rounds {args.rounds} "
               f"--samples {args.samples} --tokens {args.tokens} --input-length {args.input_length} "
               f"--slowdown {args.slowdown} --threads {args.threads} --baseline-rounds {nb} --new-rounds "
               f"{args.new_rounds} --resample {args.resample}")
    print(f"\nreproduce: {command}\nrecorded runs: {work} (re-analyze: --analyze {work})")
    return 1 if failed else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20, help="real sequential A/A and A/B pairs (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per run (default 5)")
    parser.add_argument("--samples", type=int, default=4, help="requests per round, one batch (default 4)")
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per request (default 32)")
    parser.add_argument("--input-length", type=int, default=32, help="prompt tokens (default 32)")
    parser.add_argument("--slowdown", type=float, default=0.10, help="injected per-token slowdown (default 0.10)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (OMP_NUM_THREADS) of every run")
    parser.add_argument("--hw", default="cpu")
    parser.add_argument("--work", default=None, help="folder for the runs (default: a new temporary folder)")
    parser.add_argument("--record-only", action="store_true", help="record the runs, do not analyze")
    parser.add_argument("--analyze", default=None, metavar="DIR", help="analyze runs recorded in DIR (no new runs)")
    parser.add_argument("--baseline-rounds", type=int, default=3, help="rounds of a baseline (default 3)")
    parser.add_argument("--new-rounds", default="1,3", help="rounds of the judged run, comma-separated (default 1,3)")
    parser.add_argument("--resample", type=int, default=100, help="resampled comparisons per kind (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.analyze:
        work = Path(args.analyze)
    else:
        work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gate-false-alarm-"))
        print(f"recording {2 * args.pairs + 1} runs in {work}", flush=True)
        record(work, args)
    if args.record_only:
        return 0
    return analyze(work, args)


if __name__ == "__main__":
    sys.exit(main())
