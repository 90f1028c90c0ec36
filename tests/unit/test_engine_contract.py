"""The engine contract kit (openaiperf.testing.engine_contract) on the engines that need no model:
the docs' echo engine, the test doubles ScriptedEngine and the plugin tests' FakeEngine; and on
engines that each break one rule, which it must name."""

from __future__ import annotations

import re
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from fixtures.engines import ScriptedEngine
from openaiperf.testing.engine_contract import (
    EngineContract,
    EngineContractError,
    check_engine,
    contract_requests,
    minimal_context,
)

REPO = Path(__file__).resolve().parents[2]


def docs_echo_engine() -> type:
    """The echo engine of docs/new-engine.md, as written there (its registration left out:
    the docs' own test registers it)."""
    page = (REPO / "docs" / "new-engine.md").read_text()
    code = re.search(r"```python file=echo_engine.py\n(.*?)```", page, re.S)
    assert code is not None
    module = types.ModuleType("docs_echo_engine")
    exec(compile(code.group(1).replace('@engines.register("echo")\n', ""), "echo_engine.py", "exec"),
         module.__dict__)
    return module.EchoEngine  # type: ignore[no-any-return]


def fake_engine() -> type:
    sys.path.insert(0, str(REPO / "tests" / "plugin"))
    try:
        from fake_engine import FakeEngine
    finally:
        sys.path.remove(str(REPO / "tests" / "plugin"))
    return FakeEngine  # type: ignore[no-any-return]


class TestDocsEchoEngine(EngineContract):
    def make_engine(self) -> Any:
        return docs_echo_engine()(minimal_context(max_words=6))


class TestScriptedEngine(EngineContract):
    def make_engine(self) -> Any:
        return ScriptedEngine(minimal_context(), tokens=3, token_s=0.0)


class TestFakeEngine(EngineContract):
    """An engine that does not subclass Engine (the registry gives it the defaults)."""

    def make_engine(self) -> Any:
        return fake_engine()(minimal_context())


# -- engines that break one rule each ------------------------------------------------------------
class ChunksOutOfOrder(ScriptedEngine):
    def _serve(self, request: Any, record: Any) -> None:
        super()._serve(request, record)
        record.chunk_times.reverse()


class CountsDisagree(ScriptedEngine):
    def _serve(self, request: Any, record: Any) -> None:
        super()._serve(request, record)
        record.output_tokens += 1


class NoUsage(ScriptedEngine):
    def _serve(self, request: Any, record: Any) -> None:
        super()._serve(request, record)
        record.input_tokens = None


class ForgetsOnDone(ScriptedEngine):
    def run(self, requests: Any, records: Any, on_done: Any) -> None:
        for request, record in zip(requests, records):
            self._serve(request, record)


class SentBeforeScheduled(ScriptedEngine):
    def _serve(self, request: Any, record: Any) -> None:
        super()._serve(request, record)
        record.sent = record.scheduled - 1.0


class NeedsTheLoopOfItsFirstRound(ScriptedEngine):
    """Keeps an object bound to the first event loop (as an HTTP session would), and fails in the next."""

    loop: Any = None

    async def stream(self, request: Any, record: Any) -> None:
        import asyncio

        running = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = running
        if running is not self.loop:
            raise RuntimeError("attached to a different loop")
        await super().stream(request, record)


class SyncStream(ScriptedEngine):
    def stream(self, request: Any, record: Any) -> None:  # type: ignore[override]
        self._serve(request, record)


class TeardownOnce(ScriptedEngine):
    def teardown(self) -> None:
        if getattr(self, "torn", False):
            raise RuntimeError("already torn down")
        self.torn = True


class InfoNotJson(ScriptedEngine):
    def info(self) -> dict[str, Any]:
        return {"engine": self.name, "started": time}


@pytest.mark.parametrize(("engine", "rule"), [
    (ChunksOutOfOrder, "chunk_times are not in order"),
    (CountsDisagree, "the chunks carry 3 tokens but record.output_tokens is 4"),
    (NoUsage, "record.input_tokens must be a positive int"),
    (ForgetsOnDone, "on_done must be called once per record"),
    (SentBeforeScheduled, "is before record.scheduled"),
    (NeedsTheLoopOfItsFirstRound, "stream(): raised RuntimeError"),
    (SyncStream, "must be `async def stream"),
    (TeardownOnce, "teardown(): must be safe to call twice"),
    (InfoNotJson, "info(): goes into results.json"),
])
def test_a_broken_rule_is_named(engine: type, rule: str) -> None:
    with pytest.raises(EngineContractError, match=re.escape(rule)) as caught:
        check_engine(lambda: engine(minimal_context(), tokens=3, token_s=0.0))
    assert engine.__name__ in str(caught.value)


def test_the_whole_contract_passes_for_a_good_engine_and_the_requests_have_both_shapes() -> None:
    check_engine(lambda: ScriptedEngine(minimal_context(), tokens=2, token_s=0.0))
    shapes = {("messages" if r.messages else "prompt") for r in contract_requests()}
    assert shapes == {"messages", "prompt"}
