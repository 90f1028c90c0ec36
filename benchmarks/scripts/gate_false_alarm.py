"""Does the regression gate cry wolf, and does it catch a real slowdown?

One SmolLM2 engine is loaded once, in-process. Runs alternate between the plain
engine (A) and the same engine slowed down by ``--slowdown`` of every token's
time (B, :class:`~openaiperf.engines.slowed.SlowedHFEngine`):

    A0, A1, B1, A2, B2, ..., An, Bn

- A/A: A(i) is compared with A(i-1) as its baseline; any gate failure is a false alarm;
- A/B: B(i) is compared with A(i), the run just before it; a gate failure is a detection.

Each run is a :class:`~openaiperf.runner.CaseRunner` case (offline scenario,
``--samples`` samples, ``--tokens`` new tokens, ``--repeats`` rounds) turned into a
baseline-shaped result and judged by :func:`openaiperf.baselines.gate.gate` with the
default tolerances. Prints both rates.

    python benchmarks/scripts/gate_false_alarm.py --comparisons 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from openaiperf.baselines.compare import baseline_from_case, compare_case
from openaiperf.baselines.gate import resolve_tolerances
from openaiperf.engines import EngineContext
from openaiperf.engines.slowed import SlowedHFEngine
from openaiperf.hardware import load_profile
from openaiperf.hardware.probe import probe_system
from openaiperf.matrix import Case
from openaiperf.models import get_model, resolve_weights
from openaiperf.records import read_records
from openaiperf.runner import CaseRunner, RunSettings
from openaiperf.tasks import create_task, load_task_specs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comparisons", type=int, default=20, help="A/A and A/B comparisons each (default 20)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=16, help="max new tokens per request")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per run (the bootstrap resamples them)")
    parser.add_argument("--slowdown", type=float, default=0.15, help="injected fraction of every token's time")
    parser.add_argument("--hw", default="cpu")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (1 is steadier on a machine shared with other jobs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    hardware, system = load_profile(args.hw), probe_system()
    model = get_model(args.model)
    specs = load_task_specs()
    spec = specs["summarization.xsum"]
    specs[spec.name] = spec.model_copy(update={
        "input_profile": spec.input_profile.model_copy(update={"max_new_tokens": args.tokens})})
    case = Case(spec.name, "offline", "hf", model.name, engine_options={"batch_size": args.samples})
    dtype = hardware.default_dtype if hardware.device == "cpu" else model.dtype
    engine = SlowedHFEngine(EngineContext(model=model, weights=resolve_weights(model), hardware=hardware, dtype=dtype,
                                          options={"batch_size": args.samples, "slowdown": 0.0}))
    started = time.perf_counter()
    engine.prepare()
    print(f"engine loaded in {time.perf_counter() - started:.1f} s", flush=True)
    task = create_task(spec.name, specs, {"base_dir": Path.cwd()})
    tolerances = resolve_tolerances(spec)
    run_dir = Path(tempfile.mkdtemp(prefix="gate-false-alarm-"))
    settings = RunSettings(max_samples=args.samples, repeats=args.repeats, warmup_samples=0)

    def run(slowdown: float):
        engine.slowdown = slowdown
        runner = CaseRunner(case, task=task, engine=engine, model=model, hardware=hardware, system=system,
                            dtype=dtype, run_dir=run_dir, settings=settings)
        runner.prepare()
        for index in range(args.repeats):
            runner.measure_round(index)
        result = runner.finish().to_json()
        return baseline_from_case(result, read_records(run_dir / result["records_file"]))

    run(0.0)  # warm the engine up (first batches are slower); not compared
    previous = run(0.0)
    false_alarms = detections = 0
    for i in range(1, args.comparisons + 1):
        a = run(0.0)
        b = run(args.slowdown)
        aa = compare_case(previous, a, tolerances)
        ab = compare_case(a, b, tolerances)
        false_alarms += bool(aa.regressions)
        detections += bool(ab.regressions)
        tpot_aa = next((m for m in aa.metrics if m.metric == "tpot_p50"), None)
        tpot_ab = next((m for m in ab.metrics if m.metric == "tpot_p50"), None)
        print(f"[{i:2d}] A/A {'ALARM ' + ','.join(m.metric for m in aa.regressions) if aa.regressions else 'ok':<30}"
              f" tpot_p50 ratio {tpot_aa.ratio if tpot_aa else float('nan'):.3f} | "
              f"A/B {'caught' if ab.regressions else 'MISSED':<7} tpot_p50 ratio "
              f"{tpot_ab.ratio if tpot_ab else float('nan'):.3f} ({len(ab.regressions)} metrics)", flush=True)
        previous = a
    engine.teardown()
    n = args.comparisons
    print(f"A/A false alarms: {false_alarms}/{n} = {false_alarms / n:.1%} (goal: 0)")
    print(f"injected {args.slowdown:.0%} slowdown detected: {detections}/{n} = {detections / n:.1%} (goal: >= 95%)")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    return 0 if false_alarms == 0 and detections >= 0.95 * n else 1


if __name__ == "__main__":
    sys.exit(main())
