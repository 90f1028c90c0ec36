"""Test doubles for the suite's own tests.

:class:`ScriptedEngine` is a deterministic test engine with no model: it
"generates" a fixed number of tokens at fixed (simulated) intervals and can be
told to fail. It exists to check the scenario, metric and plugin logic; the
real engines are exercised end to end on SmolLM2 in tests/e2e.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from openaiperf.engines import Engine
from openaiperf.records import Record, RecordSink, Request


class ScriptedEngine(Engine):
    name: ClassVar[str] = "scripted"
    concurrent: ClassVar[bool] = False

    def __init__(self, context: Any = None, *, tokens: int = 4, token_s: float = 0.001,
                 fail_after: int | None = None) -> None:
        self.context = context
        options = getattr(context, "options", {}) or {}
        self.tokens = int(options.get("tokens", tokens))
        self.token_s = float(options.get("token_s", token_s))
        fail = options.get("fail_after", fail_after)
        self.fail_after = None if fail is None else int(fail)
        self.calls: list[list[str]] = []
        self.served = 0

    def prepare(self) -> None:
        pass

    def _serve(self, request: Request, record: Record) -> None:
        if self.fail_after is not None and self.served >= self.fail_after:
            raise RuntimeError(f"scripted failure after {self.fail_after} requests")
        record.sent = time.perf_counter()
        record.input_tokens = 10
        for _ in range(min(self.tokens, request.max_tokens)):
            time.sleep(self.token_s)
            record.mark_token()
        record.output_tokens = len(record.token_times)
        record.text = "the quick brown fox"
        record.done = time.perf_counter()
        self.served += 1

    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        self.calls.append([r.id for r in requests])
        for request, record in zip(requests, records):
            self._serve(request, record)
            on_done(record)

    async def stream(self, request: Request, record: Record) -> None:
        self._serve(request, record)

    def teardown(self) -> None:
        pass

    def info(self) -> dict[str, Any]:
        return {"engine": self.name, "tokens": self.tokens}


def make_record(scheduled: float, token_times: Sequence[float], *, sent: float | None = None,
                input_tokens: int = 10, error: str | None = None) -> Record:
    """A finished record with the given times (seconds)."""
    record = Record(request_id="r", sample_id="s", scheduled=scheduled, sent=scheduled if sent is None else sent)
    for t in token_times:
        record.mark_token(t)
    record.output_tokens = len(token_times)
    record.input_tokens = input_tokens
    record.done = token_times[-1] if token_times else scheduled
    record.error = error
    return record


REPO_PROFILES = Path(__file__).resolve().parents[1] / "hardware_profiles"


def xsum_case_runner(run_dir: Path, case: Any, *, engine: Engine | None = None, parameters: int = 1_000_000,
                     dtype: str = "float32", settings: Any = None) -> Any:
    """A :class:`~openaiperf.runner.CaseRunner` of ``case`` (an XSum case) on the h100
    profile, with a model of ``parameters`` named as the case's (no weights) and ``engine``
    (a :class:`ScriptedEngine` by default)."""
    from openaiperf.hardware import load_profile
    from openaiperf.models import ModelSpec
    from openaiperf.runner import CaseRunner, RunSettings
    from openaiperf.tasks import create_task, load_task_specs

    model = ModelSpec(name=case.model, source=f"test/{case.model}", parameters=parameters, dtype=dtype)
    return CaseRunner(case, task=create_task("summarization.xsum", load_task_specs()),
                      engine=engine or ScriptedEngine(), model=model, hardware=load_profile("h100", [REPO_PROFILES]),
                      system=None, dtype=dtype, run_dir=run_dir,
                      settings=settings or RunSettings(monitor=False, stall_limit_ms=None))
