"""The ``hf`` engine: transformers, in-process.

Offline requests are served in static batches with left padding (sorted by
prompt length so padding stays small). Every decoding step is timestamped by a
streamer that ``generate`` calls once per step, which gives each sequence its
TTFT and inter-token times. Decoding is greedy unless a request asks for a
temperature, so quality numbers are reproducible. Online requests (``stream``)
are served one at a time: transformers has no continuous batching, so they
queue in front of the engine and the case says so.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from openaiperf.engines import Engine, EngineContext
from openaiperf.errors import EngineError
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

    def __init__(self, on_step=None) -> None:
        self.times: list[float] = []
        self._prompt_seen = False
        self._on_step = on_step

    def put(self, value) -> None:
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
        self.tokenizer: Any = None
        self.device = context.hardware.device
        self._lock = threading.Lock()

    # -- life cycle -----------------------------------------------------------------
    def prepare(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.device == "cuda" and not torch.cuda.is_available():
            raise EngineError(
                f"hardware profile {self.context.hardware.name!r} wants a CUDA device but torch "
                f"{torch.__version__} sees none"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(self.context.weights)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(
            self.context.weights,
            dtype=getattr(torch, self.context.dtype),
            attn_implementation=self.options.attn_implementation,
        ).to(self.device)
        self.model.eval()
        config = self.model.generation_config
        eos = config.eos_token_id if config.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])

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
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "device": self.device,
            "dtype": self.context.dtype,
            "options": self.options.model_dump(),
            "batching": "static batches, left padding",
            "online": "requests queue in front of the engine (no continuous batching)",
        }

    # -- prompts ----------------------------------------------------------------------
    def render(self, request: Request) -> str:
        if request.messages is None:
            return request.prompt or ""
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in request.messages)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- serving ----------------------------------------------------------------------
    def _generate(self, requests: Sequence[Request], records: Sequence[Record], on_step=None) -> list[list[int]]:
        """One static batch; returns each sequence's generated ids (eos included)."""
        import torch

        texts = [self.render(r) for r in requests]
        encoded = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        first = requests[0]
        sampling = first.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": max(r.max_tokens for r in requests),
            "do_sample": sampling,
            "pad_token_id": self.tokenizer.pad_token_id,
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
        for record, mask in zip(records, encoded["attention_mask"]):
            # A request queued inside the engine was sent when it was handed over, not when its batch began.
            if record.sent is None:
                record.sent = sent
            record.input_tokens = int(mask.sum())
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
            record.text = self.tokenizer.decode(ids, skip_special_tokens=True)
            results.append(ids)
        return results

    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        if self.model is None:
            raise EngineError("hf engine used before prepare()")
        batch_size = self.options.batch_size
        lengths = {r.id: self.count_tokens(self.render(r)) for r in requests}
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
        pad = self.tokenizer.pad_token_id or 0
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
