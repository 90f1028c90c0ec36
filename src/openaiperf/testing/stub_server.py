"""A stub OpenAI-compatible server: no model, it streams fixed-length responses.

It exists to measure the load generator alone, at request rates no real model
server reaches on a small machine, and to produce faults on demand; it is not
used where a real server can run. It serves ``/health``, ``/v1/models``,
``/v1/chat/completions`` and ``/v1/completions`` (streaming SSE with a
role-only first chunk for chat, ``tokens`` one-token content chunks, a usage
chunk and ``[DONE]``; or one JSON body when ``stream`` is false).

The ``model`` field of a request picks a behaviour:

- ``stub`` (or anything else): a normal response;
- ``stub-http-400`` / ``stub-http-500``: that HTTP error;
- ``stub-cut``: the connection closes after two chunks;
- ``stub-malformed``: a chunk that is not JSON;
- ``stub-slow``: waits ``slow_s`` seconds before answering (to hit timeouts);
- ``stub-reasoning``: the first generated chunk carries only ``reasoning_content``.

Run: ``python -m openaiperf.testing.stub_server --port 8123 [--tokens 16] [--token-delay-ms 0]``,
or :func:`start_stub_server` (a subprocess, for tests and scripts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from typing import Iterator

from aiohttp import web

MODEL = "stub"


def chunk(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def make_app(tokens: int = 16, token_delay_s: float = 0.0, slow_s: float = 30.0) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    async def complete(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        chat = request.path.endswith("/chat/completions")
        model = str(body.get("model", MODEL))
        count = min(int(body.get("max_tokens") or tokens), tokens) if body.get("max_tokens") else tokens
        if model.startswith("stub-http-"):
            status = int(model.rsplit("-", 1)[1])
            return web.json_response({"error": {"message": f"stub error {status}"}}, status=status)
        if model == "stub-slow":
            await asyncio.sleep(slow_s)
        usage = {"prompt_tokens": 8, "completion_tokens": count, "total_tokens": 8 + count}
        if not body.get("stream"):
            text = "tok " * count
            choice = {"index": 0, "message": {"role": "assistant", "content": text}} if chat else {"index": 0,
                                                                                                  "text": text}
            return web.json_response({"id": "stub", "choices": [choice], "usage": usage})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        kind = "chat.completion.chunk" if chat else "text_completion"
        if chat:
            await response.write(chunk({"id": "stub", "object": kind, "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}}]}))
        for i in range(count):
            if token_delay_s:
                await asyncio.sleep(token_delay_s)
            if model == "stub-cut" and i == 2:
                request.transport.close()
                return response
            if model == "stub-malformed" and i == 1:
                await response.write(b"data: {not json\n\n")
                continue
            if chat:
                key = "reasoning_content" if model == "stub-reasoning" and i == 0 else "content"
                choice = {"index": 0, "delta": {key: "tok "}}
            else:
                choice = {"index": 0, "text": "tok "}
            await response.write(chunk({"id": "stub", "object": kind, "choices": [choice]}))
        await response.write(chunk({"id": "stub", "object": kind, "choices": [], "usage": usage}))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", complete)
    app.router.add_post("/v1/completions", complete)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--token-delay-ms", type=float, default=0.0)
    parser.add_argument("--slow-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    try:
        import uvloop  # optional: a faster event loop if installed

        uvloop.install()
    except ImportError:
        pass
    web.run_app(make_app(args.tokens, args.token_delay_ms / 1000, args.slow_s), host=args.host, port=args.port,
                print=None, access_log=None, backlog=4096)


@contextlib.contextmanager
def start_stub_server(tokens: int = 16, token_delay_ms: float = 0.0, slow_s: float = 30.0,
                      timeout_s: float = 30.0) -> Iterator[str]:
    """Run the stub in a subprocess on a free loopback port; yields its base URL."""
    from openaiperf.engines.managed_server import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "openaiperf.testing.stub_server", "--port", str(port),
                                "--tokens", str(tokens), "--token-delay-ms", str(token_delay_ms),
                                "--slow-s", str(slow_s)], stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"stub server exited with code {process.returncode}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"stub server not healthy within {timeout_s} s") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
