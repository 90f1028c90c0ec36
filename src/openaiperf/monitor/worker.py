"""The monitor in its own process.

Sampling on a thread of the benchmarked process costs more than its CPU time
shows: each psutil/NVML call that releases the GIL hands it to the engine's
thread and back, and on a busy machine every hand-back can wait for the OS
scheduler. So cases sample from a child process: it reads the parent by pid
(psutil) and the devices (NVML/amdsmi), shares no interpreter with the engine,
and its whole cost is its own CPU time (which
``benchmarks/scripts/monitor_overhead.py`` measures).

Protocol (one JSON object per line): the parent writes ``{"cmd": "start"}``,
``{"cmd": "stop"}`` or ``{"cmd": "quit"}`` to stdin; the worker answers
``{"ready": true, "missing": [...]}`` once at start-up and
``{"rows": [...], "summary": {...}, "t0": ...}`` after each stop (``t0``: the
round's start on ``time.perf_counter``, which on Linux, macOS and Windows is a
system-wide monotonic clock, so the parent can align the rows with its own times).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openaiperf
from openaiperf.monitor import Monitor, create_samplers
from openaiperf.monitor.process import ProcessSampler
from openaiperf.monitor.prometheus import PrometheusSampler
from openaiperf.redact import RedactedDict, RedactedHeaders

#: the environment variable that hands the worker the headers of a server's /metrics (never its argv)
PROMETHEUS_HEADERS_ENV = "OPENAIPERF_PROMETHEUS_HEADERS"


def serve(pid: int, interval_s: float, metrics: Sequence[str], prometheus: str | None = None,
          prometheus_interval_s: float = 1.0) -> None:

    samplers, missing = create_samplers(metrics)
    samplers = [ProcessSampler(pid) if s.name == "process" else s for s in samplers]
    if prometheus:

        headers = RedactedHeaders(json.loads(os.environ.get(PROMETHEUS_HEADERS_ENV) or "{}"))
        samplers.append(PrometheusSampler(prometheus, headers, min_interval_s=prometheus_interval_s))
    print(json.dumps({"ready": True, "missing": missing}), flush=True)
    monitor: Monitor | None = None
    for line in sys.stdin:
        command = json.loads(line).get("cmd")
        if command == "start":
            monitor = Monitor(samplers, interval_s=interval_s).start()
        elif command == "stop" and monitor is not None:
            summary = monitor.stop()
            samplers = monitor.samplers
            # t0: the round's start on this process's perf_counter (CLOCK_MONOTONIC, shared with the
            # parent), so the parent can place every row on its own clock
            print(json.dumps({"rows": monitor.rows, "summary": summary, "t0": monitor.t0}), flush=True)
            monitor = None
        elif command == "quit":
            break
    for sampler in samplers:
        sampler.close()


class MonitorProcess:
    """The parent's handle on a worker: start/stop rounds, get rows and summaries back."""

    def __init__(self, interval_s: float, metrics: Sequence[str], timeout_s: float = 60.0,
                 prometheus: tuple[str, dict[str, str]] | None = None, prometheus_interval_s: float = 1.0) -> None:
        self.timeout_s = timeout_s
        #: the last stopped round's start on the shared monotonic clock (see :meth:`stop`)
        self.last_t0: float | None = None

        env = RedactedDict(os.environ)  # holds the API key's variable and the /metrics headers: shown redacted
        extra: list[str] = []
        if prometheus is not None:
            extra = ["--prometheus", prometheus[0], "--prometheus-interval", str(prometheus_interval_s)]
            env[PROMETHEUS_HEADERS_ENV] = json.dumps(prometheus[1])
        # the child must import this very openaiperf (a worktree, a script's sys.path), not another install
        package_root = str(Path(openaiperf.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "openaiperf.monitor.worker", "--pid", str(_pid()), "--interval", str(interval_s),
             "--metrics", ",".join(metrics), *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env,
        )
        hello = self._read()
        self.missing: list[str] = hello.get("missing", [])

    def _read(self) -> dict[str, Any]:
        result: dict[str, Any] = {}

        def read() -> None:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if line:
                result.update(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.timeout_s)
        if not result:
            raise RuntimeError(f"monitor worker did not answer (exit code {self.proc.poll()})")
        return result

    def _send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": command}) + "\n")
        self.proc.stdin.flush()

    def start(self) -> float:
        """Starts a round; returns the parent's perf_counter at the request (to align rows)."""
        self._send("start")
        return time.perf_counter()

    def stop(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Ends a round: its rows (``t`` from the round's start) and summary; the round's
        start on the shared monotonic clock is left in :attr:`last_t0`."""
        self._send("stop")
        answer = self._read()
        self.last_t0 = answer.get("t0")
        return answer.get("rows", []), answer.get("summary", {})

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send("quit")
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def _pid() -> int:
    return os.getpid()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m openaiperf.monitor.worker")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--metrics", default="cpu")
    parser.add_argument("--prometheus", default=None, help="a server's /metrics URL to scrape too")
    parser.add_argument("--prometheus-interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    serve(args.pid, args.interval, [m for m in args.metrics.split(",") if m], args.prometheus,
          args.prometheus_interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
