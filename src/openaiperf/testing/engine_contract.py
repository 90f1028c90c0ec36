"""The engine contract, as tests an engine's author runs against their engine.

:class:`openaiperf.engines.Engine` documents what the suite expects of an engine;
this kit checks it on a live engine, with a few small requests, without pytest or
with it:

- :func:`check_engine` runs every check and raises :class:`EngineContractError`
  naming the first broken rule, the request and the record field;
- :class:`EngineContract` is the same checks as a pytest class: subclass it in a
  test module, name it ``Test...``, and give it ``make_engine`` (the engine is
  built and prepared once for the class, torn down at its end)::

      from openaiperf.testing.engine_contract import EngineContract, minimal_context

      class TestEchoEngine(EngineContract):
          def make_engine(self):
              return EchoEngine(minimal_context(max_words=8))

What is checked (the rules the runner, the scenarios and the metrics rely on):

- the class has the required methods (``prepare``, ``run``, ``stream``,
  ``teardown``, ``info``), ``stream`` is a coroutine function, and its ``Options``
  (when it has some) validate an empty mapping;
- ``prepare()`` returns; ``info()`` is a mapping that ``json`` can write;
- ``run(requests, records, on_done)`` fills every record: ``sent`` at or after
  ``scheduled``, a first token between ``sent`` and ``done``, chunk times in order
  inside ``[sent, done]``, positive integer input and output token counts, the
  chunks' tokens adding up to the output tokens, text as a string, no error; and
  calls ``on_done`` once per record;
- ``stream(request, record)`` does the same for each request inside an event loop
  (a fresh loop per round, as each scenario run builds one; concurrently when the
  engine says it is ``concurrent``), and ``aclose()``, when the engine has one, is
  awaited inside that loop;
- ``complete_records(records)`` (optional) returns a bool;
- ``teardown()`` may be called twice.

Times are checked for their order only, never against a duration: the kit holds
no engine to a speed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, cast

import pytest

from openaiperf.engines import REQUIRED_METHODS, EngineContext
from openaiperf.records import Record, RecordSink, Request
from openaiperf.redact import RedactedDict
from openaiperf.scenarios import new_records


class EngineContractError(AssertionError):
    """An engine broke a rule of the engine contract (the message names it)."""


class ContractEngine(Protocol):
    """The required methods the kit calls, as :class:`openaiperf.engines.Engine` declares them. An
    engine need not subclass ``Engine``: :func:`check_class` checks that these are there (the
    kit's only duck-typed step) and returns the engine as this type. The optional hooks
    (``concurrent``, ``aclose``, ``complete_records``) are probed where they are used."""

    def prepare(self) -> None: ...

    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None: ...

    def stream(self, request: Request, record: Record) -> Awaitable[None]: ...

    def teardown(self) -> None: ...

    def info(self) -> object: ...


def minimal_context(**options: Any) -> EngineContext:
    """An :class:`EngineContext` without a model, weights or hardware (for an engine
    that needs none of them, e.g. one that talks to a server it is given in ``options``)."""
    return EngineContext(model=None, weights="", hardware=None, dtype="float32", options=RedactedDict(options))


def contract_requests(count: int = 3, max_tokens: int = 8) -> list[Request]:
    """Small requests of both shapes: chat messages and a plain prompt."""
    words = "the quick brown fox jumps over the lazy dog near the quiet river bank"
    out = []
    for index in range(count):
        text = f"{words} {index}"
        if index % 2 == 0:
            out.append(Request(id=f"contract-{index}", sample_id=f"s{index}", max_tokens=max_tokens,
                               messages=[{"role": "user", "content": text}]))
        else:
            out.append(Request(id=f"contract-{index}", sample_id=f"s{index}", max_tokens=max_tokens, prompt=text))
    return out


def _fail(engine: object, rule: str, detail: str) -> EngineContractError:
    return EngineContractError(f"engine {type(engine).__name__}: {rule}: {detail}")


def check_class(engine: object) -> ContractEngine:
    """The required methods, ``stream`` a coroutine function, ``Options`` taking no options;
    the engine, typed by what it was checked to have."""
    cls = type(engine)
    missing = [name for name in REQUIRED_METHODS if not callable(getattr(cls, name, None))]
    if missing:
        raise _fail(engine, "required methods", f"missing {', '.join(missing)}")
    if not inspect.iscoroutinefunction(getattr(cls, "stream", None)):
        raise _fail(engine, "stream", "must be `async def stream(self, request, record)`")
    options = getattr(cls, "Options", None)
    if options is not None and hasattr(options, "model_validate"):
        try:
            options.model_validate({})
        except Exception as exc:  # a required option: the suite builds engines from matrices that may give none
            raise _fail(engine, "Options", f"an empty mapping must validate (give every option a default): {exc}") \
                from None
    return cast(ContractEngine, engine)


def check_info(engine: ContractEngine) -> None:
    info = engine.info()
    if not isinstance(info, Mapping):
        raise _fail(engine, "info()", f"must return a mapping, got {type(info).__name__}")
    try:
        json.dumps(dict(info))
    except (TypeError, ValueError) as exc:
        raise _fail(engine, "info()", f"goes into results.json and must be JSON: {exc}") from None


def check_record(engine: ContractEngine, record: Record, request: Request, how: str) -> None:
    """One finished record as the metrics need it."""
    where = f"{how}, request {request.id!r}"

    def broken(detail: str) -> EngineContractError:
        return _fail(engine, where, detail)

    if record.error is not None:
        raise broken(f"record.error is set: {record.error}")
    if record.sent is None or record.done is None:
        raise broken(f"record.sent and record.done must be set (sent={record.sent}, done={record.done})")
    if record.sent < record.scheduled:
        raise broken(f"record.sent ({record.sent}) is before record.scheduled ({record.scheduled})")
    if record.done < record.sent:
        raise broken(f"record.done ({record.done}) is before record.sent ({record.sent})")
    for name in ("input_tokens", "output_tokens"):
        value = getattr(record, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise broken(f"record.{name} must be a positive int (the engine's count), got {value!r}")
    if not isinstance(record.text, str):
        raise broken(f"record.text must be a string, got {type(record.text).__name__}")
    if not record.timed_tokens:
        return  # one time per request: TTFT, TPOT and ITL are reported as unknown
    if record.first_token is None or not record.chunk_times:
        raise broken("no first token or chunk times: mark each chunk as it arrives (record.mark_chunk / "
                     "mark_token), or set record.timed_tokens = False")
    if not record.sent <= record.first_token <= record.done:
        raise broken(f"record.first_token ({record.first_token}) is not between sent ({record.sent}) and "
                     f"done ({record.done})")
    times = record.chunk_times
    if any(later < earlier for earlier, later in zip(times, times[1:])):
        raise broken(f"record.chunk_times are not in order: {times}")
    if times[0] < record.sent or times[-1] > record.done:
        raise broken(f"record.chunk_times ({times[0]} .. {times[-1]}) fall outside sent .. done "
                     f"({record.sent} .. {record.done})")
    if len(record.chunk_tokens) != len(times):
        raise broken("record.chunk_tokens and record.chunk_times differ in length: use record.mark_chunk")
    if record.token_source == "engine" and sum(record.chunk_tokens) != record.output_tokens:
        raise broken(f"the chunks carry {sum(record.chunk_tokens)} tokens but record.output_tokens is "
                     f"{record.output_tokens}")


def _fresh_records(requests: Sequence[Request]) -> list[Record]:
    records = new_records(requests, 0)
    for record in records:
        record.scheduled = time.perf_counter()
    return records


def check_run(engine: ContractEngine, requests: Sequence[Request]) -> list[Record]:
    """``run`` on an offline batch: every record filled, ``on_done`` once per record."""
    records = _fresh_records(requests)
    done: list[str] = []
    engine.run(list(requests), records, lambda record: done.append(record.request_id))
    if sorted(done) != sorted(r.id for r in requests):
        raise _fail(engine, "run()", f"on_done must be called once per record; called for {done}")
    _complete(engine, records)
    for request, record in zip(requests, records):
        check_record(engine, record, request, "run()")
    return records


def check_stream(engine: ContractEngine, requests: Sequence[Request], rounds: int = 2) -> list[Record]:
    """``stream`` inside an event loop, a fresh loop per round (as each scenario run builds
    one); the requests concurrently when the engine is ``concurrent``; ``aclose()`` awaited
    inside the loop."""
    records: list[Record] = []
    for _ in range(rounds):
        records = _fresh_records(requests)

        async def one_round(batch: list[Record]) -> None:
            if getattr(engine, "concurrent", True):
                await asyncio.gather(*(engine.stream(q, r) for q, r in zip(requests, batch)))
            else:
                for q, r in zip(requests, batch):
                    await engine.stream(q, r)
            aclose = getattr(engine, "aclose", None)  # optional: closes what stream opened in this loop
            if aclose is not None:
                await aclose()

        try:
            asyncio.run(one_round(records))
        except EngineContractError:
            raise
        except Exception as exc:
            raise _fail(engine, "stream()", f"raised {type(exc).__name__}: {exc} (a failed request belongs on "
                        "its record, record.fail(reason); an engine-wide failure may raise)") from exc
        _complete(engine, records)
        for request, record in zip(requests, records):
            check_record(engine, record, request, "stream()")
    return records


def _complete(engine: ContractEngine, records: Sequence[Record]) -> None:
    complete = getattr(engine, "complete_records", None)
    if complete is None:
        return
    changed = complete(records)
    if not isinstance(changed, bool):
        raise _fail(engine, "complete_records()", f"must return a bool, got {changed!r}")


def check_teardown(engine: ContractEngine) -> None:
    """``teardown`` twice: the second call (the session's end after a failed case) must not raise."""
    engine.teardown()
    try:
        engine.teardown()
    except Exception as exc:
        raise _fail(engine, "teardown()", f"must be safe to call twice; the second call raised "
                    f"{type(exc).__name__}: {exc}") from exc


def check_engine(make_engine: Callable[[], object], requests: Sequence[Request] | None = None, *,
                 stream: bool = True) -> None:
    """Every check on an engine built by ``make_engine`` (prepared, run, streamed, torn
    down); raises :class:`EngineContractError` naming the first rule it breaks."""
    requests = list(requests) if requests is not None else contract_requests()
    engine = check_class(make_engine())
    engine.prepare()
    try:
        check_info(engine)
        check_run(engine, requests)
        if stream:
            check_stream(engine, requests)
    finally:
        check_teardown(engine)


class EngineContract:
    """The contract as a pytest class: subclass it as ``Test<YourEngine>`` and define
    :meth:`make_engine`; set ``streams = False`` for an engine that cannot stream
    (offline only) and ``requests`` for requests your engine needs."""

    streams: bool = True
    requests: Sequence[Request] | None = None

    def make_engine(self) -> object:
        raise NotImplementedError("define make_engine(self) returning your engine (not yet prepared)")

    def contract_requests(self) -> list[Request]:
        return list(self.requests) if self.requests is not None else contract_requests()

    @pytest.fixture(scope="class")
    @classmethod
    def contract_engine(cls) -> Iterator[ContractEngine]:
        """One engine for the class: built, checked, prepared, and torn down at the class's end."""
        engine = check_class(cls().make_engine())
        engine.prepare()
        try:
            yield engine
        finally:
            engine.teardown()

    def test_class(self) -> None:
        check_class(self.make_engine())

    def test_info(self, contract_engine: ContractEngine) -> None:
        check_info(contract_engine)

    def test_run(self, contract_engine: ContractEngine) -> None:
        check_run(contract_engine, self.contract_requests())

    def test_stream(self, contract_engine: ContractEngine) -> None:
        if not self.streams:
            pytest.skip("an offline-only engine")
        check_stream(contract_engine, self.contract_requests())

    def test_teardown_twice(self) -> None:
        engine = check_class(self.make_engine())
        engine.prepare()
        check_teardown(engine)
