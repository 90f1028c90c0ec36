"""How much the resource monitor costs: the same SmolLM2 offline case with and
without the monitor, alternating (so drifts in machine load hit both equally),
several repeats; prints output-token throughput of each and their ratio.

Also prints the direct cost: the mean time of one monitor reading divided by
the interval (the fraction of one core the sampling thread takes).

    python benchmarks/scripts/monitor_overhead.py --repeats 4 --samples 4 --max-new-tokens 32

Goal: ratio (with / without) >= 0.99, i.e. < 1% cost. On a shared machine the
run-to-run noise can exceed 1%; the spread is printed next to the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from openaiperf.engines import EngineContext, create_engine  # noqa: E402
from openaiperf.hardware import load_profile  # noqa: E402
from openaiperf.hardware.probe import probe_system  # noqa: E402
from openaiperf.matrix import Case  # noqa: E402
from openaiperf.models import get_model, resolve_weights  # noqa: E402
from openaiperf.monitor import Monitor, create_samplers  # noqa: E402
from openaiperf.records import measured  # noqa: E402
from openaiperf.runner import CaseRunner, RunSettings  # noqa: E402
from openaiperf.sweeps import apply_task_options  # noqa: E402
from openaiperf.tasks import create_task, load_task_specs  # noqa: E402


def throughput(run) -> float:
    records = [r for r in measured(run.records) if r.ok]
    return sum(r.output_tokens or 0 for r in records) / (run.end - run.start)


def reading_cost(interval_s: float, metrics: tuple[str, ...], reads: int = 200) -> float:
    """Mean seconds of one monitor reading (all samplers) / interval."""
    samplers, _ = create_samplers(metrics)
    monitor = Monitor(samplers, interval_s=interval_s)
    start = time.perf_counter()
    for _ in range(reads):
        monitor._read()
    return (time.perf_counter() - start) / reads / interval_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", default="cpu")
    parser.add_argument("--repeats", type=int, default=4, help="pairs of runs (with, without)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--interval", type=float, default=0.1, help="monitor interval, s (default 0.1)")
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
    metrics = ("cpu", "gpu") if hardware.device != "cpu" else ("cpu",)
    rates: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            # alternate which goes first, so a trend in machine load does not favour one side
            for monitored in ((True, False) if repeat % 2 == 0 else (False, True)):
                settings = RunSettings(max_samples=args.samples, warmup_samples=2 if repeat == 0 else 0,
                                       monitor=monitored, monitor_interval_s=args.interval)
                runner = CaseRunner(case, task=task, engine=engine, model=model, hardware=hardware, system=system,
                                    dtype=dtype, run_dir=Path(tmp), settings=settings)
                runner.prepare()
                rate = throughput(runner.measure_round(repeat))
                runner.monitor.finish()
                rates[monitored].append(rate)
                print(f"repeat {repeat}: monitor {'on ' if monitored else 'off'} {rate:8.2f} output tokens/s",
                      flush=True)
    engine.teardown()
    on, off = statistics.mean(rates[True]), statistics.mean(rates[False])
    pairs = [a / b for a, b in zip(rates[True], rates[False])]
    spread = statistics.stdev(pairs) if len(pairs) > 1 else 0.0
    cost = reading_cost(args.interval, metrics)
    print(f"\nmonitor on : {on:.2f} output tokens/s (mean of {len(rates[True])})")
    print(f"monitor off: {off:.2f} output tokens/s (mean of {len(rates[False])})")
    print(f"throughput ratio (on/off): {on / off:.4f}  -> cost {1 - on / off:+.2%}; "
          f"paired ratios median {statistics.median(pairs):.4f}, stdev {spread:.4f}")
    print(f"direct cost: one reading takes {cost * args.interval * 1e3:.3f} ms every {args.interval * 1e3:.0f} ms "
          f"= {cost:.3%} of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
