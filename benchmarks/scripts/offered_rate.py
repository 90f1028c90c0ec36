"""Is the offered load the target? The server scenario's achieved arrival rate
against ``--qps-target``, for runs of 41 measured requests at several rates and
seeds, through the real ``openai`` engine against the stub server
(:mod:`openaiperf.testing.stub_server`, a scripted server: no model, fixed
8-token streamed answers; a real model server cannot answer 50 req/s here).

For each run it prints the target, the rate an unscaled seeded schedule would
have offered (what the suite did before its schedules were scaled), the
schedule's rate (``scheduled_qps``), the achieved rate (``achieved_qps``, from
the actual send times) and achieved / target.

    python benchmarks/scripts/offered_rate.py [--rates 5,10,20,50] [--seeds 0,1,2] [--requests 41]
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import numpy as np

from openaiperf.engines import EngineContext
from openaiperf.engines.openai import OpenAIEngine
from openaiperf.loadgen.arrivals import arrival_gaps, offered_rate
from openaiperf.records import Request
from openaiperf.scenarios import ScenarioConfig, create_scenario
from openaiperf.testing.stub_server import start_stub_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="5,10,20,50", help="targets, requests/s")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--requests", type=int, default=41, help="measured requests per run")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    requests = [Request(id=f"q{i}", sample_id=f"s{i}", max_tokens=8, prompt="hello") for i in range(args.requests)]
    ratios = []
    with start_stub_server(tokens=8) as url:
        context = EngineContext(model=None, weights="", hardware=SimpleNamespace(device="cpu"),
                                dtype="float32", options={"endpoint": url, "served_model": "stub",
                                                          "client_tokenizer": False})
        engine = OpenAIEngine(context)
        engine.prepare()
        try:
            for rate in rates:
                for seed in seeds:
                    scenario = create_scenario("server", ScenarioConfig(min_queries=args.requests, options={
                        "qps_target": rate, "seed": seed}))
                    run = scenario.run(engine, requests, lambda r: None)
                    warmup = run.settings["warmup_requests"]
                    # the unscaled schedule of the same seed: the measured requests' raw gaps
                    raw = np.cumsum(arrival_gaps(args.requests + warmup - 1, rate, seed=seed)[warmup:])
                    unscaled = offered_rate(np.concatenate([[0.0], raw]))
                    achieved = run.settings["achieved_qps"]
                    errors = sum(not r.ok for r in run.records)
                    ratios.append(achieved / rate)
                    print(f"target {rate:6.2f} req/s  seed {seed}  unscaled schedule {unscaled:6.3f}  "
                          f"schedule {run.settings['scheduled_qps']:6.3f}  achieved {achieved:6.3f}  "
                          f"achieved/target {achieved / rate:.4f}  errors {errors}")
        finally:
            engine.teardown()
    worst = max(ratios, key=lambda r: abs(r - 1))
    print(f"worst achieved/target over {len(ratios)} runs: {worst:.4f} ({abs(worst - 1):.2%} off)")


if __name__ == "__main__":
    main()
