"""How much the resource monitor costs: the same SmolLM2 offline case with and
without the monitor, alternating (so drifts in machine load hit both equally),
several repeats; prints output-token throughput of each and their ratio.

Also prints the direct cost: the CPU time of the monitor's worker process
over the measured rounds (the fraction of one core sampling takes).

    python benchmarks/scripts/monitor_overhead.py --repeats 4 --samples 4 --max-new-tokens 32

Goal: ratio (with / without) >= 0.99, i.e. < 1% cost. On a shared machine the
run-to-run noise can exceed 1%; the spread is printed next to the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from openaiperf.engines import EngineContext, create_engine  # noqa: E402
from openaiperf.hardware import load_profile  # noqa: E402
from openaiperf.hardware.probe import probe_system  # noqa: E402
from openaiperf.matrix import Case  # noqa: E402
from openaiperf.models import get_model, resolve_weights  # noqa: E402
from openaiperf.monitor.case import CaseMonitor  # noqa: E402
from openaiperf.records import measured  # noqa: E402
from openaiperf.runner import CaseRunner, RunSettings  # noqa: E402
from openaiperf.sweeps import apply_task_options  # noqa: E402
from openaiperf.tasks import create_task, load_task_specs  # noqa: E402


def throughput(run) -> float:
    records = [r for r in measured(run.records) if r.ok]
    return sum(r.output_tokens or 0 for r in records) / (run.end - run.start)


def worker_cpu_seconds(runner: CaseRunner) -> float:
    """CPU time (user + system) the case's monitor worker process has used so far."""
    import psutil

    worker = runner.monitor._worker
    if worker is None:
        return 0.0
    times = psutil.Process(worker.proc.pid).cpu_times()
    return times.user + times.system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", default="cpu")
    parser.add_argument("--repeats", type=int, default=4, help="pairs of runs (with, without)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--interval", type=float, default=0.1, help="monitor interval, s (default 0.1)")
    parser.add_argument("--thread", action="store_true",
                        help="sample on a thread of this process instead of the worker process (to compare)")
    args = parser.parse_args()

    hardware = load_profile(args.hw)
    system = probe_system()
    model = get_model("smollm2-135m")
    dtype = hardware.default_dtype if hardware.device == "cpu" else model.dtype
    specs = load_task_specs()
    spec = apply_task_options(specs["summarization.xsum"], {"max_new_tokens": args.max_new_tokens})
    task = create_task(spec.name, {spec.name: spec}, {"base_dir": REPO})
    engine = create_engine("hf", EngineContext(model=model, weights=resolve_weights(model), hardware=hardware,
                                               dtype=dtype, options={"batch_size": 16}))
    engine.prepare()
    case = Case(spec.name, "offline", "hf", model.name)
    rates: dict[bool, list[float]] = {True: [], False: []}
    worker_cpu = worker_wall = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        # warm the engine up once, unmeasured, so the first pair starts from the same state
        CaseRunner(case, task=task, engine=engine, model=model, hardware=hardware, system=system, dtype=dtype,
                   run_dir=Path(tmp), settings=RunSettings(max_samples=args.samples, warmup_samples=args.samples,
                                                           monitor=False)).prepare()
        for repeat in range(args.repeats):
            # alternate which goes first, so a trend in machine load does not favour one side
            for monitored in ((True, False) if repeat % 2 == 0 else (False, True)):
                settings = RunSettings(max_samples=args.samples, warmup_samples=0, monitor=monitored,
                                       monitor_interval_s=args.interval)
                runner = CaseRunner(case, task=task, engine=engine, model=model, hardware=hardware, system=system,
                                    dtype=dtype, run_dir=Path(tmp), settings=settings)
                if monitored and args.thread:
                    runner.monitor.close()
                    runner.monitor = CaseMonitor(case.id, Path(tmp), interval_s=args.interval, metrics=("cpu",),
                                                 in_process=True)
                runner.prepare()
                cpu_before = worker_cpu_seconds(runner)
                run = runner.measure_round(repeat)
                if monitored and not args.thread:
                    worker_cpu += worker_cpu_seconds(runner) - cpu_before
                    worker_wall += run.end - run.start
                rate = throughput(run)
                runner.monitor.finish()
                rates[monitored].append(rate)
                print(f"repeat {repeat}: monitor {'on ' if monitored else 'off'} {rate:8.2f} output tokens/s",
                      flush=True)
    engine.teardown()
    on, off = statistics.mean(rates[True]), statistics.mean(rates[False])
    pairs = [a / b for a, b in zip(rates[True], rates[False])]
    spread = statistics.stdev(pairs) if len(pairs) > 1 else 0.0
    print(f"\nsampling in: {'a thread of this process' if args.thread else 'the monitor worker process'}")
    print(f"monitor on : {on:.2f} output tokens/s (mean of {len(rates[True])})")
    print(f"monitor off: {off:.2f} output tokens/s (mean of {len(rates[False])})")
    print(f"throughput ratio (on/off): {on / off:.4f}  -> cost {1 - on / off:+.2%}; "
          f"paired ratios median {statistics.median(pairs):.4f}, stdev {spread:.4f}")
    if worker_wall:
        print(f"direct cost: the monitor worker used {worker_cpu:.3f} s CPU over {worker_wall:.1f} s of measured "
              f"rounds = {worker_cpu / worker_wall:.3%} of one core (interval {args.interval * 1e3:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
