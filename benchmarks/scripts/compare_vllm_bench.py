"""Do our numbers agree with vLLM's own benchmark tool?

One managed vLLM OpenAI server on SmolLM2 (or ``--endpoint URL``); the same
workload -- the same prompts (the XSum task's articles, as plain completions
prompts), the same output length (``ignore_eos``), the same Poisson rate and
seed, the arrival schedule drawn exactly as ``vllm bench serve`` draws it -- is
sent through our ``openai`` engine and load generator and through
``vllm.benchmarks.serve`` (``vllm bench serve``). Prints both medians of TTFT,
TPOT and output throughput and the ratio ours / vLLM's (goal: within 10%).
The two runs alternate ``--repeats`` times; the medians are over the runs.

    python benchmarks/scripts/compare_vllm_bench.py --num-prompts 32 --rate 2 --output-len 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from openaiperf.engines import EngineContext
from openaiperf.engines.openai import OpenAIEngine
from openaiperf.loadgen.dispatcher import dispatch_open, engine_sender
from openaiperf.metrics.latency import tpot_s, ttft_s
from openaiperf.metrics.stats import percentile
from openaiperf.records import Record, Request

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from vllm_bench import VllmBench  # noqa: E402


def vllm_schedule(count: int, rate: float, seed: int, burstiness: float = 1.0) -> np.ndarray:
    """The arrival offsets ``vllm.benchmarks.serve.get_request`` draws after
    ``np.random.seed(seed)``: gamma gaps, cumulated, rescaled to count / rate."""
    np.random.seed(seed)
    delays = np.cumsum([np.random.gamma(shape=burstiness, scale=1.0 / (rate * burstiness)) for _ in range(count)])
    return delays * ((count / rate) / delays[-1])


def load_prompts(count: int, chars: int) -> list[str]:
    from openaiperf.tasks import create_task, load_task_specs

    task = create_task("summarization.xsum", load_task_specs(), {"base_dir": ROOT})
    samples = task.load_samples(None, None)
    prompts = [f"Summarize the following article in one sentence.\n\n{s.fields['document'][:chars]}\nSummary:"
               for s in samples]
    return [prompts[i % len(prompts)] for i in range(count)]


def run_ours(url: str, model: str, prompts: list[str], output_len: int, rate: float, seed: int) -> dict:
    context = EngineContext(model=None, weights="", hardware=SimpleNamespace(device="cpu"),
                            dtype="bfloat16", options={"endpoint": url, "served_model": model,
                                                       "client_tokenizer": False})
    engine = OpenAIEngine(context)
    engine.prepare()
    requests = [Request(id=f"q{i}", sample_id=str(i), max_tokens=output_len, prompt=p, ignore_eos=True)
                for i, p in enumerate(prompts)]
    records = [Record(request_id=r.id, sample_id=r.sample_id) for r in requests]
    offsets = vllm_schedule(len(requests), rate, seed)

    async def main() -> float:
        try:
            warm = Record(request_id="warm", sample_id="warm")  # like vLLM's initial test request
            await engine.stream(requests[0], warm)
            start = time.perf_counter()
            await dispatch_open(requests, records, offsets, engine_sender(engine), lambda r: None)
            return start
        finally:
            await engine.aclose()

    asyncio.run(main())
    ok = [r for r in records if r.ok]
    # vLLM's duration runs from the start of the schedule to the last completion.
    origin = records[0].scheduled - offsets[0]
    duration = max(r.done for r in ok) - origin
    return {
        "completed": len(ok),
        "median_ttft_ms": percentile([ttft_s(r) * 1000 for r in ok], 50),
        "median_tpot_ms": percentile([t * 1000 for r in ok if (t := tpot_s(r)) is not None], 50),
        "output_throughput": sum(r.output_tokens for r in ok) / duration,
        "send_lag_p99_ms": percentile([(r.sent - r.scheduled) * 1000 for r in records], 99),
    }


def run_vllm(bench: VllmBench, url: str, model: str, tokenizer: str, prompts: list[str], output_len: int,
             rate: float, seed: int, workdir: Path) -> dict:
    dataset = workdir / "prompts.jsonl"
    dataset.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    argv = ["--backend", "openai", "--base-url", url, "--endpoint", "/v1/completions", "--model", model,
            "--tokenizer", tokenizer, "--dataset-name", "custom", "--dataset-path", str(dataset),
            "--custom-output-len", str(output_len), "--skip-chat-template", "--disable-shuffle",
            "--num-prompts", str(len(prompts)), "--request-rate", str(rate), "--seed", str(seed), "--ignore-eos"]
    data = bench.run(argv, workdir)
    return {key: data[key] for key in ("completed", "median_ttft_ms", "median_tpot_ms", "output_throughput")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=None, help="a running server (default: start a managed vLLM server)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--num-prompts", type=int, default=32)
    parser.add_argument("--rate", type=float, default=2.0, help="requests/s (Poisson)")
    parser.add_argument("--output-len", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--prompt-chars", type=int, default=600,
                        help="articles cut to this many characters: a 2-core CPU server must stay below saturation, "
                             "where queueing makes TTFT swing by seconds between identical runs")
    args = parser.parse_args()

    from openaiperf.models import get_model, resolve_weights

    weights = resolve_weights(get_model(args.model))
    prompts = load_prompts(args.num_prompts, args.prompt_chars)
    server = None
    with tempfile.TemporaryDirectory() as tmp, VllmBench(log=Path(tmp) / "vllm-bench.log") as bench:
        workdir = Path(tmp)
        try:
            if args.endpoint:
                url = args.endpoint.rstrip("/")
            else:
                from openaiperf.engines.managed_server import ManagedServer

                # No prefix caching (the managed server's default): otherwise whichever tool
                # sends a prompt first pays its prefill and the other gets it from the cache.
                server = ManagedServer(weights, args.model, log_dir=workdir)
                server.start()
                url = server.base_url
            # A first pass warms the server up (its first requests are slow) and is not compared.
            run_ours(url, args.model, prompts, args.output_len, args.rate, args.seed)
            ours, theirs = [], []
            for index in range(args.repeats):
                # Alternate which tool goes first, so a drift in the machine's load hits both.
                pair = [lambda: theirs.append(run_vllm(bench, url, args.model, weights, prompts, args.output_len,
                                                       args.rate, args.seed, workdir)),
                        lambda: ours.append(run_ours(url, args.model, prompts, args.output_len, args.rate,
                                                     args.seed))]
                for step in (pair if index % 2 == 0 else pair[::-1]):
                    step()
                print(f"run {index + 1}: openaiperf {ours[-1]}\n       vllm bench {theirs[-1]}", flush=True)
        finally:
            if server is not None:
                server.stop()
    print(
        f"workload: {args.num_prompts} XSum prompts cut to {args.prompt_chars} chars, output {args.output_len} tokens "
        f"(ignore_eos), Poisson {args.rate:g} req/s, seed {args.seed}, {args.repeats} run(s) each, "
        f"model {args.model}, server {url}"
    )
    print(f"{'metric':<28}{'openaiperf':>14}{'vllm bench':>14}{'ratio':>10}")
    rows = [
        ("median TTFT (ms)", "median_ttft_ms"),
        ("median TPOT (ms)", "median_tpot_ms"),
        ("output throughput (tok/s)", "output_throughput"),
        ("completed (requests)", "completed"),
    ]
    for label, key in rows:
        a = statistics.median(r[key] for r in ours)
        b = statistics.median(r[key] for r in theirs)
        print(f"{label:<28}{a:>14.2f}{b:>14.2f}{a / b if b else float('nan'):>10.3f}")
    print(f"{'our send lag p99 (ms)':<28}{statistics.median(r['send_lag_p99_ms'] for r in ours):>14.2f}")


if __name__ == "__main__":
    main()
