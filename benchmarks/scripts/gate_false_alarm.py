"""Does the regression gate cry wolf, and does it catch a real slowdown?

Every measurement is a **separate pytest run** of one small real case
(SmolLM2-135M on the ``hf`` engine, offline, short synthetic prompts), started
one after another as a user or CI would start them, never interleaved:

    A0, B0, A1, B1, ..., An-1, Bn-1, An

``A`` runs the plain engine; ``B`` the same case with every token after the
first slowed by ``--slowdown`` (default 10%: :class:`~fixtures.slowed_engine.SlowedHFEngine`,
loaded as a pytest plugin, so the case id and its configuration are those of
``hf``). Each run keeps ``--rounds`` measured rounds in its ``results.json``.
``--engine scripted`` measures the same through the ``openai`` engine against the
scripted server (a test instrument: no model, a known per-token gap ``--gap-ms``,
which the B runs lengthen by ``--slowdown``), restarted on one port for every run:
the gate's statistics on a timing source whose runs do not drift with the machine.

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

Every run measures a round again when the client stalled in it (``--stall-limit``,
the suite's default unless given; ``off`` records the stalls and keeps every
round): the analysis prints how often, and judges a new run as the gate does,
without a round that stalled at every attempt.

A comparison of an A run is a **false alarm** when its verdict is "regression";
one of a B run is a **detection** when its verdict is "regression". Inconclusive
verdicts are counted apart (they pass, and fail only with ``--baseline-strict``).

    python benchmarks/scripts/gate_false_alarm.py --pairs 20 --resample 100
    python benchmarks/scripts/gate_false_alarm.py --analyze DIR      # again, on recorded runs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from openaiperf.baselines import CONFIRM_ROUNDS
from openaiperf.baselines.compare import judged_rounds
from openaiperf.monitor.stalls import STALL_LIMIT_MS

REPO = Path(__file__).resolve().parents[2]


def recorded_case_id(work: Path) -> str:
    """The id of the case the runs recorded in ``work`` measured (from their arguments)."""
    recorded = json.loads((work / "runs.json").read_text())["args"]
    engine = "openai" if recorded.get("engine") == "scripted" else "hf"
    scenario = "multi_stream" if recorded.get("streams") else "offline"
    return f"gate.synthetic-{scenario}-{engine}-{recorded.get('model', 'smollm2-135m')}"

TASK = """
name: gate.synthetic
kind: synthetic
description: short random-token prompts for the gate's false-alarm and detection rates
parameters: {{input_lengths: [{input_length}], output_lengths: [{tokens}], samples_per_point: {samples}, seed: 0}}
scenarios: [{scenario}]
input_profile: {{max_new_tokens: {tokens}}}
warmup: {{samples: {warmup}}}
"""

MATRIX = """
suites:
  - name: gate
    tasks: [gate.synthetic]
    scenarios: [{scenario}]
    engines: [{engine}]
    models: [{model}]
    engine_options:
      {engine}: {options}
    scenario_options:
      multi_stream: {{stream_count: {streams}}}
"""


def load_average() -> float:
    return os.getloadavg()[0]


def run_once(work: Path, label: str, args: argparse.Namespace) -> dict[str, Any]:
    """One separate pytest run; returns where its results are and how busy the machine was."""
    report_dir = work / "runs" / label
    command = [sys.executable, "-m", "pytest", "benchmarks", "--hw", args.hw, "--matrix", str(work / "matrix.yaml"),
               "--task-file", str(work / "task.yaml"), "--task", "gate.synthetic", "--repeats", str(args.rounds),
               "--report-dir", str(report_dir), "--no-monitor", "--no-html-report", "-p", "no:cacheprovider",
               "-q", "--benchmark-disable", f"--stall-limit={args.stall_limit}"]
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(args.threads)
    server: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if args.engine == "scripted":  # the slowdown is the server's: every gap after the first token
        from openaiperf.testing.scripted_server import Script, start_scripted_server

        gap_ms = args.gap_ms * (1 + args.slowdown) if label.startswith("B") else args.gap_ms
        server = start_scripted_server(Script(tokens=args.tokens, ttft_ms=30.0, gap_ms=gap_ms), port=args.port)
    elif label.startswith("B"):
        command[3:3] = ["-p", "fixtures.slowed_engine"]
        env["OPENAIPERF_SLOWDOWN"] = str(args.slowdown)
    if args.cpus:  # pinned: the scheduler cannot move the run between cores
        command[:0] = ["taskset", "-c", args.cpus]
    load_before, started = load_average(), time.perf_counter()
    with server:
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
    scenario = "multi_stream" if args.streams else "offline"
    (work / "task.yaml").write_text(TASK.format(input_length=args.input_length, tokens=args.tokens,
                                                samples=args.samples, scenario=scenario,
                                                warmup=args.streams or args.samples))
    if args.engine == "scripted":
        from openaiperf.engines.managed_server import free_port

        args.port = free_port()  # one endpoint for every run: the baselines' configurations match
        matrix = MATRIX.format(engine="openai", model=args.model, scenario=scenario, streams=args.streams or 1,
                               options=f'{{endpoint: "http://127.0.0.1:{args.port}"}}')
    else:
        matrix = MATRIX.format(engine="hf", model=args.model, scenario=scenario, streams=args.streams or 1,
                               options=f"{{batch_size: {args.streams or args.samples}}}")
    (work / "matrix.yaml").write_text(matrix)
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
    from openaiperf.report.results import read_results

    recorded = json.loads((work / "runs.json").read_text())["runs"]
    wanted = recorded_case_id(work)
    runs = []
    for entry in recorded:
        if not entry.get("results"):
            continue
        result = next((c for c in read_results(Path(entry["results"])).cases if c.id == wanted), None)
        if result is None or result.status != "passed":
            continue
        # as the gate judges a new run: without a round the client stalled in at every attempt
        _, stalled = judged_rounds(result)
        runs.append(entry | {"case": result.model_dump(mode="json"), "result": result, "kind": entry["label"][0],
                             "index": int(entry["label"][1:]),
                             "judged": [i for i in range(len(result.rounds)) if i not in stalled]})
    return runs


def side(runs: list[dict[str, Any]], rounds: list[list[int]]) -> Any:
    """Runs' case as the gate sees it, keeping the given rounds of each; rounds of
    several runs make a baseline that knows its run-to-run drift (``--baseline-append``)."""
    from openaiperf.baselines.compare import baseline_from_case

    result = baseline_from_case(runs[0]["result"])
    tagged = []
    for run, keep in zip(runs, rounds):
        tagged += [{"_run": run["label"], **run["case"]["rounds"][i]} for i in keep]
    result.rounds = tagged if len(runs) > 1 else [{k: v for k, v in r.items() if k != "_run"} for r in tagged]
    return result


def verdict(baseline_runs: list[dict[str, Any]], baseline_rounds: list[list[int]], new_run: dict[str, Any],
            new_rounds: list[int], drift: float, confirm: list[int]) -> str:
    """The gate's verdict at its defaults but the assumed drift of a one-run baseline:
    "regression", "no regression", "inconclusive" or "refused". A regression is judged
    again with the rounds ``confirm`` added, as ``--baseline-confirm`` measures more
    rounds of the same run before the verdict (none: the verdict of ``new_rounds``)."""
    from openaiperf.baselines.gate import GateSettings, judge

    settings = GateSettings(drift=drift)
    baseline = side(baseline_runs, baseline_rounds)
    outcome = judge(baseline, side([new_run], [new_rounds]), settings)
    if outcome.outcome is not None and outcome.outcome.value == "regression" and confirm:
        outcome = judge(baseline, side([new_run], [sorted(new_rounds + confirm)]), settings)
    return "refused" if outcome.refused else outcome.outcome.value


def tally(verdicts: list[str]) -> str:
    parts = [f"{verdicts.count(v)} {v}" for v in ("regression", "inconclusive", "no regression", "refused")
             if verdicts.count(v) or v != "refused"]
    return f"{len(verdicts):3d} comparisons: " + ", ".join(parts)


def median_tpot(run: dict[str, Any]) -> float:
    import numpy as np

    return float(np.median([r["tpot_p50"] for r in run["case"]["rounds"]]))


def real_pairs(by_index: dict[tuple[str, int], dict[str, Any]], m: int, nb: int, k: int,
               drift: float, confirm: int) -> tuple[list, list]:
    """Sequential pairs: the baseline is A runs i-m+1..i (their first ``nb`` rounds); A/A
    judges run A(i+1), A/B run B(i) (their first ``k`` rounds; a regression, with the
    ``confirm`` rounds that follow)."""
    aa, ab = [], []
    last = max(index for _, index in by_index)
    for i in range(m - 1, last + 1):
        base = [by_index.get(("A", j)) for j in range(i - m + 1, i + 1)]
        if None in base:
            continue
        keep = [list(range(nb))] * m
        for kind, j, verdicts in (("A", i + 1, aa), ("B", i, ab)):
            if (kind, j) in by_index:
                judged = by_index[(kind, j)]["judged"]
                verdicts.append(verdict(base, keep, by_index[(kind, j)], judged[:k], drift, judged[k:k + confirm]))
    return aa, ab


def resampled(a_runs: list, b_runs: list, m: int, nb: int, k: int, count: int, rng: Any,
              drift: float, confirm: int) -> tuple[list, list]:
    """``count`` A/A and A/B comparisons: m + 1 different A runs drawn at random (m for
    the baseline, one judged), a B run drawn at random; rounds drawn without
    replacement within each run (a judged run's ``confirm`` rounds from those left)."""
    def pick(rounds: list[int], n: int) -> list[int]:
        return sorted(rng.choice(rounds, size=min(n, len(rounds)), replace=False).tolist())

    def judged(run: dict[str, Any], baseline: list, keep: list) -> str:
        drawn = [int(i) for i in rng.permutation(run["judged"])]
        return verdict(baseline, keep, run, sorted(drawn[:k]), drift, drawn[k:k + confirm])

    aa, ab = [], []
    for _ in range(count):
        chosen = rng.choice(len(a_runs), size=m + 1, replace=False)
        base = [a_runs[i] for i in chosen[:m]]
        keep = [pick(list(range(len(run["case"]["rounds"]))), nb) for run in base]
        new_a, new_b = a_runs[chosen[m]], b_runs[int(rng.integers(len(b_runs)))]
        aa.append(judged(new_a, base, keep))
        ab.append(judged(new_b, base, keep))
    return aa, ab


def stall_summary(runs: list[dict[str, Any]]) -> str:
    """How often the client stalled: attempts measured again, rounds kept stalled, the
    longest stall of each attempt (``--stall-limit``; runs recorded before it: none)."""
    import numpy as np

    attempts = [s for r in runs for s in r["result"].stalls]
    if not attempts:
        return "stalls of the client: not recorded in these runs"
    longest = np.array([s.longest_ms for s in attempts])
    steal = [s.steal_ms for s in attempts if s.steal_ms is not None]
    again = sum(not s.kept for s in attempts)
    stuck = sum(s.kept and s.over_limit for s in attempts)
    text = (f"stalls of the client: {len(attempts)} attempts, {again} measured again, {stuck} kept over the "
            f"limit (not judged in a new run); longest stall per attempt p50 {np.percentile(longest, 50):.1f} ms, "
            f"p99 {np.percentile(longest, 99):.1f} ms, max {longest.max():.1f} ms")
    if steal:
        text += f"; CPU steal per attempt (most of any CPU) p50 {np.median(steal):.0f} ms, max {max(steal):.0f} ms"
    return text


def analyze(work: Path, args: argparse.Namespace) -> int:
    import numpy as np

    runs = load_runs(work)
    a_runs = [r for r in runs if r["kind"] == "A"]
    b_runs = [r for r in runs if r["kind"] == "B"]
    rounds = min(len(r["case"]["rounds"]) for r in runs)
    nb = args.baseline_rounds
    ks = [int(k) for k in str(args.new_rounds).split(",")]
    ms = [int(m) for m in str(args.baseline_runs).split(",")]
    if nb > rounds or max(ks) + args.confirm > rounds:
        raise SystemExit(f"runs have {rounds} rounds: --baseline-rounds {nb} / --new-rounds {max(ks)} with "
                         f"--confirm {args.confirm} do not fit")
    loads = [x for r in runs for x in (r["load_before"], r["load_after"])]
    print(f"{len(a_runs)} A runs and {len(b_runs)} B runs of {recorded_case_id(work)}, {rounds} rounds each, "
          f"{sum(r['seconds'] for r in runs) / 60:.0f} min; load average (1 min) at the start and end of each run: "
          f"median {np.median(loads):.2f}, range {min(loads):.2f}-{max(loads):.2f} on {os.cpu_count()} CPUs")
    ratio = np.median([median_tpot(b) for b in b_runs]) / np.median([median_tpot(a) for a in a_runs])
    print(f"TPOT p50, median over runs: B / A = {ratio:.3f} (injected slowdown {args.slowdown:.0%} per token)")
    within = [float(np.std(np.log([r["tpot_p50"] for r in run["case"]["rounds"]]), ddof=1)) for run in a_runs]
    drift = float(np.std(np.log([median_tpot(a) for a in a_runs]), ddof=1))
    print(f"A runs, TPOT p50 (log sd): round to round within a run, median {np.median(within):.3f}; "
          f"run to run (run medians) {drift:.3f}")
    print(stall_summary(runs))
    by_index = {(r["kind"], r["index"]): r for r in runs}
    passed = {}
    drifts = [float(d) for d in str(args.drift).split(",")]
    settings = [(runs, k, d) for runs in ms for k in ks for d in (drifts if runs == 1 else drifts[:1])]
    for m, k, d in settings:
        rng = np.random.default_rng(args.seed)  # the same draws for every setting
        assumed = f", assumed drift {d:.0%}" if m == 1 else ""
        confirmed = f" (+{args.confirm} to confirm a regression)" if args.confirm else ""
        setting = f"baseline {m} run(s) x {nb} rounds, new run {k} round(s){confirmed}{assumed}"
        aa, ab = real_pairs(by_index, m, nb, k, d, args.confirm)
        raa, rab = resampled(a_runs, b_runs, m, nb, k, args.resample, rng, d, args.confirm)
        alarms, caught = raa.count("regression"), rab.count("regression")
        ok = alarms <= 0.01 * len(raa) and caught >= 0.95 * len(rab)
        passed[setting] = ok
        print(f"\n-- {setting} --")
        print(f"real sequential pairs  A/A: {tally(aa)}")
        print(f"real sequential pairs  A/B: {tally(ab)}")
        print(f"resampled              A/A: {tally(raa)}")
        print(f"resampled              A/B: {tally(rab)}")
        print(f"A/A false alarms {alarms}/{len(raa)} (goal <= 1 in 100), A/B detections {caught}/{len(rab)} "
              f"(goal >= 95 in 100): {'PASS' if ok else 'FAIL'}")
    # the recording's own settings (an --analyze run gives only the analysis's)
    rec = argparse.Namespace(**{**vars(args), **json.loads((work / "runs.json").read_text())["args"]})
    command = (f"python benchmarks/scripts/gate_false_alarm.py --pairs {rec.pairs} --rounds {rec.rounds} "
               f"--samples {rec.samples} --tokens {rec.tokens} --input-length {rec.input_length} "
               f"--slowdown {rec.slowdown} --threads {rec.threads} --baseline-rounds {nb} --baseline-runs "
               f"{args.baseline_runs} --new-rounds {args.new_rounds} --confirm {args.confirm} --resample "
               f"{args.resample} --drift {args.drift}"
               + (f" --model {rec.model}" if rec.model != "smollm2-135m" else "")
               + (f" --engine scripted --gap-ms {rec.gap_ms:g}" if rec.engine == "scripted" else "")
               + (f" --cpus {rec.cpus}" if rec.cpus else "")
               + (f" --streams {rec.streams}" if getattr(rec, "streams", 0) else "")
               + (f" --stall-limit {rec.stall_limit}" if getattr(rec, "stall_limit", None) else ""))
    print(f"\nreproduce: {command}\nrecorded runs: {work} (analyze them again: --analyze {work})")
    return 0 if all(passed.values()) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=24,
                        help="B runs, each after an A run (default 24: 20 real pairs for five-run baselines)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per run (default 5)")
    parser.add_argument("--samples", type=int, default=4,
                        help="requests per round (default 4): one batch (offline), or --streams at a time")
    parser.add_argument("--streams", type=int, default=0, metavar="N",
                        help="closed-loop streams (multi_stream): a round of --samples requests is several waves, "
                             "so a hiccup of the machine touches a wave, not every request of the round "
                             "(default 0: offline, the round is one batch)")
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per request (default 32)")
    parser.add_argument("--input-length", type=int, default=32, help="prompt tokens (default 32)")
    parser.add_argument("--slowdown", type=float, default=0.10, help="injected per-token slowdown (default 0.10)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (OMP_NUM_THREADS) of every run")
    parser.add_argument("--hw", default="cpu")
    parser.add_argument("--model", default="smollm2-135m",
                        help="registry model of the case (default smollm2-135m; tiny-llama: random weights)")
    parser.add_argument("--engine", choices=["hf", "scripted"], default="hf",
                        help="hf: the real model through transformers (default); scripted: the openai engine against "
                             "the scripted server, whose per-token gap the B runs lengthen by --slowdown")
    parser.add_argument("--stall-limit", default=f"{STALL_LIMIT_MS:g}ms", metavar="DURATION|off",
                        help="every run's --stall-limit (default: the suite's)")
    parser.add_argument("--gap-ms", type=float, default=10.0, help="scripted: the A runs' per-token gap (default 10)")
    parser.add_argument("--cpus", default=None, metavar="LIST",
                        help="pin every run to these CPUs with taskset (e.g. 1), so the scheduler cannot move it")
    parser.add_argument("--work", default=None, help="folder for the runs (default: a new temporary folder)")
    parser.add_argument("--record-only", action="store_true", help="record the runs, do not analyze")
    parser.add_argument("--analyze", default=None, metavar="DIR", help="analyze runs recorded in DIR (no new runs)")
    parser.add_argument("--baseline-rounds", type=int, default=3, help="rounds of each baseline run (default 3)")
    parser.add_argument("--baseline-runs", default="1,5",
                        help="runs in a baseline, comma-separated (default 1,5: --baseline-save, and five "
                             "--baseline-append runs)")
    parser.add_argument("--new-rounds", default="1,3", help="rounds of the judged run, comma-separated (default 1,3)")
    parser.add_argument("--confirm", type=int, default=CONFIRM_ROUNDS, metavar="N",
                        help="rounds of the judged run added when its rounds make a regression, as "
                             f"--baseline-confirm measures them (default {CONFIRM_ROUNDS}, the gate's; 0: none); "
                             "--rounds must hold --new-rounds + N")
    parser.add_argument("--resample", type=int, default=100, help="resampled comparisons per kind (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    parser.add_argument("--drift", default="0.05",
                        help="run-to-run drift a one-run baseline assumes (--baseline-drift), comma-separated to "
                             "compare several (default 0.05, the gate's default)")
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
