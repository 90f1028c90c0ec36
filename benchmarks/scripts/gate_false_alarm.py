"""Does the regression gate cry wolf, and does it catch a real slowdown?

One SmolLM2 engine is loaded once, in-process
(:class:`~openaiperf.engines.slowed.SlowedHFEngine`, whose ``slowdown`` sleeps that
fraction of every decoding step). Each comparison measures three cases of the
same offline workload, ``--repeats`` rounds each:

- A and A': the plain engine; A' judged against A as its baseline: a gate failure
  is a **false alarm**;
- B: the engine slowed by ``--slowdown`` of every token's time; B judged against A:
  a gate failure is a **detection**.

By default the rounds are interleaved (A, A', B, A, A', B, ...) so that the load
of a shared machine drifts over all three alike, as on a dedicated runner;
``--sequential`` measures each case's rounds back to back instead (what a
baseline stored earlier sees), which on a busy machine exposes drift between runs.
The gate is :func:`openaiperf.baselines.compare.compare_case` with the default
tolerances (10%) and its significance test (Welch t over the rounds' log values). The
prompts are short synthetic ones (``--tokens`` new tokens each) to keep it cheap.

    python benchmarks/scripts/gate_false_alarm.py --comparisons 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar, Sequence

from openaiperf.baselines.compare import baseline_from_case, compare_case
from openaiperf.baselines.gate import resolve_tolerances
from openaiperf.engines import EngineContext
from openaiperf.engines.slowed import SlowedHFEngine
from openaiperf.hardware import load_profile
from openaiperf.hardware.probe import probe_system
from openaiperf.matrix import Case
from openaiperf.models import get_model, resolve_weights
from openaiperf.records import Request, read_records
from openaiperf.runner import CaseRunner, RunSettings
from openaiperf.tasks import QualityResult, Sample

PROMPTS = ("List the planets of the solar system.", "Name three primary colours.", "Count from one to ten.",
           "Write a short greeting.", "Name four seasons.", "Give two words for happy.", "List some fruits.",
           "Name a few animals.")


class ShortPromptTask:
    """A throwaway task for this script: short chat prompts, no quality judgement."""

    kind: ClassVar[str] = "short_prompt"

    def __init__(self, tokens: int) -> None:
        from openaiperf.tasks import TaskSpec

        self.tokens = tokens
        self.spec = TaskSpec(name="gate.short_prompt", kind="summarization",
                             datasets={"eval": {"source": "inline"}}, warmup={"samples": 0},
                             input_profile={"max_new_tokens": tokens})

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        return [Sample(id=f"p{i}", fields={"prompt": p}) for i, p in enumerate(PROMPTS[: max_samples or None])]

    def build_requests(self, samples: Sequence[Sample], model: Any) -> list[Request]:
        return [Request(id=s.id, sample_id=s.id, max_tokens=self.tokens, ignore_eos=True,
                        messages=[{"role": "user", "content": s.fields["prompt"]}]) for s in samples]

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Any], model: Any) -> QualityResult:
        return QualityResult()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comparisons", type=int, default=20, help="A/A and A/B comparisons each (default 20)")
    parser.add_argument("--samples", type=int, default=4, help="requests per round (one batch)")
    parser.add_argument("--tokens", type=int, default=16, help="new tokens per request")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per case (the significance test is over them)")
    parser.add_argument("--slowdown", type=float, default=0.15, help="injected fraction of every token's time")
    parser.add_argument("--sequential", action="store_true", help="measure each case's rounds back to back")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 is steadier on a shared machine)")
    parser.add_argument("--hw", default="cpu")
    parser.add_argument("--model", default="smollm2-135m")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    hardware, system = load_profile(args.hw), probe_system()
    model = get_model(args.model)
    task = ShortPromptTask(args.tokens)
    case = Case(task.spec.name, "offline", "hf", model.name, engine_options={"batch_size": args.samples})
    dtype = hardware.default_dtype if hardware.device == "cpu" else model.dtype
    engine = SlowedHFEngine(EngineContext(model=model, weights=resolve_weights(model), hardware=hardware, dtype=dtype,
                                          options={"batch_size": args.samples, "slowdown": 0.0}))
    started = time.perf_counter()
    engine.prepare()
    print(f"engine loaded in {time.perf_counter() - started:.1f} s; {args.samples} requests x {args.tokens} tokens, "
          f"{args.repeats} rounds per case, {'sequential' if args.sequential else 'interleaved'}", flush=True)
    tolerances = resolve_tolerances(None)
    root = Path(tempfile.mkdtemp(prefix="gate-false-alarm-"))
    settings = RunSettings(max_samples=args.samples, repeats=args.repeats, warmup_samples=0)

    def new_runner(name: str) -> CaseRunner:
        run_dir = root / name
        run_dir.mkdir(parents=True, exist_ok=True)
        runner = CaseRunner(case, task=task, engine=engine, model=model, hardware=hardware, system=system,
                            dtype=dtype, run_dir=run_dir, settings=settings)
        runner.prepare()
        return runner

    def measure(runner: CaseRunner, index: int, slowdown: float) -> None:
        engine.slowdown = slowdown
        runner.measure_round(index)

    def result(runner: CaseRunner, name: str):
        data = runner.finish().to_json()
        return baseline_from_case(data, read_records(root / name / data["records_file"]))

    warm = new_runner("warmup")  # first batches are slower; never compared
    for index in range(2):
        measure(warm, index, 0.0)
    false_alarms = detections = 0
    for i in range(1, args.comparisons + 1):
        runners = {"A": new_runner("A"), "A2": new_runner("A2"), "B": new_runner("B")}
        slow = {"A": 0.0, "A2": 0.0, "B": args.slowdown}
        if args.sequential:
            order = [(name, index) for name in runners for index in range(args.repeats)]
        else:
            order = [(name, index) for index in range(args.repeats) for name in runners]
        for name, index in order:
            measure(runners[name], index, slow[name])
        a, a2, b = (result(runners[n], n) for n in ("A", "A2", "B"))
        aa, ab = compare_case(a, a2, tolerances), compare_case(a, b, tolerances)
        false_alarms += bool(aa.regressions)
        detections += bool(ab.regressions)
        tpot = {label: next((m.ratio for m in c.metrics if m.metric == "tpot_p50"), float("nan"))
                for label, c in (("aa", aa), ("ab", ab))}
        alarm = "ALARM " + ",".join(m.metric for m in aa.regressions) if aa.regressions else "ok"
        print(f"[{i:2d}] A/A {alarm:<12} tpot_p50 ratio {tpot['aa']:.3f} | A/B "
              f"{'caught' if ab.regressions else 'MISSED'} ({len(ab.regressions)} metrics) tpot_p50 ratio "
              f"{tpot['ab']:.3f}", flush=True)
        if aa.regressions:
            print("     " + "\n     ".join(m.message() for m in aa.regressions))
    engine.teardown()
    n = args.comparisons
    print(f"A/A false alarms: {false_alarms}/{n} = {false_alarms / n:.1%} (goal: 0)")
    print(f"injected {args.slowdown:.0%} slowdown detected: {detections}/{n} = {detections / n:.1%} (goal: >= 95%)")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    return 0 if false_alarms == 0 and detections >= 0.95 * n else 1


if __name__ == "__main__":
    sys.exit(main())
