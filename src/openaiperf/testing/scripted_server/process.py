"""The scripted server in a subprocess on a loopback port, and a handle on it (its
URL, ``/stats`` and ``/stats/reset``), for tests and scripts."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from openaiperf.engines.managed_server import free_port
from openaiperf.testing.scripted_server.script import Script


class ScriptedServer:
    """A handle on a running scripted server: its URL and what it saw."""

    def __init__(self, url: str) -> None:
        self.url = url

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/stats", timeout=30) as response:
            stats: dict[str, Any] = json.loads(response.read())
            return stats

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + "/stats/reset", method="POST"), timeout=30).close()


@contextlib.contextmanager
def start_scripted_server(script: Script | None = None, *, slow_s: float = 30.0, timeout_s: float = 30.0,
                          cpu: int | None = None, keepalive_s: float = 75.0,
                          port: int | None = None) -> Iterator[ScriptedServer]:
    """Run the server in a subprocess on a loopback port (``port``, else a free one;
    pinned to CPU ``cpu`` when given; idle connections closed after ``keepalive_s``);
    yields a :class:`ScriptedServer`."""

    script = script or Script()
    changes = {f.name: getattr(script, f.name) for f in dataclasses.fields(script)}
    port = port or free_port()
    command = [sys.executable, "-m", "openaiperf.testing.scripted_server", "--port", str(port), "--slow-s",
               str(slow_s), "--keepalive-s", str(keepalive_s), "--script", json.dumps(changes)]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"scripted server exited with code {process.returncode}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"scripted server not healthy within {timeout_s} s") from None
                time.sleep(0.05)
        yield ScriptedServer(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
