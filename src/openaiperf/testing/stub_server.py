"""The stub server: the scripted server (:mod:`openaiperf.testing.scripted_server`)
with its simplest script, kept under its old name and arguments.

No model: it streams ``tokens`` one-token chunks, ``token_delay_ms`` apart (the
first one too), with a role-only first chunk for chat, a usage chunk and
``[DONE]``. The ``model`` field of a request picks a fault: ``stub-http-400`` /
``stub-http-500`` (that HTTP error), ``stub-cut`` (the connection closes after
two chunks), ``stub-malformed`` (a chunk that is not JSON), ``stub-slow`` (waits
``slow_s`` seconds before the first token), ``stub-reasoning`` (the first chunk
carries only ``reasoning_content``).

Run: ``python -m openaiperf.testing.stub_server --port 8123 [--tokens 16] [--token-delay-ms 0]``,
or :func:`start_stub_server` (a subprocess, for tests and scripts).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from aiohttp import web

from openaiperf.testing.scripted_server import MODEL, Script, main, start_scripted_server
from openaiperf.testing.scripted_server import make_app as make_scripted_app

__all__ = ["MODEL", "main", "make_app", "start_stub_server", "stub_script"]


def stub_script(tokens: int = 16, token_delay_ms: float = 0.0) -> Script:
    return Script(tokens=tokens, ttft_ms=token_delay_ms, gap_ms=token_delay_ms)


def make_app(tokens: int = 16, token_delay_s: float = 0.0, slow_s: float = 30.0) -> web.Application:
    return make_scripted_app(stub_script(tokens, token_delay_s * 1000), slow_s)


@contextlib.contextmanager
def start_stub_server(tokens: int = 16, token_delay_ms: float = 0.0, slow_s: float = 30.0,
                      timeout_s: float = 30.0) -> Iterator[str]:
    """Run the stub in a subprocess on a free loopback port; yields its base URL."""
    with start_scripted_server(stub_script(tokens, token_delay_ms), slow_s=slow_s, timeout_s=timeout_s) as server:
        yield server.url


if __name__ == "__main__":
    main()
