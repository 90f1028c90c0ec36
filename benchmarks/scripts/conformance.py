"""Do the suite's numbers match the truth, and how fast can its load generator go?

Starts the scripted OpenAI-compatible server (:mod:`openaiperf.testing.scripted_server`:
no model, a response whose timing is known exactly) and prints, in one run:

1. truth vs measured for TTFT, TPOT, ITL per token and ITL per chunk (p50, ms)
   and E2E, for every path the ``openai`` engine can take: chat and completions;
   one and two tokens per chunk; token counts from the server's continuous usage,
   from the client tokenizer after the round, or from neither (the usage total
   spread by text length). Requests go one at a time (single_stream), through
   the same engine and after-round step as a benchmark case.
2. the highest sustained Poisson rate of the suite's ``server`` scenario (its
   default settings: the ``openai`` engine with the client tokenizer on, tokens
   counted after the round) and of ``vllm bench serve`` (its defaults: random
   prompts, ignore_eos) against the same scripted server (50 ms TTFT, 10 ms
   between tokens, 16 tokens), the clients pinned to one CPU and the server to
   another, the two searches taking turns. Sustained: the arrival rate the server
   saw, (n-1)/(last - first), is >= 0.99 of the offered rate, no request failed,
   and the client's TTFT p99 is <= 2x the server's own TTFT (the script's).
   Prints the ratio (goal: >= 1.5).

    python benchmarks/scripts/conformance.py [--seconds 3] [--skip-capacity]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from openaiperf.engines import EngineContext  # noqa: E402
from openaiperf.engines.openai import OpenAIEngine  # noqa: E402
from openaiperf.metrics.latency import latency_metrics  # noqa: E402
from openaiperf.records import Record, Request  # noqa: E402
from openaiperf.scenarios import ScenarioConfig  # noqa: E402
from openaiperf.scenarios.server import ServerScenario  # noqa: E402
from openaiperf.testing.scripted_server import Script, ScriptedServer, start_scripted_server  # noqa: E402
from openaiperf.testing.word_tokenizer import write_word_tokenizer  # noqa: E402

MIN_RATIO = 0.99
TTFT_FACTOR = 2.0
PATHS = {  # name: (script usage, engine options, client tokenizer?)
    "continuous usage": ("continuous", {"continuous_usage": True}, False),
    "tokenizer": ("final", {}, True),
    "none (estimate)": ("final", {}, False),
}


def engine(url: str, weights: str | None, **options: Any) -> OpenAIEngine:
    context = EngineContext(model=None, weights=weights or "(none)",
                            hardware=SimpleNamespace(device="cpu"), dtype="float32",
                            options={"endpoint": url, "client_tokenizer": weights is not None, **options})
    e = OpenAIEngine(context)
    e.prepare()
    return e


def truth_table(url: str, tokenizer: str, requests: int) -> None:
    base = {"tokens": 16, "ttft_ms": 50.0, "gap_ms": 10.0}
    print(f"\n1. truth vs measured (ms, p50 of {requests} requests one at a time): script {base}")
    header = f"{'api':<12}{'tok/chunk':>9}  {'token counts':<17}" + "".join(
        f"{name:>16}" for name in ("TTFT", "TPOT", "ITL/token", "ITL/chunk", "E2E")) + "  tokens"
    print(header)
    for api in ("chat", "completions"):
        for chunk in (1, 2):
            for path, (usage, options, with_tokenizer) in PATHS.items():
                script = {**base, "chunk_tokens": chunk, "usage": usage}
                truth = Script(**script).truth()
                e = engine(url, tokenizer if with_tokenizer else None, extra_body={"script": script}, **options)
                records = []
                try:
                    for index in range(requests):
                        record = Record(request_id=f"r{index}", sample_id="s")
                        record.scheduled = time.perf_counter()
                        request = Request(id=f"r{index}", sample_id="s", max_tokens=64,
                                          **({"messages": [{"role": "user", "content": "hi"}]} if api == "chat"
                                             else {"prompt": "hi"}))
                        e.run([request], [record], lambda r: None)
                        records.append(record)
                    e.complete_records(records)
                finally:
                    e.teardown()
                m = latency_metrics(records)
                cells = [(m["ttft_p50"].value, truth.ttft_s), (m["tpot_p50"].value, truth.tpot_s),
                         (m["itl_p50"].value, float(np.median(truth.itl_s))),
                         (m["chunk_itl_p50"].value, float(np.median(truth.chunk_itl_s))),
                         (m["e2e_p50"].value, truth.e2e_s)]
                row = "".join(f"{f'{v:.1f}/{t * 1000:.1f}' if v is not None else '-':>16}" for v, t in cells)
                tokens = {r.output_tokens for r in records}
                errors = sum(not r.ok for r in records)
                print(f"{api:<12}{chunk:>9}  {path:<17}{row}  {sorted(tokens)}/{truth.tokens}"
                      + (f"  ERRORS {errors}" if errors else ""), flush=True)
    print("cells are measured/truth; TTFT and E2E include the client's send and loopback time")


def server_view(server: ScriptedServer, skip_first: int = 0) -> dict[str, float | None]:
    stats = server.stats()
    arrivals = sorted(stats["arrivals"])[skip_first:]
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else None
    ttft = stats["ttft_s"][skip_first:]
    return {"arrival_rate": rate, "server_ttft_p99_ms": float(np.percentile(ttft, 99)) * 1000 if ttft else None,
            "requests": len(arrivals)}


def ours(server: ScriptedServer, tokenizer: str, rate: float, seconds: float, tokens: int) -> dict[str, Any]:
    """The suite's server scenario, default settings, at ``rate``."""
    e = engine(server.url, tokenizer)
    count = max(20, int(rate * seconds))
    requests = [Request(id=f"q{i}", sample_id=str(i), max_tokens=tokens, prompt=f"prompt {i}") for i in range(count)]
    scenario = ServerScenario(ScenarioConfig(options={"qps_target": rate, "latency_sla": "100000,100000"}))
    try:
        server.reset()
        run = scenario.run(e, requests, lambda r: None)
        e.complete_records(run.records)  # as the runner does after a round
    finally:
        e.teardown()
    warmup = sum(r.warmup for r in run.records)
    measured = [r for r in run.records if not r.warmup]
    view = server_view(server, skip_first=warmup)
    scheduled = sorted(r.scheduled for r in measured)
    sent = sorted(r.sent for r in measured)
    metrics = latency_metrics(measured)
    # vllm bench serve times TTFT from its actual send; the suite from the scheduled one (no
    # coordinated omission). The first is shown too, to compare like with like.
    from_sent = [(r.first_token - r.sent) * 1000 for r in measured if r.ok and r.first_token is not None]
    return {**view, "offered_rate": (len(scheduled) - 1) / (scheduled[-1] - scheduled[0]),
            "sent_rate": (len(sent) - 1) / (sent[-1] - sent[0]), "ttft_p99_ms": metrics["ttft_p99"].value,
            "ttft_from_send_p99_ms": float(np.percentile(from_sent, 99)) if from_sent else None,
            "send_lag_p99_ms": metrics["send_lag_p99"].value, "errors": sum(not r.ok for r in measured)}


def theirs(bench: Any, server: ScriptedServer, tokenizer: str, rate: float, seconds: float, tokens: int,
           workdir: Path) -> dict[str, Any]:
    """``vllm bench serve`` with its defaults (random prompts, ignore_eos) at ``rate``."""
    count = max(20, int(rate * seconds))
    server.reset()
    data = bench.run(["--backend", "openai", "--base-url", server.url, "--endpoint", "/v1/completions",
                      "--model", "stub", "--tokenizer", tokenizer, "--dataset-name", "random",
                      "--random-input-len", "32", "--random-output-len", str(tokens), "--num-prompts", str(count),
                      "--request-rate", str(rate), "--seed", "0", "--ready-check-timeout-sec", "0",
                      "--percentile-metrics", "ttft", "--metric-percentiles", "99"], workdir)
    view = server_view(server)
    return {**view, "offered_rate": rate, "ttft_p99_ms": data.get("p99_ttft_ms"),
            "errors": count - int(data.get("completed", 0))}


def sustained(row: dict[str, Any], script_ttft_ms: float) -> bool:
    return (row["arrival_rate"] is not None and row["arrival_rate"] / row["offered_rate"] >= MIN_RATIO
            and row["errors"] == 0 and row["ttft_p99_ms"] is not None
            and row["ttft_p99_ms"] <= TTFT_FACTOR * script_ttft_ms)


class Search:
    """The highest rate that holds: grow by 1.5x from ``start`` until a trial
    fails (or halve until one holds), then bisect ``narrow`` times."""

    def __init__(self, start: float, limit: float, narrow: int) -> None:
        self.rate: float | None = start
        self.limit = limit
        self.narrow = narrow
        self.best: float | None = None
        self.failed: float | None = None
        self.halvings = 0

    def record(self, ok: bool) -> None:
        rate = self.rate
        if ok:
            self.best = rate
        else:
            self.failed = rate
        if self.failed is None:  # growing
            self.rate = rate * 1.5 if rate * 1.5 <= self.limit else None
        elif self.best is None:  # shrinking
            self.halvings += 1
            self.rate = rate / 2 if self.halvings <= 4 else None
        elif self.narrow > 0:
            self.narrow -= 1
            self.rate = (self.best + self.failed) / 2
        else:
            self.rate = None


def capacity(args: argparse.Namespace, tokenizer: str) -> None:
    from vllm_bench import VllmBench

    script = Script(tokens=args.tokens, ttft_ms=args.ttft_ms, gap_ms=args.gap_ms)
    cpus = sorted(os.sched_getaffinity(0))
    client_cpu, server_cpu = cpus[0], cpus[-1]
    print(f"\n2. capacity: script {script.tokens} tokens, TTFT {script.ttft_ms:g} ms, gap {script.gap_ms:g} ms; "
          f"server on CPU {server_cpu}, clients on CPU {client_cpu}; {args.seconds:g} s per trial; the two "
          f"searches take turns, so a change in the machine's load hits both")
    print(f"  sustained: arrivals (seen by the server) >= {MIN_RATIO} x offered, no errors, client TTFT p99 <= "
          f"{TTFT_FACTOR:g} x the script's {script.ttft_ms:g} ms (the server's own p99 is shown: where it is "
          f"far above the script, the server, not the client, is the limit)")
    os.sched_setaffinity(0, {client_cpu})
    with tempfile.TemporaryDirectory() as tmp, start_scripted_server(script, cpu=server_cpu) as server, \
            VllmBench(cpu=client_cpu, log=Path(tmp) / "vllm-bench.log") as bench:
        workdir = Path(tmp)
        trials = {"openaiperf": lambda r: ours(server, tokenizer, r, args.seconds, args.tokens),
                  "vllm bench serve": lambda r: theirs(bench, server, tokenizer, r, args.seconds, args.tokens,
                                                       workdir)}
        searches = {name: Search(args.start, args.max_rate, args.narrow) for name in trials}
        while any(search.rate is not None for search in searches.values()):
            for name, search in searches.items():
                if search.rate is None:
                    continue
                rate = search.rate
                row = trials[name](rate)
                ok = sustained(row, script.ttft_ms)
                search.record(ok)
                print(f"  {name:<16} target {rate:7.1f}/s  offered {row['offered_rate']:7.1f}  arrived "
                      f"{row['arrival_rate'] or 0:7.1f} (x{(row['arrival_rate'] or 0) / row['offered_rate']:.3f})  "
                      f"TTFT p99 {row['ttft_p99_ms'] or float('nan'):7.1f} ms (server's own "
                      f"{row['server_ttft_p99_ms'] or float('nan'):6.1f})  errors {row['errors']}  "
                      f"{'SUSTAINED' if ok else 'no'}"
                      + (f"  [from send: TTFT p99 {row['ttft_from_send_p99_ms']:.1f} ms, send lag p99 "
                         f"{row['send_lag_p99_ms']:.1f} ms]" if "send_lag_p99_ms" in row else ""), flush=True)
    os.sched_setaffinity(0, set(cpus))
    ours_best, theirs_best = searches["openaiperf"].best, searches["vllm bench serve"].best
    ratio = ours_best / theirs_best if ours_best and theirs_best else float("nan")
    print(f"highest sustained Poisson rate: openaiperf {ours_best or 0:.0f} req/s, vllm bench serve "
          f"{theirs_best or 0:.0f} req/s; ratio {ratio:.2f} (goal >= 1.5)")
    print(json.dumps({"capacity_req_per_s": {name: s.best for name, s in searches.items()}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8, help="requests per path in the truth table")
    parser.add_argument("--skip-table", action="store_true")
    parser.add_argument("--skip-capacity", action="store_true")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each capacity trial")
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--ttft-ms", type=float, default=50.0, help="the capacity script's TTFT")
    parser.add_argument("--gap-ms", type=float, default=10.0, help="the capacity script's gap between tokens")
    parser.add_argument("--start", type=float, default=100.0, help="first rate of the search, requests/s")
    parser.add_argument("--max-rate", type=float, default=5000.0)
    parser.add_argument("--narrow", type=int, default=3, help="bisection steps after the first failure")
    parser.add_argument("--tokenizer", default=None,
                        help="client tokenizer directory for the capacity runs (default: the embedded SmolLM2's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        words = str(write_word_tokenizer(Path(tmp) / "words"))
        if not args.skip_table:
            with start_scripted_server(Script()) as server:
                truth_table(server.url, words, args.requests)
        if not args.skip_capacity:
            tokenizer = args.tokenizer
            if tokenizer is None:
                from openaiperf.models import get_model, resolve_weights

                tokenizer = resolve_weights(get_model("smollm2-135m"))
            capacity(args, tokenizer)


if __name__ == "__main__":
    main()
