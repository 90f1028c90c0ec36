"""Trace replay: arrival times and input/output lengths from a production trace.

Two formats:

- Mooncake JSONL (one request a line): ``timestamp`` (ms), ``input_length``,
  ``output_length``, ``hash_ids`` (the prompt's blocks of ``block_tokens`` tokens:
  512 in Mooncake's published traces; requests with equal leading hash ids share
  that prefix). Prompts are built so that equal hash ids give equal blocks of
  tokens: block ``h`` is ``block_tokens`` word tokens drawn with seed (``seed``,
  ``h``), a prompt is its blocks in order cut to ``input_length``, so the prefix
  reuse of the trace is the prefix reuse of the prompts;
- BurstGPT CSV: ``Timestamp`` (s), ``Model``, ``Request tokens``, ``Response
  tokens``, ``Total tokens``, ``Log Type``; each prompt is ``Request tokens``
  word tokens of its own (no shared prefixes: the format has none). Rows with 0
  response tokens (failed requests in BurstGPT) are skipped unless
  ``skip_failed: false``; ``models`` and ``log_types`` filter rows.

Tokens are the model's word tokens (:mod:`openaiperf.tasks.token_prompts`), so
input lengths are exact in its tokenizer; each request generates exactly its
output length (``ignore_eos``). Lengths above ``max_input_tokens`` /
``max_output_tokens`` are cut to them (counted in the case's details). Rows are
taken in time order, the first ``max_requests`` (``--max-samples``) or those
within ``max_duration_s`` of the first.

Each request carries its arrival time (seconds after the trace's first
request): the ``server`` and ``interactive`` scenarios replay them
(``--arrivals auto|trace``, ``--time-scale F`` to compress or stretch time), the
others send the requests as they always do. The case reports the ideal
prefix-cache hit rate of the prompts sent (as ``synthetic.shared_prefix``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from openaiperf.errors import ConfigError
from openaiperf.metrics import MetricSet
from openaiperf.models import ModelSpec
from openaiperf.records import Record, Request
from openaiperf.registry import Options
from openaiperf.tasks import QualityResult, Sample, Task, TaskSpec
from openaiperf.tasks.datasets import eval_dataset_path
from openaiperf.tasks.quality import check_exact_output_tokens
from openaiperf.tasks.shared_prefix import ideal_metrics
from openaiperf.tasks.thinking import budget_value
from openaiperf.tasks.token_prompts import decode, word_vocabulary
from openaiperf.tasks.tokenizer import tokenizer_for

BURSTGPT_COLUMNS = ("Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type")
MOONCAKE_FIELDS = ("timestamp", "input_length", "output_length", "hash_ids")


class TraceParameters(Options):
    #: auto: mooncake for JSONL, burstgpt for CSV
    trace_format: Literal["auto", "mooncake", "burstgpt"] = "auto"
    block_tokens: int = Field(default=512, ge=1)
    max_requests: int | None = Field(default=None, gt=0)
    max_duration_s: float | None = Field(default=None, gt=0)
    max_input_tokens: int = Field(default=2048, gt=0)
    max_output_tokens: int = Field(default=512, gt=0)
    models: list[str] | None = None
    log_types: list[str] | None = None
    skip_failed: bool = True
    #: the KV-cache block used for the ideal hit rate when the server does not say
    block_size: int = Field(default=16, ge=1)
    seed: int = 0


class TraceRow:
    """One request of a trace: arrival (s after the first row), lengths, hash ids, and the
    extra columns the task file names (a thinking budget), as the row has them."""

    __slots__ = ("line", "arrival_s", "input_length", "output_length", "hash_ids", "extra")

    def __init__(self, line: int, arrival_s: float, input_length: int, output_length: int,
                 hash_ids: list[int] | None, extra: dict[str, Any] | None = None) -> None:
        self.line, self.arrival_s, self.input_length, self.output_length = line, arrival_s, input_length, output_length
        self.hash_ids = hash_ids
        self.extra = extra or {}


def _int(value: Any, source: str, field: str) -> int:
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        raise ConfigError(f"expected a whole number, got {value!r}", source=source, field=field) from None
    if number < 0:
        raise ConfigError(f"must be >= 0, got {number}", source=source, field=field)
    return number


def read_mooncake(path: Path, columns: Sequence[str] = ()) -> list[TraceRow]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"not JSON ({exc.msg})", source=where) from None
            missing = [f for f in MOONCAKE_FIELDS[:3] if f not in data]
            if missing:
                raise ConfigError(f"missing field(s) {missing}; a Mooncake trace line has {list(MOONCAKE_FIELDS)}",
                                  source=where)
            hash_ids = data.get("hash_ids") or []
            if not isinstance(hash_ids, list) or not all(isinstance(h, int) for h in hash_ids):
                raise ConfigError("expected a list of whole numbers", source=where, field="hash_ids")
            rows.append(TraceRow(number, float(data["timestamp"]) / 1000.0, _int(data["input_length"], where,
                                 "input_length"), _int(data["output_length"], where, "output_length"), hash_ids,
                                 {c: data[c] for c in columns if c in data}))
    return rows


def read_burstgpt(path: Path, p: TraceParameters, columns: Sequence[str] = ()) -> tuple[list[TraceRow], int]:
    """The rows kept and how many failed ones (0 response tokens) were skipped."""
    rows, failed = [], 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in BURSTGPT_COLUMNS[:4] if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"missing column(s) {missing}; a BurstGPT trace has {list(BURSTGPT_COLUMNS)}",
                              source=str(path))
        for number, row in enumerate(reader, start=2):
            where = f"{path}:{number}"
            if p.models is not None and row.get("Model") not in p.models:
                continue
            if p.log_types is not None and row.get("Log Type") not in p.log_types:
                continue
            response = _int(row["Response tokens"], where, "Response tokens")
            if response == 0 and p.skip_failed:
                failed += 1
                continue
            try:
                arrival = float(row["Timestamp"])
            except ValueError:
                raise ConfigError(f"expected seconds, got {row['Timestamp']!r}", source=where,
                                  field="Timestamp") from None
            rows.append(TraceRow(number, arrival, _int(row["Request tokens"], where, "Request tokens"), response,
                                 None, {c: row[c] for c in columns if c in row}))
    return rows, failed


class TraceTask(Task):
    kind: ClassVar[str] = "trace"
    #: a row's extra column (a thinking budget) travels with its sample
    sample_columns: ClassVar[bool] = True
    judges_quality: ClassVar[bool] = False  # a serving workload: its numbers are speed, not answers
    needs_model: ClassVar[bool] = True
    Options: ClassVar[type[Options]] = TraceParameters
    parameters: TraceParameters

    def __init__(self, spec: TaskSpec, *, dataset_source: str | None = None, base_dir: Path | None = None,
                 model: ModelSpec | None = None) -> None:
        super().__init__(spec, dataset_source=dataset_source, base_dir=base_dir, model=model)
        self.details: dict[str, Any] = {}
        #: whether the loaded rows name block hashes (then their prompts share prefixes on purpose)
        self.hashed = False

    def trace_format(self, path: Path) -> str:
        fmt = self.parameters.trace_format
        if fmt != "auto":
            return fmt
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".json"):
            return "mooncake"
        if suffix == ".csv":
            return "burstgpt"
        raise ConfigError(f"cannot tell the trace format from {path.name!r}; set parameters.trace_format "
                          "(mooncake or burstgpt)", source=str(path))

    def read_rows(self) -> list[TraceRow]:
        path = eval_dataset_path(self)
        fmt = self.trace_format(path)
        failed = 0
        budget = self.spec.input_profile.thinking_budget
        columns = (budget.column,) if budget else ()
        if fmt == "mooncake":
            rows = read_mooncake(path, columns)
        else:
            rows, failed = read_burstgpt(path, self.parameters, columns)
        if budget is not None:
            for row in rows:
                budget_value(row.extra.get(budget.column), source=f"{path}:{row.line}", column=budget.column,
                             sample=f"trace-{row.line}")
        if not rows:
            raise ConfigError("the trace has no requests (after the filters)", source=str(path))
        rows.sort(key=lambda r: r.arrival_s)
        first = rows[0].arrival_s
        for row in rows:
            row.arrival_s -= first
        self.details = {"trace_format": fmt, "trace_rows": len(rows), "failed_rows_skipped": failed}
        return rows

    def load_samples(self, max_samples: int | None, seed: int | None) -> list[Sample]:
        p = self.parameters
        rows = self.read_rows()
        if p.max_duration_s is not None:
            rows = [r for r in rows if r.arrival_s <= p.max_duration_s]
        limit = max_samples or p.max_requests
        if limit is not None:
            if limit > len(rows):
                raise ConfigError(f"--max-samples {limit} exceeds the trace's {len(rows)} requests",
                                  source=f"task {self.spec.name}")
            rows = rows[:limit]
        tokenizer = tokenizer_for(self.model, self.spec.name)
        vocabulary = word_vocabulary(tokenizer)
        blocks: dict[int, list[int]] = {}

        def block(hash_id: int) -> list[int]:
            if hash_id not in blocks:
                rng = np.random.default_rng((p.seed, hash_id))
                blocks[hash_id] = rng.choice(vocabulary, size=p.block_tokens).tolist()
            return blocks[hash_id]

        clipped_in = clipped_out = 0
        samples = []
        for row in rows:
            length = min(max(row.input_length, 1), p.max_input_tokens)
            output = min(max(row.output_length, 1), p.max_output_tokens)
            clipped_in += length < row.input_length
            clipped_out += output < row.output_length
            ids: list[int] = [t for h in row.hash_ids or [] for t in block(h)][:length]
            if len(ids) < length:  # no hash ids (BurstGPT), or fewer than the length needs: tokens of its own
                rng = np.random.default_rng((p.seed, 1 << 40, row.line))
                ids += rng.choice(vocabulary, size=length - len(ids)).tolist()
            samples.append(Sample(id=f"trace-{row.line}", fields={
                **row.extra, "prompt": decode(tokenizer, ids), "input_tokens": length, "output_tokens": output,
                "arrival_s": row.arrival_s, "hash_ids": len(row.hash_ids or [])}))
        self.hashed = any(sample.fields.get("hash_ids") for sample in samples)
        self.details.update(requests=len(samples), clipped_input=clipped_in, clipped_output=clipped_out,
                            span_s=samples[-1].fields["arrival_s"] if samples else 0.0)
        return samples

    def build_requests(self, samples: Sequence[Sample], model: ModelSpec | None) -> list[Request]:
        profile = self.spec.input_profile
        return [Request(id=f"{s.id}#{i}", sample_id=s.id, prompt=s.fields["prompt"],
                        max_tokens=s.fields["output_tokens"], temperature=profile.temperature, top_p=profile.top_p,
                        ignore_eos=True, arrival_s=s.fields["arrival_s"]) for i, s in enumerate(samples)]

    def declares_sharing(self) -> bool:
        """A trace whose rows name block hashes (Mooncake's ``hash_ids``) shares prefixes on purpose."""
        return self.hashed

    def prefix_cache_metrics(self, runs: Sequence[Any], block_size: int | None) -> MetricSet:
        return ideal_metrics(self, runs, block_size or self.parameters.block_size)

    def evaluate(self, samples: Sequence[Sample], records: Sequence[Record], model: ModelSpec | None) -> QualityResult:
        result = QualityResult()
        check_exact_output_tokens(samples, records, result)
        ok = [r for r in records if r.ok]
        if ok:
            result.scores["input_tokens_mean"] = float(np.mean([r.input_tokens or 0 for r in ok]))
            result.scores["tokens_per_sample"] = float(np.mean([r.output_tokens or 0 for r in ok]))
        result.details["quality"] = "none: a performance workload"
        result.details.update(self.details)
        result.details["parameters"] = self.parameters.model_dump()
        result.details.update(self.data_details())
        return result
