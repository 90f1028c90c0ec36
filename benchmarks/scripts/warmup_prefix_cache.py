"""Do warmup requests turn the measured ones into prefix-cache hits?

Starts the managed vLLM server on SmolLM2 with prefix caching ON (on purpose:
the suite's default is off) and reads vLLM's ``/metrics`` prefix-cache counters
(``vllm:prefix_cache_hits``/``_queries``, in tokens) around each measured
request of three kinds, each on samples of its own (the XSum task's chat
requests, system message first):

- ``tagged warmup``: a warmup request as the suite sends it
  (``Request.warmup_copy``: a tag in front of the first message), then the
  measured request;
- ``no warmup``: the measured request alone (what it shares with earlier,
  different requests: the chat template's header and the task's system prompt);
- ``exact warmup``: the same request sent first unchanged (what the suite did
  before), then the measured request.

Goal: tagged warmup gives the measured request no more hits than no warmup.

    python benchmarks/scripts/warmup_prefix_cache.py [--samples 3]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))

from openaiperf.engines import EngineContext  # noqa: E402
from openaiperf.engines.managed_server import ManagedServer  # noqa: E402
from openaiperf.engines.openai import OpenAIEngine  # noqa: E402
from openaiperf.models import get_model, resolve_weights  # noqa: E402
from openaiperf.records import Record, Request  # noqa: E402
from openaiperf.tasks import create_task, load_task_specs  # noqa: E402


def counters(url: str) -> tuple[float, float]:
    """(hit tokens, queried tokens) so far, summed over vLLM's engines."""
    text = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()

    def total(name: str) -> float:
        return sum(float(v) for v in re.findall(rf"^vllm:{name}_total(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M))

    return total("prefix_cache_hits"), total("prefix_cache_queries")


def send(engine: OpenAIEngine, request: Request) -> Record:
    record = Record(request_id=request.id, sample_id=request.sample_id)
    record.scheduled = time.perf_counter()
    engine.run([request], [record], lambda r: None)
    if not record.ok:
        raise SystemExit(f"request {request.id} failed: {record.error}")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3, help="measured requests per kind")
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()
    model = get_model(args.model)
    weights = resolve_weights(model)
    task = create_task("summarization.xsum", load_task_specs(), {"base_dir": REPO})
    requests = task.build_requests(task.load_samples(3 * args.samples, None), model)
    with tempfile.TemporaryDirectory() as tmp:
        server = ManagedServer(weights, args.model, log_dir=Path(tmp), args={"enable_prefix_caching": True})
        server.start()
        try:
            engine = OpenAIEngine(EngineContext(model=None, weights=weights,
                                                hardware=SimpleNamespace(device="cpu"), dtype="float32",
                                                options={"endpoint": server.base_url, "served_model": args.model,
                                                         "client_tokenizer": False}))
            engine.prepare()
            print(f"server: {' '.join(server.shown_command[3:])}")
            print(f"{'kind':<14}{'request':<12}{'hit tokens':>12}{'queried':>10}")
            kinds = {"tagged warmup": lambda r, i: r.warmup_copy(i), "no warmup": None,
                     "exact warmup": lambda r, i: Request(**{**r.__dict__, "id": f"warmup-{i}:{r.id}"})}
            summary = {}
            for k, (kind, warm) in enumerate(kinds.items()):
                hits_total = 0.0
                for index in range(args.samples):
                    request = requests[k * args.samples + index]
                    if warm is not None:
                        send(engine, warm(request, index))
                    before = counters(server.base_url)
                    send(engine, request)
                    time.sleep(0.5)  # the counters are updated with the engine's stats
                    after = counters(server.base_url)
                    hits, queried = after[0] - before[0], after[1] - before[1]
                    hits_total += hits
                    print(f"{kind:<14}{request.id:<12}{hits:>12.0f}{queried:>10.0f}", flush=True)
                summary[kind] = hits_total
            engine.teardown()
        finally:
            server.stop()
    print("measured requests' prefix-cache hit tokens: " + ", ".join(f"{k} {v:.0f}" for k, v in summary.items()))


if __name__ == "__main__":
    main()
