"""A scripted OpenAI-compatible server: its command line.

Run: ``python -m openaiperf.testing.scripted_server --port 8123 --ttft-ms 50 --gap-ms 10``
(any other :class:`Script` field with ``--script '{...}'``).
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

from openaiperf.testing.scripted_server.app import make_app
from openaiperf.testing.scripted_server.script import Script


def script_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Script()
    parser.add_argument("--tokens", type=int, default=defaults.tokens)
    parser.add_argument("--ttft-ms", type=float, default=defaults.ttft_ms)
    parser.add_argument("--gap-ms", "--token-delay-ms", dest="gap_ms", type=float, default=defaults.gap_ms)
    parser.add_argument("--chunk-tokens", type=int, default=defaults.chunk_tokens)
    parser.add_argument("--first-chunk-tokens", type=int, default=defaults.first_chunk_tokens)
    parser.add_argument("--no-role-chunk", dest="role_chunk", action="store_false")
    parser.add_argument("--usage", choices=["final", "absent", "continuous"], default=defaults.usage)
    parser.add_argument("--reasoning-tokens", type=int, default=defaults.reasoning_tokens)
    parser.add_argument("--script", default=None, help="any other Script fields, as a JSON object")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m openaiperf.testing.scripted_server",
                                     description="A scripted OpenAI-compatible server (no model): ground truth "
                                                 "for the harness's timing.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slow-s", type=float, default=30.0, help="how long the stub-slow model waits")
    parser.add_argument("--keepalive-s", type=float, default=75.0,
                        help="how long an idle kept-alive connection stays open (uvicorn, behind vLLM: 5 s)")
    script_arguments(parser)
    args = parser.parse_args(argv)
    script = Script(tokens=args.tokens, ttft_ms=args.ttft_ms, gap_ms=args.gap_ms, chunk_tokens=args.chunk_tokens,
                    first_chunk_tokens=args.first_chunk_tokens, role_chunk=args.role_chunk, usage=args.usage,
                    reasoning_tokens=args.reasoning_tokens).updated(json.loads(args.script) if args.script else None)
    try:
        import uvloop  # optional: a faster event loop if installed

        uvloop.install()
    except ImportError:
        pass
    web.run_app(make_app(script, args.slow_s), host=args.host, port=args.port, print=None, access_log=None,
                backlog=4096, keepalive_timeout=args.keepalive_s)
