"""The typed extension contracts: what an engine, a scenario and a task kind are given
and may define, as the suite reads them (no duck-typed probes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest

from openaiperf.engines import Engine, EngineContext, engines
from openaiperf.errors import ConfigError
from openaiperf.hardware import load_profile
from openaiperf.history.store import engine_versions
from openaiperf.models import ModelSpec, load_registry
from openaiperf.records import Record, RecordSink, Request, Session, Turn, Workload, is_sessions, salted_workload
from openaiperf.result import CaseResult, EngineInfo
from openaiperf.scenarios import ScenarioConfig, create_scenario
from openaiperf.testing.engine_contract import minimal_context


class TypedEcho(Engine):
    """An outside engine written against the typed protocol (every signature annotated)."""

    def prepare(self) -> None:
        pass

    def _serve(self, request: Request, record: Record) -> None:
        record.sent = time.perf_counter()
        record.mark_token()
        record.text, record.input_tokens, record.output_tokens = "echo", 1, 1
        record.done = time.perf_counter()

    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        for request, record in zip(requests, records):
            self._serve(request, record)
            on_done(record)

    async def stream(self, request: Request, record: Record) -> None:
        self._serve(request, record)

    def teardown(self) -> None:
        pass

    def info(self) -> dict[str, Any]:
        return {"engine": self.name, "versions": {"echo": "1.0"}}


class Scoring(TypedEcho):
    def score(self, windows: Sequence[Sequence[int]]) -> list[list[float]]:
        return [[-1.0] * (len(w) - 1) for w in windows]


def test_an_outside_engine_typed_against_the_protocol_registers_and_runs() -> None:
    engines.register("typed-echo", TypedEcho)
    try:
        cls = engines.get("typed-echo")
        assert cls is TypedEcho and cls.name == "typed-echo"
        engine = cls(minimal_context())
        requests: Workload = [Request(id=f"r{i}", sample_id=f"s{i}", max_tokens=1, prompt="hi") for i in range(3)]
        run = create_scenario("offline", ScenarioConfig()).run(engine, requests, lambda record: None)
        assert run.valid and [r.text for r in run.records] == ["echo"] * 3
        assert EngineInfo.model_validate(engine.info()).versions == {"echo": "1.0"}
    finally:
        engines.unregister("typed-echo")


def test_the_optional_hooks_have_defaults_on_the_base_class() -> None:
    engine = TypedEcho(minimal_context())
    assert engine.tokenizer is None and engine.scorer() is None
    asyncio.run(engine.aclose())  # nothing to close
    assert engine.metrics_endpoint() is None and engine.worker_spec() is None
    scoring = Scoring(minimal_context())
    scorer = scoring.scorer()
    assert scorer is not None and scorer([[1, 2, 3]]) == [[-1.0, -1.0]]


def test_a_class_that_does_not_subclass_engine_gets_the_hooks_from_the_registry() -> None:
    class Duck:
        def __init__(self, context: EngineContext) -> None:
            self.context = context

        def prepare(self) -> None: ...
        def run(self, requests: Any, records: Any, on_done: Any) -> None: ...
        async def stream(self, request: Any, record: Any) -> None: ...
        def teardown(self) -> None: ...
        def info(self) -> dict[str, Any]:
            return {}

        def score(self, windows: Sequence[Sequence[int]]) -> list[list[float]]:
            return [[0.0] for _ in windows]

    engines.register("duck", Duck)
    try:
        engine = engines.get("duck")(minimal_context())
        assert isinstance(engine, Engine) and engine.tokenizer is None
        scorer = engine.scorer()
        assert scorer is not None and scorer([[1, 2]]) == [[0.0]]
        asyncio.run(engine.aclose())
    finally:
        engines.unregister("duck")


def test_the_context_reads_the_model_and_the_hardware() -> None:
    model = load_registry()["tiny-llama"]
    context = EngineContext(model=model.with_weights("random"), weights="w", hardware=load_profile("cpu"),
                            dtype="float32")
    assert context.random_weights and context.device == "cpu" and context.require_model().name == "tiny-llama"
    bare = minimal_context()
    assert not bare.random_weights and bare.device is None and bare.log_dir is None
    with pytest.raises(ConfigError, match="needs a model of the model registry"):
        bare.require_model()


def test_a_workload_is_requests_or_sessions() -> None:
    requests = [Request(id="r", sample_id="s", max_tokens=1, prompt="hi")]
    sessions = [Session(id="a", sample_id="a", turns=(Turn(user="hi", reply="hello", max_tokens=4),))]
    assert not is_sessions(requests) and is_sessions(sessions) and not is_sessions([])
    salted = salted_workload(sessions, lambda index: f"[s{index}]")
    assert is_sessions(salted) and salted[0].request(1, []).messages[0]["content"].startswith("[s0] ")
    assert salted_workload(requests, lambda index: "[x]")[0].prompt == "[x] hi"


def test_a_task_kind_says_which_scenarios_cannot_run_its_workload(monkeypatch: pytest.MonkeyPatch) -> None:
    from openaiperf.scenarios import scenario_class
    from openaiperf.tasks import task_class

    monkeypatch.setattr(scenario_class("single_stream"), "sessions", False)
    reason = task_class("multiturn").workload_skip_reason("single_stream")
    assert reason is not None and "cannot drive multi-turn sessions (task kind 'multiturn')" in reason
    assert task_class("chat").workload_skip_reason("single_stream") is None


def test_engine_info_keeps_the_versions_in_one_place_and_reads_earlier_results() -> None:
    case = {"id": "c", "task": "t", "scenario": "offline", "engine": "hf", "model": "m", "hardware": "cpu"}
    earlier = CaseResult.model_validate(case | {"engine_info": {"engine": "hf", "transformers": "5.19.0",
                                                               "torch": "2.13.0+cpu", "device": "cpu"}})
    assert earlier.engine_info.versions == {"transformers": "5.19.0", "torch": "2.13.0+cpu"}
    assert engine_versions(earlier.engine_info) == "transformers 5.19.0, torch 2.13.0+cpu"
    now = CaseResult.model_validate(case | {"engine_info": {"engine": "echo"}})
    assert now.model_dump(mode="json")["engine_info"] == {"engine": "echo"}  # no empty versions written
    assert engine_versions(now.engine_info) is None


def test_a_model_spec_is_what_a_task_builds_for() -> None:
    from openaiperf.tasks import create_task, load_task_specs

    task = create_task("summarization.xsum", load_task_specs())
    samples = task.load_samples(2, None)
    plain = ModelSpec(name="plain", source="x", parameters=1, chat=False)
    assert all(r.prompt is not None and r.messages is None for r in task.build_requests(samples, plain))
    assert all(r.messages is not None for r in task.build_requests(samples, None))
