"""How fast can the load generator itself go, honestly?

Drives the stub OpenAI-compatible server (:mod:`openaiperf.testing.stub_server`:
no model, fixed-length streamed responses, in its own process on loopback)
through the real ``openai`` engine and the open-loop dispatcher at increasing
Poisson rates, and prints the highest rate at which

- the achieved send rate is at least 0.99 of the schedule's rate,
- the client's send lag (actual - scheduled) has p99 <= 5 ms, and
- every request completed without error.

    python benchmarks/scripts/loadgen_capacity.py [--seconds 3] [--tokens 8]
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import numpy as np

from openaiperf.engines import EngineContext
from openaiperf.engines.openai import OpenAIEngine
from openaiperf.loadgen.arrivals import arrival_times
from openaiperf.loadgen.dispatcher import dispatch_open, engine_sender, run_dispatch
from openaiperf.records import Record, Request
from openaiperf.testing.stub_server import start_stub_server

MIN_RATIO = 0.99
MAX_LAG_P99_MS = 5.0


def trial(url: str, rate: float, seconds: float, tokens: int, seed: int) -> dict:
    context = EngineContext(model=None, weights="", hardware=SimpleNamespace(device="cpu"),
                            dtype="bfloat16", options={"endpoint": url, "served_model": "stub",
                                                       "client_tokenizer": False})
    engine = OpenAIEngine(context)
    engine.prepare()
    count = max(10, int(rate * seconds))
    requests = [Request(id=f"q{i}", sample_id=str(i), max_tokens=tokens, prompt="hello") for i in range(count)]
    records = [Record(request_id=r.id, sample_id=r.sample_id) for r in requests]
    # The first second's worth is warmup (connections opening), not measured.
    warmup = min(count // 4, int(rate))
    offsets = arrival_times(count, rate, seed=seed, warmup=warmup)
    run_dispatch(engine, lambda: dispatch_open(requests, records, offsets, engine_sender(engine), lambda r: None,
                                               warmup=warmup))
    measured = [r for r in records if not r.warmup]
    scheduled = np.array([r.scheduled for r in measured])
    sent = np.array([r.sent for r in measured])
    lag_ms = (sent - scheduled) * 1000
    schedule_rate = (len(measured) - 1) / (scheduled[-1] - scheduled[0])
    achieved = (len(measured) - 1) / (sent.max() - sent.min())
    done = [r.done for r in measured if r.ok]
    errors = sum(not r.ok for r in measured)
    return {"target": rate, "schedule_rate": schedule_rate, "achieved": achieved, "ratio": achieved / schedule_rate,
            "lag_p50_ms": float(np.percentile(lag_ms, 50)), "lag_p99_ms": float(np.percentile(lag_ms, 99)),
            "errors": errors, "completed_per_s": len(done) / (max(done) - scheduled[0]) if done else 0.0,
            "first_error": next((r.error for r in measured if r.error), None)}


def passes(row: dict) -> bool:
    return row["ratio"] >= MIN_RATIO and row["lag_p99_ms"] <= MAX_LAG_P99_MS and row["errors"] == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each trial")
    parser.add_argument("--tokens", type=int, default=8, help="tokens (chunks) per streamed response")
    parser.add_argument("--start", type=float, default=250.0, help="first rate, requests/s")
    parser.add_argument("--max-rate", type=float, default=8000.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    with start_stub_server(tokens=args.tokens) as url:
        def measure(rate: float) -> dict:
            row = trial(url, rate, args.seconds, args.tokens, args.seed)
            rows.append(row)
            print(
                f"target {rate:8.1f} req/s  schedule {row['schedule_rate']:8.1f}  achieved {row['achieved']:8.1f} "
                f"(ratio {row['ratio']:.4f})  send lag p50 {row['lag_p50_ms']:6.2f} ms  p99 {row['lag_p99_ms']:7.2f} ms"
                f"  completed {row['completed_per_s']:8.1f}/s  errors {row['errors']}  "
                f"{'PASS' if passes(row) else 'FAIL'}",
                flush=True,
            )
            return row

        best, rate, failed = None, args.start, None
        while rate <= args.max_rate:
            if passes(measure(rate)):
                best, rate = rate, rate * 1.5
            else:
                failed = rate
                break
        if best is not None and failed is not None:
            for _ in range(3):  # narrow the bracket
                middle = (best + failed) / 2
                if passes(measure(middle)):
                    best = middle
                else:
                    failed = middle
    print(
        f"highest Poisson rate with achieved/target >= {MIN_RATIO} and send-lag p99 <= {MAX_LAG_P99_MS:g} ms: "
        f"{best:.0f} req/s"
        if best
        else "no rate passed",
        flush=True,
    )


if __name__ == "__main__":
    main()
