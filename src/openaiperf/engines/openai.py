"""The ``openai`` engine: any OpenAI-compatible HTTP server.

Two modes:

- endpoint: option ``endpoint`` (``--endpoint URL``) names a running server
  (vLLM, SGLang, TGI, TensorRT-LLM, llama.cpp, ...); the API key is read from the
  environment variable named by ``api_key_env`` (default ``OPENAI_API_KEY``) and
  is never stored in the engine's options, info, reports or logs;
- managed: without an endpoint the engine starts vLLM's OpenAI server on the
  case's model (:mod:`openaiperf.engines.managed_server`) and stops it at teardown.

Requests stream (SSE, ``stream_options.include_usage``) from
``/v1/chat/completions`` (requests with messages) or ``/v1/completions``
(plain prompts). TTFT ends at the first chunk that carries generated content or
reasoning content, never at a role-only chunk. Token counts come from the
server's ``usage``; the client tokenizer's count goes to
``Record.client_output_tokens`` so the report can show a mismatch. Every failure
of a request (unreachable server, HTTP 4xx/5xx, a cut stream, malformed SSE, a
timeout) becomes that record's error; nothing raises out of a case.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any, ClassVar, Sequence

from openaiperf.engines import EngineContext, merge_options
from openaiperf.engines.sse import MalformedSSE, chunk_content, chunk_delta, parse_sse_line
from openaiperf.errors import ConfigError, EngineError
from openaiperf.records import Record, RecordSink, Request

DEFAULT_OPTIONS: dict[str, Any] = {
    "endpoint": None,            # base URL of a running server; None: start a managed vLLM server
    "api_key_env": "OPENAI_API_KEY",
    "served_model": None,        # model name the server knows; default: the case's model (managed) or /v1/models
    "api": "auto",               # auto (chat for messages, completions for prompts) | chat | completions
    "request_timeout_s": 600.0,  # per request, whole response
    "connect_timeout_s": 10.0,
    "client_tokenizer": True,    # count output tokens with the model's tokenizer too
    # managed-server settings (vLLM flags)
    "dtype": None, "max_model_len": 2048, "enforce_eager": True, "gpu_memory_utilization": 0.5,
    "tensor_parallel_size": None, "quantization": None, "kv_cache_dtype": None,
    "server_args": [],           # extra vLLM server argv
    "start_timeout_s": 600.0,
}
SERVER_KEYS = ("max_model_len", "enforce_eager", "gpu_memory_utilization", "tensor_parallel_size", "quantization",
               "kv_cache_dtype")


def server_argv(value: Any) -> list[str]:
    """``server_args``: a list of argv items or one shell-quoted string."""
    import shlex

    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise ConfigError(f"expected a list or a string of vLLM server flags, got {value!r}", source="engine options",
                      field="server_args")


class RequestFailed(Exception):
    """One request failed; the message becomes the record's error."""


class OpenAIEngine:
    name: ClassVar[str] = "openai"
    concurrent: ClassVar[bool] = True

    def __init__(self, context: EngineContext) -> None:
        self.context = context
        self.options = merge_options("openai", DEFAULT_OPTIONS, context.options)
        if self.options["api"] not in ("auto", "chat", "completions"):
            raise ConfigError(f"api must be auto, chat or completions, got {self.options['api']!r}",
                              source="engine options", field="api")
        self.server = None
        self.base_url: str | None = None
        self.model_name: str | None = None
        self.tokenizer = None
        self._session = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def unavailable_reason() -> str | None:
        try:
            import aiohttp  # noqa: F401
        except ImportError as exc:
            return f"aiohttp not importable ({exc}); pip install 'openaiperf[openai]'"
        return None

    # -- life cycle -----------------------------------------------------------------
    def prepare(self) -> None:
        endpoint = self.options["endpoint"]
        if endpoint:
            self.base_url = str(endpoint).rstrip("/").removesuffix("/v1")
            self.model_name = self.options["served_model"] or self.discover_model()
        else:
            self.start_managed_server()
        if self.options["client_tokenizer"]:
            self.tokenizer = self.load_tokenizer()

    def start_managed_server(self) -> None:
        try:
            import vllm  # noqa: F401
        except ImportError as exc:
            raise EngineError(f"no --endpoint given and vLLM is not importable to start a managed server ({exc})")
        from openaiperf.engines.managed_server import ManagedServer

        args = {key: self.options[key] for key in SERVER_KEYS}
        args["dtype"] = self.options["dtype"] or self.context.dtype
        self.model_name = self.options["served_model"] or self.context.model.name
        self.server = ManagedServer(self.context.weights, self.model_name, log_dir=self.context.log_dir, args=args,
                                    extra_argv=server_argv(self.options["server_args"]),
                                    start_timeout_s=float(self.options["start_timeout_s"]))
        self.server.start()
        self.base_url = self.server.base_url

    def discover_model(self) -> str:
        import urllib.request

        request = urllib.request.Request(self.base_url + "/v1/models", headers=self.headers())
        try:
            with urllib.request.urlopen(request, timeout=float(self.options["connect_timeout_s"])) as response:
                models = json.loads(response.read()).get("data") or []
        except Exception as exc:
            raise EngineError(f"cannot list models at {self.base_url}/v1/models ({type(exc).__name__}: {exc}); "
                              f"set the served_model engine option") from None
        if not models:
            raise EngineError(f"{self.base_url}/v1/models lists no model; set the served_model engine option")
        return str(models[0]["id"])

    def load_tokenizer(self):
        try:
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(self.context.weights)
        except Exception:  # a remote endpoint's model may not be available locally
            return None

    def teardown(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def info(self) -> dict[str, Any]:
        import aiohttp

        shown = {k: v for k, v in self.options.items() if k != "api_key_env"}
        info: dict[str, Any] = {
            "engine": self.name, "aiohttp": aiohttp.__version__, "model_name": self.model_name,
            "mode": "endpoint" if self.options["endpoint"] else "managed vLLM server",
            "base_url": self.base_url, "options": shown,
            "api_key": f"from ${self.options['api_key_env']}" if os.environ.get(self.options["api_key_env"]) else None,
        }
        if self.server is not None:
            import vllm

            info["vllm"] = vllm.__version__
            info["server_command"] = " ".join(self.server.command)
            info["server_log"] = str(self.server.log_path)
        return info

    # -- HTTP -------------------------------------------------------------------------
    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.options["api_key_env"] or "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def session(self):
        """One aiohttp session per event loop, without a connection limit (a pool
        cap would silently turn an open-loop load into a closed one)."""
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._session_loop is not loop or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
            timeout = aiohttp.ClientTimeout(total=float(self.options["request_timeout_s"]),
                                            sock_connect=float(self.options["connect_timeout_s"]))
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self.headers())
            self._session_loop = loop
        return self._session

    async def aclose(self) -> None:
        """Close the current loop's session (the load generator calls this when done)."""
        if self._session is not None and self._session_loop is asyncio.get_running_loop():
            await self._session.close()
        self._session, self._session_loop = None, None

    def payload(self, request: Request) -> tuple[str, dict[str, Any]]:
        api = self.options["api"]
        chat = request.messages is not None if api == "auto" else api == "chat"
        body: dict[str, Any] = {"model": self.model_name, "max_tokens": request.max_tokens,
                                "temperature": request.temperature, "top_p": request.top_p, "stream": True,
                                "stream_options": {"include_usage": True}}
        if request.ignore_eos:
            # vLLM's extension; sent only when asked, since other servers may refuse unknown fields.
            body["ignore_eos"] = True
        if chat:
            body["messages"] = request.messages if request.messages is not None else [
                {"role": "user", "content": request.prompt}]
            return "/v1/chat/completions", body
        if request.prompt is None:
            raise RequestFailed("api=completions needs a plain prompt, the request has chat messages")
        body["prompt"] = request.prompt
        return "/v1/completions", body

    async def stream(self, request: Request, record: Record) -> None:
        """Serve one request; any failure is recorded on the record, never raised."""
        import aiohttp

        try:
            path, body = self.payload(request)
            if self.server is not None and not self.server.alive():
                raise RequestFailed(f"managed vLLM server is dead; last log lines:\n{self.server.log_tail(10)}")
            if record.sent is None:
                record.sent = time.perf_counter()
            await self._exchange(path, body, record)
        except RequestFailed as exc:
            record.fail(str(exc))
        except MalformedSSE as exc:
            record.fail(str(exc))
        except asyncio.TimeoutError:
            record.fail(f"timeout: no complete response within {self.options['request_timeout_s']} s")
        except aiohttp.ClientConnectorError as exc:
            record.fail(f"unreachable: {self.base_url} ({exc.os_error or exc})")
        except aiohttp.ClientPayloadError as exc:
            record.fail(f"stream cut: {exc}")
        except aiohttp.ClientError as exc:
            record.fail(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a request must never take the case down
            record.fail(f"{type(exc).__name__}: {exc}")

    async def _exchange(self, path: str, body: dict[str, Any], record: Record) -> None:
        session = self.session()
        usage: dict[str, Any] | None = None
        text: list[str] = []
        finished = False
        async with session.post(self.base_url + path, json=body) as response:
            if response.status >= 400:
                detail = (await response.text())[:300]
                raise RequestFailed(f"HTTP {response.status} {response.reason}: {detail}")
            async for raw in response.content:
                event = parse_sse_line(raw)
                if event is None:
                    continue
                if event.done:
                    finished = True
                    break
                data = event.data
                if chunk_delta(data):
                    record.mark_token()
                    text.append(chunk_content(data))
                if data.get("usage"):
                    usage = data["usage"]
        if not finished:
            raise RequestFailed(f"stream cut: the response ended without [DONE] after {len(record.token_times)} chunks")
        record.done = time.perf_counter()
        record.text = "".join(text)
        if usage:
            record.input_tokens = usage.get("prompt_tokens")
            record.output_tokens = usage.get("completion_tokens")
        if self.tokenizer is not None:
            record.client_output_tokens = len(self.tokenizer(record.text, add_special_tokens=False)["input_ids"])
        if record.output_tokens is None:
            # A server without usage: fall back to the client's count (or one per chunk).
            record.output_tokens = record.client_output_tokens or len(record.token_times)

    # -- offline ----------------------------------------------------------------------
    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        """Send every request at once (the server batches them)."""

        async def one(request: Request, record: Record) -> None:
            await self.stream(request, record)
            on_done(record)

        async def everything() -> None:
            try:
                await asyncio.gather(*(one(q, r) for q, r in zip(requests, records)))
            finally:
                await self.aclose()

        asyncio.run(everything())
