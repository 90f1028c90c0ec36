"""The ``hf`` engine: transformers, in-process.

Offline requests are served in static batches with left padding (sorted by
prompt length so padding stays small). Every decoding step is timestamped by a
streamer that ``generate`` calls once per step, which gives each sequence its
TTFT and inter-token times. Decoding is greedy unless a request asks for a
temperature, so quality numbers are reproducible. Online requests (``stream``)
are served one at a time: transformers has no continuous batching, so they
queue in front of the engine and the case says so.

A step's timestamp is taken once its tokens are on the host. ``generate`` hands
the streamer host tensors: ``tokens.cpu()`` (a copy that waits for the device to
finish the step), or, where transformers defers its stop check on a GPU
(``DeferredStopCheck``, transformers 5), a host copy whose CUDA event it has
synchronised, one step late: the stamp then comes after the host has queued
the next step's kernels, which, where the host's launches are slower than the
device's compute (small models), delays it by up to one step's launch time;
TPOT, a mean over the steps, keeps its value, TTFT can be that much late. :class:`StepClock` copies any
tensor still on a device itself before reading the clock, so no timestamp is ever
taken before the device produced the token, whatever transformers version calls it.

Prompts given as token ids (``Request.prompt_token_ids``) are used as they are;
text and chat prompts go through the model's tokenizer. Random weights (the
model's ``weights: random``): the model is built from its architecture's
``config.json`` with ``from_config`` inside ``torch.device(device)``, so its
tensors are created and initialised (transformers' normal init) directly on the
device in the case's dtype, never materialised on the CPU first; a tokenizer is
used only if one is on the machine already.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import Field

from openaiperf.engines import Engine, EngineContext
from openaiperf.engines.prompts import prompt_ids, render
from openaiperf.errors import EngineError
from openaiperf.models import describe_weights
from openaiperf.models.tokenizer import model_tokenizer, tokenizer_at
from openaiperf.records import Record, RecordSink, Request
from openaiperf.registry import Options, Requirement, requirement


class HFOptions(Options):
    """Options of the ``hf`` engine (matrix ``engine_options.hf``, ``--engine-option hf:KEY=VALUE``)."""

    #: requests per static batch (offline)
    batch_size: int = Field(default=16, gt=0)
    #: transformers' attention implementation (sdpa, eager, flash_attention_2, ...)
    attn_implementation: str = "sdpa"


class StepClock:
    """A transformers streamer that timestamps every decoding step.

    ``generate`` calls :meth:`put` first with the prompt ids, then once per step
    with the new token of every sequence in the batch.
    """

    def __init__(self, on_step: Callable[[float, Any], None] | None = None) -> None:
        self.times: list[float] = []
        self._prompt_seen = False
        self._on_step = on_step

    def put(self, value: Any) -> None:
        device = getattr(value, "device", None)
        if device is not None and getattr(device, "type", "cpu") != "cpu":
            # Still on the accelerator: the copy waits until the device has produced the tokens.
            value = value.cpu()
        now = time.perf_counter()
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.times.append(now)
        if self._on_step is not None:
            self._on_step(now, value)

    def end(self) -> None:
        pass


class HFEngine(Engine):
    context: EngineContext  # always given to these engines
    name: ClassVar[str] = "hf"
    concurrent: ClassVar[bool] = False
    requires: ClassVar[tuple[Requirement, ...]] = (
        requirement("torch", import_check=True,
                    install="CPU: pip install torch==2.13.0 (the CPU build); GPU: the CUDA/ROCm build of torch"),
        requirement("transformers>=4.46", import_check=True),
    )
    Options: ClassVar[type[Options]] = HFOptions
    options: HFOptions

    def __init__(self, context: EngineContext) -> None:
        super().__init__(context)
        self.model: Any = None
        self.tokenizer = None
        self.device = context.device or "cpu"
        self.random_weights = context.random_weights
        self.pad_id = 0
        self.eos_ids: set[int] = set()
        self.load_seconds: float | None = None
        self._lock = threading.Lock()

    # -- life cycle -----------------------------------------------------------------
    def prepare(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        if self.device == "cuda" and not torch.cuda.is_available():
            profile = self.context.hardware.name if self.context.hardware is not None else "(none)"
            raise EngineError(f"hardware profile {profile!r} wants a CUDA device but torch {torch.__version__} "
                              "sees none")

        started = time.perf_counter()
        self.tokenizer = model_tokenizer(self.context.model, self.context.weights) if self.context.model is not None \
            else tokenizer_at(self.context.weights)
        if self.random_weights:
            self.model = build_random_model(self.context.weights, self.context.dtype, self.device,
                                            self.options.attn_implementation)
        else:
            self.model = AutoModelForCausalLM.from_pretrained(
                self.context.weights,
                dtype=getattr(torch, self.context.dtype),
                attn_implementation=self.options.attn_implementation,
            ).to(self.device)
        self.model.eval()
        self.load_seconds = time.perf_counter() - started
        config = self.model.generation_config
        eos = config.eos_token_id
        if eos is None and self.tokenizer is not None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids = {int(t) for t in (eos if isinstance(eos, list) else [eos]) if t is not None}
        pad = self.tokenizer.pad_token_id if self.tokenizer is not None else None
        self.pad_id = int(pad if pad is not None else min(self.eos_ids, default=0))

    def teardown(self) -> None:
        self.model = None
        self.tokenizer = None
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()

    def info(self) -> dict[str, Any]:
        import torch
        import transformers

        return {
            "engine": self.name,
            "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
            "device": self.device,
            "dtype": self.context.dtype,
            "options": self.options.model_dump(),
            "batching": "static batches, left padding",
            "online": "requests queue in front of the engine (no continuous batching)",
            "weights": describe_weights(self.context.model),
            "load_s": self.load_seconds,
            "tokenizer": "yes" if self.tokenizer is not None else "none (prompts as token ids, no output text)",
        }

    # -- prompts ----------------------------------------------------------------------
    def render(self, request: Request) -> str:
        return render(self.tokenizer, request, self.name)

    def prompt_ids(self, request: Request) -> list[int]:
        """The request's own token ids, else the tokenizer's ids of its text."""
        return prompt_ids(self.tokenizer, request, self.name)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True) if self.tokenizer is not None else ""

    # -- serving ----------------------------------------------------------------------
    def _generate(self, requests: Sequence[Request], records: Sequence[Record],
                  on_step: Callable[[float, Any], None] | None = None) -> list[list[int]]:
        """One static batch; returns each sequence's generated ids (eos included)."""
        import torch

        prompts = [self.prompt_ids(r) for r in requests]
        width = max(len(ids) for ids in prompts)
        # Left padding: every sequence's next token comes from the last column.
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids):] = 1
        encoded = {"input_ids": input_ids.to(self.device), "attention_mask": attention_mask.to(self.device)}
        first = requests[0]
        sampling = first.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": max(r.max_tokens for r in requests),
            "do_sample": sampling,
            "pad_token_id": self.pad_id,
        }
        if sampling:
            kwargs.update(temperature=first.temperature, top_p=first.top_p)
        else:
            # Greedy: clear the checkpoint's sampling defaults so transformers does not warn.
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if any(r.ignore_eos for r in requests):
            kwargs["min_new_tokens"] = kwargs["max_new_tokens"]
        clock = StepClock(on_step)
        sent = time.perf_counter()
        for record, ids in zip(records, prompts):
            # A request queued inside the engine was sent when it was handed over, not when its batch began.
            if record.sent is None:
                record.sent = sent
            record.input_tokens = len(ids)
        with torch.inference_mode():
            output = self.model.generate(**encoded, streamer=clock, **kwargs)
        generated = output[:, encoded["input_ids"].shape[1]:].tolist()
        results = []
        for request, record, ids in zip(requests, records, generated):
            ids = ids[: request.max_tokens]
            if not request.ignore_eos:
                for i, token in enumerate(ids):
                    if token in self.eos_ids:
                        ids = ids[: i + 1]
                        break
            times = clock.times[: len(ids)]
            # Every decoding step gives each sequence one token: a chunk of one.
            record.chunk_times, record.chunk_tokens = list(times), [1] * len(times)
            record.chunk_ends = [0] * len(times)
            record.token_source = "engine"
            record.first_token = times[0] if times else None
            record.done = times[-1] if times else time.perf_counter()
            record.output_tokens = len(ids)
            record.text = self.decode(ids)
            results.append(ids)
        return results

    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        if self.model is None:
            raise EngineError("hf engine used before prepare()")
        batch_size = self.options.batch_size
        lengths = {r.id: len(self.prompt_ids(r)) for r in requests}
        order = sorted(range(len(requests)), key=lambda i: (requests[i].max_tokens, lengths[requests[i].id]))
        handed_over = time.perf_counter()
        for record in records:
            record.sent = handed_over
        with self._lock:
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                batch_requests = [requests[i] for i in index]
                batch_records = [records[i] for i in index]
                self._generate(batch_requests, batch_records)
                for record in batch_records:
                    on_done(record)

    def _stream_blocking(self, request: Request, record: Record, loop: asyncio.AbstractEventLoop | None) -> None:
        with self._lock:
            self._generate([request], [record])

    async def stream(self, request: Request, record: Record) -> None:
        if self.model is None:
            raise EngineError("hf engine used before prepare()")
        # One at a time: requests queue on the lock in front of the engine.
        await asyncio.to_thread(self._stream_blocking, request, record, None)

    # -- scoring (optional engine method; the perplexity task uses it) -------------------
    def score(self, windows: Sequence[Sequence[int]]) -> list[list[float]]:
        """Log-probability of every token of each window given the tokens before it
        (``len(window) - 1`` values; the first token has no context). One forward
        pass per call, windows right-padded (causal attention: padding after a token
        does not change its logits)."""
        import torch

        if self.model is None:
            raise EngineError("hf engine used before prepare()")
        length = max(len(w) for w in windows)
        pad = self.pad_id
        ids = torch.full((len(windows), length), pad, dtype=torch.long)
        mask = torch.zeros((len(windows), length), dtype=torch.long)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = torch.tensor(list(window), dtype=torch.long)
            mask[row, : len(window)] = 1
        with self._lock, torch.inference_mode():
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits[:, :-1]
            # log p(token) = logit(token) - logsumexp(logits): no full log-softmax tensor.
            actual = logits.gather(-1, ids[:, 1:].to(self.device).unsqueeze(-1)).squeeze(-1).float()
            picked = (actual - torch.logsumexp(logits.float(), dim=-1)).cpu()
        return [picked[row, : len(window) - 1].tolist() for row, window in enumerate(windows)]




def build_random_model(config_dir: str, dtype: str, device: str, attn_implementation: str = "sdpa") -> Any:
    """A model with random weights from the ``config.json`` in ``config_dir``, created
    directly on ``device`` in ``dtype``: under ``torch.device(device)`` every parameter
    is allocated and initialised there (transformers' normal init: about one pass of
    the device's memory bandwidth over the weights), so a 70B model never touches
    host memory. ``device="meta"`` builds the structure alone (no memory)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(config_dir)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype),
                                                 attn_implementation=attn_implementation)
    return model
