"""How far does the load generator scale with workers, and what does a request cost the client?

Against the scripted server (:mod:`openaiperf.testing.scripted_server`: no model,
1 ms to the first token, 1 ms a token, 16 tokens by default; pinned to its own
CPUs), prints in one run the highest sustained Poisson rate and the token events
(chunks) per second handled for

- the suite's ``server`` scenario from 1, 2, ... load generator workers
  (``--loadgen-workers``; ``--cluster ADDRESS`` sends from Ray actors instead);
- ``vllm bench serve`` (``vllm.benchmarks.serve`` of the installed vLLM, one
  process), when vLLM is installed;
- AIPerf (``aiperf profile``, its own worker processes), when ``--aiperf CMD``
  names it or ``aiperf`` is on the PATH (it is not a dependency of this project:
  install it in a virtual environment of its own, e.g. ``aiperf==0.13.0``);

all against the same server, one search after another, with the client's CPU
cost per request and per token event (CPU seconds of the client's processes over
the trial, divided by the requests and the chunks it handled; AIPerf starts anew
for every trial, so its figure includes its start-up: use long trials). Sustained: the
arrival rate the server itself saw, (n-1)/(last - first), is >= 0.99 of the
offered rate, no request failed, the client's TTFT p99 is <= ``--ttft-limit-ms``,
and (ours) the case is not client-bound.

    python benchmarks/scripts/loadgen_scaling.py --workers 1,2,4,8 --seconds 10
    python benchmarks/scripts/loadgen_scaling.py --workers 1,2 --seconds 1 --max-rate 400 --narrow 0  # a check

Run it on a quiet machine with the cores for the clients: the server takes
``--server-cpus`` (default: the last CPU), the clients share the rest. On the
2-core development VM, one client on one core held about 2,400 requests/s
(16 tokens each: about 38k token events/s) where ``vllm bench serve`` collapsed
near 1,800 and AIPerf topped out near 440: expect a little over 2,000
requests/s per client core on a recent server CPU, and N workers close to N
times one where the machine has N free cores (the goal: within 10%).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from conformance import Search, engine, server_view, theirs  # noqa: E402

from openaiperf.metrics.latency import latency_metrics  # noqa: E402
from openaiperf.records import Request  # noqa: E402
from openaiperf.runner.rounds import collector_held_still  # noqa: E402
from openaiperf.scenarios import ScenarioConfig  # noqa: E402
from openaiperf.scenarios.server import ServerScenario  # noqa: E402
from openaiperf.testing.scripted_server import Script, ScriptedServer, start_scripted_server  # noqa: E402

MIN_RATIO = 0.99


def tree_cpu_s(process: psutil.Process) -> float:
    """CPU seconds of a process and its live children."""
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def ours(server: ScriptedServer, workers: int, rate: float, seconds: float, tokens: int,
         cluster: str | None) -> dict[str, Any]:
    """The suite's server scenario from ``workers`` workers at ``rate``."""
    e = engine(server.url, None, continuous_usage=True)  # exact token counts without a tokenizer
    count = max(20, int(rate * seconds))
    requests = [Request(id=f"q{i}", sample_id=str(i), max_tokens=tokens, prompt=f"prompt {i}") for i in range(count)]
    options: dict[str, Any] = {"qps_target": rate, "latency_sla": "100000,100000", "loadgen_workers": str(workers)}
    if cluster:
        options["loadgen_cluster"] = cluster
    # client-bound is reported (and makes the rate not sustained) rather than failing the trial
    scenario = ServerScenario(ScenarioConfig(options=options, allow_client_bound=True))
    try:
        server.reset()
        # as a case's measured round runs (the runner's): the heap frozen, so that a full collection
        # of this script's heap (the peers' libraries are imported here) does not stall the round
        with collector_held_still():
            run = scenario.run(e, requests, lambda r: None)
    finally:
        e.teardown()
    warmup = sum(r.warmup for r in run.records)
    measured = [r for r in run.records if not r.warmup]
    view = server_view(server, skip_first=warmup)
    client = run.settings["client"]
    scheduled = sorted(r.scheduled for r in measured)
    window = max((r.done for r in run.records if r.done is not None), default=0.0) - min(
        r.scheduled for r in run.records)
    cpu_s = (client["cpu_cores"] or 0.0) * window  # cores over the round, every client process
    events = sum(len(r.chunk_times) for r in run.records)
    return {**view, "offered_rate": (len(scheduled) - 1) / (scheduled[-1] - scheduled[0]),
            "ttft_p99_ms": latency_metrics(measured)["ttft_p99"].value,
            "send_lag_p99_ms": client["send_lag_p99_ms"], "client_bound": client["client_bound"],
            "token_events_per_s": client["token_events_per_s"], "errors": sum(not r.ok for r in measured),
            "cpu_us_per_request": 1e6 * cpu_s / len(run.records), "cpu_us_per_event": 1e6 * cpu_s / max(events, 1)}


def vllm_trial(bench: Any, server: ScriptedServer, tokenizer: str, rate: float, seconds: float, tokens: int,
               workdir: Path) -> dict[str, Any]:
    process = psutil.Process(bench.process.pid)
    before = tree_cpu_s(process)
    row = theirs(bench, server, tokenizer, rate, seconds, tokens, workdir)
    cpu_s = tree_cpu_s(process) - before
    requests = max(row["requests"], 1)
    return {**row, "token_events_per_s": (row["arrival_rate"] or 0) * tokens,
            "cpu_us_per_request": 1e6 * cpu_s / requests, "cpu_us_per_event": 1e6 * cpu_s / (requests * tokens),
            "client_bound": False}


def aiperf_trial(command: list[str], server: ScriptedServer, tokenizer: str, rate: float, seconds: float,
                 tokens: int, workdir: Path, extra: list[str]) -> dict[str, Any]:
    count = max(20, int(rate * seconds))
    artifacts = workdir / f"aiperf-{rate:.0f}-{time.monotonic_ns()}"
    argv = [*command, "profile", "-m", "stub", "--url", server.url, "--endpoint-type", "completions", "--streaming",
            "--request-rate", str(rate), "--request-count", str(count), "--isl", "32", "--isl-stddev", "0",
            "--osl", str(tokens), "--tokenizer", tokenizer, "--artifact-dir", str(artifacts), "--ui-type", "none",
            "--random-seed", "0", *extra]
    server.reset()
    before = os.times()  # the CPU of the waited-for process tree (rusage of children)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120 + 4 * seconds, check=False)
    after = os.times()
    cpu_s = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    view = server_view(server)
    ttft = None
    for path in glob.glob(str(artifacts / "**" / "*aiperf*.json"), recursive=True):
        try:
            data = json.loads(Path(path).read_text())
            ttft = (data.get("time_to_first_token") or {}).get("p99")
            break
        except (OSError, ValueError):
            continue
    requests = max(view["requests"], 1)
    return {**view, "offered_rate": rate, "ttft_p99_ms": ttft,
            "errors": count - view["requests"] if proc.returncode == 0 else count,
            "token_events_per_s": (view["arrival_rate"] or 0) * tokens, "cpu_us_per_request": 1e6 * cpu_s / requests,
            "cpu_us_per_event": 1e6 * cpu_s / (requests * tokens), "client_bound": False,
            "note": None if proc.returncode == 0 else proc.stderr[-300:]}


def sustained(row: dict[str, Any], ttft_limit_ms: float) -> bool:
    return (row["arrival_rate"] is not None and row["arrival_rate"] / row["offered_rate"] >= MIN_RATIO
            and row["errors"] == 0 and not row.get("client_bound")
            and (row["ttft_p99_ms"] is None or row["ttft_p99_ms"] <= ttft_limit_ms))


def search(name: str, trial: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The highest sustained rate of one client, and its row there."""
    finder = Search(args.start, args.max_rate, args.narrow)
    best: dict[str, Any] | None = None
    while finder.rate is not None:
        rate = finder.rate
        row = trial(rate)
        ok = sustained(row, args.ttft_limit_ms)
        finder.record(ok)
        if ok:
            best = {**row, "rate": rate}
        print(f"  {name:<22} target {rate:8.1f}/s  arrived {row['arrival_rate'] or 0:8.1f}  TTFT p99 "
              f"{row['ttft_p99_ms'] if row['ttft_p99_ms'] is not None else float('nan'):7.1f} ms  errors "
              f"{row['errors']}  CPU {row['cpu_us_per_request']:7.1f} us/request"
              f"{'  client-bound' if row.get('client_bound') else ''}  {'SUSTAINED' if ok else 'no'}", flush=True)
    return best or {"rate": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    parser.add_argument("--cluster", default=None, help="send from Ray actors on this cluster (ray.init's address)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each trial")
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--ttft-ms", type=float, default=1.0)
    parser.add_argument("--gap-ms", type=float, default=1.0)
    parser.add_argument("--ttft-limit-ms", type=float, default=50.0, help="the client's TTFT p99 of a sustained rate")
    parser.add_argument("--start", type=float, default=200.0)
    parser.add_argument("--max-rate", type=float, default=200000.0)
    parser.add_argument("--narrow", type=int, default=3, help="bisection steps after the first failure")
    parser.add_argument("--server-cpus", default=None, help="CPUs of the server (default: the last one)")
    parser.add_argument("--peers", default="vllm,aiperf", help="peers to measure beside ours (vllm, aiperf; '' none)")
    parser.add_argument("--aiperf", default=None, help="the aiperf command (default: aiperf on the PATH)")
    parser.add_argument("--aiperf-args", default="", help="more arguments for aiperf profile")
    parser.add_argument("--tokenizer", default=None, help="tokenizer for the peers (default: the embedded SmolLM2's)")
    args = parser.parse_args()

    cpus = sorted(os.sched_getaffinity(0))
    server_cpus = [int(c) for c in args.server_cpus.split(",")] if args.server_cpus else cpus[-1:]
    client_cpus = [c for c in cpus if c not in server_cpus] or cpus
    script = Script(tokens=args.tokens, ttft_ms=args.ttft_ms, gap_ms=args.gap_ms)
    peers = {p.strip() for p in args.peers.split(",") if p.strip()}
    tokenizer = args.tokenizer
    if peers and tokenizer is None:
        from openaiperf.models import get_model, resolve_weights

        tokenizer = resolve_weights(get_model("smollm2-135m"))
    print(f"script: {script.tokens} tokens, TTFT {script.ttft_ms:g} ms, gap {script.gap_ms:g} ms; server on CPUs "
          f"{server_cpus}, clients on CPUs {client_cpus}; {args.seconds:g} s per trial")
    rows: dict[str, dict[str, Any]] = {}
    os.sched_setaffinity(0, set(client_cpus))
    server_cpu = server_cpus[0] if len(server_cpus) == 1 else None
    with tempfile.TemporaryDirectory() as tmp, start_scripted_server(script, cpu=server_cpu) as server:
        workdir = Path(tmp)
        for workers in [int(w) for w in args.workers.split(",")]:
            name = f"openaiperf x{workers}"
            rows[name] = search(name, lambda rate, w=workers: ours(server, w, rate, args.seconds, args.tokens,
                                                                    args.cluster), args)
        if "vllm" in peers:
            try:
                from vllm_bench import VllmBench

                with VllmBench(log=workdir / "vllm-bench.log") as bench:
                    rows["vllm bench serve"] = search("vllm bench serve", lambda rate: vllm_trial(
                        bench, server, str(tokenizer), rate, args.seconds, args.tokens, workdir), args)
            except (ImportError, RuntimeError) as exc:
                print(f"  vllm bench serve: not measured ({exc})")
        if "aiperf" in peers:
            found = shutil.which("aiperf")
            command = shlex.split(args.aiperf) if args.aiperf else ([found] if found else [])
            if command:
                rows["aiperf"] = search("aiperf", lambda rate: aiperf_trial(
                    command, server, str(tokenizer), rate, args.seconds, args.tokens, workdir,
                    shlex.split(args.aiperf_args)), args)
            else:
                print("  aiperf: not measured (no aiperf command: --aiperf CMD, e.g. a venv's bin/aiperf)")
    os.sched_setaffinity(0, set(cpus))
    one = rows.get("openaiperf x1", {}).get("rate")
    print("\nclient                  sustained req/s   token events/s   CPU us/request   CPU us/event   vs ours x1")
    for name, row in rows.items():
        rate = row.get("rate")
        if rate is None:
            print(f"{name:<24}{'-':>15}")
            continue
        scale = f"{rate / one:5.2f}" if one else "    -"
        print(f"{name:<24}{rate:>15.0f}{row['token_events_per_s'] or 0:>17.0f}{row['cpu_us_per_request']:>17.1f}"
              f"{row['cpu_us_per_event']:>15.2f}   {scale}")
    per_core = {name: (row["rate"], 1e6 / row["cpu_us_per_request"]) for name, row in rows.items() if row.get("rate")}
    print(json.dumps({"scaling": {name: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
                                         if k in ("rate", "token_events_per_s", "cpu_us_per_request",
                                                  "cpu_us_per_event", "ttft_p99_ms")}
                                  for name, row in rows.items()},
                      "requests_per_cpu_second": {name: round(v[1], 1) for name, v in per_core.items()},
                      "machine": {"cpus": len(cpus), "server_cpus": server_cpus, "load": os.getloadavg()}}))


if __name__ == "__main__":
    main()
