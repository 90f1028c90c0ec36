"""Fuzz targets: every parser of outside input, each a property over generated inputs.

A target is a Hypothesis strategy and a check. The check feeds one input to the
parser and holds it to the property: the parser either gives a correct result
(where the input was built valid, the result is compared with what was built)
or refuses it with one of the project's own errors (an :class:`OpenAIPerfError`,
a failed record with a clear message); no other exception escapes and nothing
hangs (the network target runs under a time limit). Inputs are valid documents
mutated (a node replaced, deleted or added; bytes inserted, deleted or cut),
random structures, and arbitrary bytes.

``tests/fuzz/test_fuzz.py`` runs every target under the registered Hypothesis
profile (``ci`` by default: bounded, derandomized); ``benchmarks/scripts/fuzz.py``
runs them for minutes and prints how many inputs each one tried (:data:`TRIED`).
The SSE stream is served for real by the scripted server on loopback, through
the ``openai`` engine, and fed directly to the engine's stream reader for volume.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from openaiperf.engines.openai import RequestFailed, StreamReader
from openaiperf.engines.sse import MalformedSSE, chunk_parts, completion_tokens, parse_sse_line
from openaiperf.errors import OpenAIPerfError
from openaiperf.records import Record, Request

REPO = Path(__file__).resolve().parents[2]

#: inputs tried so far, per target (the script prints them; the tests report them)
TRIED: Counter[str] = Counter()

#: a request served by the scripted server may take this long before it counts as a hang
HANG_S = 20.0

#: how a failed record's error may begin: the engine's own messages, never a bare Python exception name
CLEAR_ERRORS = ("malformed SSE", "server error in stream", "stream cut", "timeout", "HTTP ")


# -- generated values ------------------------------------------------------------------
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats()
           | st.text(max_size=12) | st.sampled_from(["", "0", "-1", "null", "../x", "/abs", "[DONE]"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=10)


def paths(tree: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every node's path in a JSON-like tree (the root's is ``()``)."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from paths(value, (*prefix, index))


def node(tree: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        tree = tree[part]
    return tree


@st.composite
def mutated(draw: st.DrawFn, documents: list[Any]) -> tuple[Any, bool]:
    """(one of ``documents`` with 0 to 3 mutations, whether it is left as it was)."""
    document = copy.deepcopy(draw(st.sampled_from(documents)))
    changes = draw(st.integers(0, 3))
    for _ in range(changes):
        where = draw(st.sampled_from(list(paths(document))))
        operation = draw(st.sampled_from(["replace", "delete", "add"]))
        if not where:
            document = draw(VALUES) if operation == "replace" else document
            continue
        parent = node(document, where[:-1])
        if operation == "replace":
            parent[where[-1]] = draw(VALUES)
        elif operation == "delete":
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(VALUES)
        else:
            parent.insert(draw(st.integers(0, len(parent))), draw(VALUES))
    return document, changes == 0


@st.composite
def mangled(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes inserted, deleted or replaced, or cut short."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["insert", "delete", "replace", "cut"]))
        if operation == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif operation == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 8)):]
        elif operation == "replace" and at < len(data):
            data = data[:at] + draw(st.binary(min_size=1, max_size=1)) + data[at + 1:]
        elif operation == "cut":
            data = data[:at]
    return data


def document_files(documents: list[Any], dump: Callable[[Any], bytes]) -> st.SearchStrategy[tuple[bytes, Any]]:
    """(file bytes, the document they hold, or None when they are not one of ``documents`` as it was):
    mutated documents, mangled bytes of valid ones, and arbitrary bytes."""
    def as_file(pair: tuple[Any, bool]) -> tuple[bytes, Any]:
        document, intact = pair
        return dump(document), document if intact else None

    return st.one_of(
        mutated(documents).map(as_file),
        st.sampled_from(documents).flatmap(lambda d: mangled(dump(d))).map(lambda b: (b, None)),
        st.binary(max_size=200).map(lambda b: (b, None)),
    )


def dump_json(document: Any) -> bytes:
    return json.dumps(document, indent=1).encode()


def dump_yaml(document: Any) -> bytes:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode()


# -- shared resources ------------------------------------------------------------------
@dataclass
class FuzzEnv:
    """A scratch folder, and on first use a scripted server with an ``openai`` engine on it
    and a SQLite results history; :meth:`close` stops what was started."""

    root: Path
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _engine: Any = None
    _base: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.teardown()
            self._engine = None
        self.stack.close()

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from openaiperf.engines import EngineContext
            from openaiperf.engines.openai import OpenAIEngine
            from openaiperf.testing.scripted_server import start_scripted_server

            server = self.stack.enter_context(start_scripted_server())
            context = EngineContext(model=None, weights="(none)",
                                    hardware=SimpleNamespace(device="cpu"), dtype="float32",
                                    options={"endpoint": server.url, "served_model": "stub", "client_tokenizer": False,
                                             "server_metrics": False, "request_timeout_s": HANG_S / 2,
                                             "continuous_usage": False})
            engine = OpenAIEngine(context)
            engine.prepare()
            self._engine = engine
        return self._engine

    def base(self, name: str, build: Callable[[], Any]) -> Any:
        """A valid base document, built once."""
        if name not in self._base:
            self._base[name] = build()
        return self._base[name]

    @property
    def history_url(self) -> str:
        return f"sqlite:///{self.folder('history') / 'history.sqlite'}"


# -- SSE: one line -----------------------------------------------------------------------
TEXTS = st.text(max_size=8) | VALUES
CHOICES = st.fixed_dictionaries({}, optional={
    "index": VALUES, "finish_reason": VALUES, "text": TEXTS,
    "token_ids": st.lists(st.integers(0, 9), max_size=3) | VALUES,
    "delta": st.fixed_dictionaries({}, optional={"role": TEXTS, "content": TEXTS, "reasoning_content": TEXTS,
                                                 "reasoning": TEXTS}) | VALUES})
USAGE = st.fixed_dictionaries({}, optional={"prompt_tokens": st.integers(-3, 50) | VALUES,
                                            "completion_tokens": st.integers(-3, 50) | VALUES}) | VALUES
CHUNKS = st.fixed_dictionaries({}, optional={"choices": st.lists(CHOICES | VALUES, max_size=2) | VALUES,
                                             "usage": USAGE, "error": VALUES, "id": VALUES})
SSE_LINES = st.one_of(
    st.binary(max_size=120),
    st.text(max_size=120).map(str.encode),
    CHUNKS.map(lambda c: b"data: " + json.dumps(c).encode()),
    st.sampled_from([b"data: [DONE]", b"data:[DONE]", b": ping", b"event: x", b"id: 3", b"retry: 10", b"data:",
                     b"data: ", b"data: null", b"data: 1e999", b"data: {}", b"data: \xff", b"\xef\xbb\xbfdata: {}"]),
)


def check_sse_line(env: FuzzEnv, line: bytes) -> None:
    """A line is an event, nothing, or MalformedSSE; an event's parts are text and a count."""
    TRIED["sse.line"] += 1
    try:
        event = parse_sse_line(line)
        if event is None or event.done:
            return
        assert isinstance(event.data, dict)
        thought, text = chunk_parts(event.data)
        count = completion_tokens(event.data)
    except MalformedSSE:
        return
    assert isinstance(thought, str) and isinstance(text, str)
    assert count is None or (type(count) is int and count >= 0)


# -- SSE: one stream ---------------------------------------------------------------------
@dataclass
class Stream:
    """A response body in the pieces it is written in, and what a correct reader makes of it
    (``answer`` None: the body is not a valid stream as built, only the property holds)."""

    pieces: list[bytes]
    answer: str | None = None
    reasoning: str = ""
    chunks: int = 0
    output_tokens: int | None = None
    input_tokens: int | None = None
    continuous: bool = False
    cut: bool = False
    gap_ms: float = 0.0

    @property
    def body(self) -> bytes:
        return b"".join(self.pieces)


@st.composite
def valid_stream(draw: st.DrawFn) -> Stream:
    """A stream as a server may send it: chat or completions, a role-only chunk, reasoning,
    empty chunks, comments and other fields, CRLF or LF, usage at the end, text that escapes or not."""
    chat = draw(st.booleans())
    parts = draw(st.lists(st.tuples(st.sampled_from(["answer", "reasoning"]) if chat else st.just("answer"),
                                    st.text(max_size=10)), max_size=8))
    ascii_only = draw(st.booleans())
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    events: list[dict[str, Any]] = []
    if chat and draw(st.booleans()):
        events.append({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    for kind, text in parts:
        if not chat:
            events.append({"choices": [{"index": 0, "text": text}]})
        else:
            events.append({"choices": [{"index": 0, "delta": {"reasoning_content" if kind == "reasoning" else
                                                              "content": text}}]})
    counted = sum(1 for _, text in parts if text)
    usage = None
    if draw(st.booleans()):
        usage = {"prompt_tokens": draw(st.integers(0, 99)), "completion_tokens": counted + draw(st.integers(0, 3))}
        events.append({"choices": [], "usage": usage})
    lines = [b"data: " + json.dumps(e, ensure_ascii=ascii_only).encode() for e in events] + [b"data: [DONE]"]
    for _ in range(draw(st.integers(0, 2))):
        lines.insert(draw(st.integers(0, len(lines) - 1)),
                     draw(st.sampled_from([b": keep-alive", b"event: message", b"id: 7", b"retry: 100"])))
    body = b"".join(line + eol + eol for line in lines)
    return Stream(split(draw, body), answer="".join(t for k, t in parts if k == "answer"),
                  reasoning="".join(t for k, t in parts if k == "reasoning"), chunks=counted,
                  output_tokens=usage["completion_tokens"] if usage else None,
                  input_tokens=usage["prompt_tokens"] if usage else None)


def split(draw: st.DrawFn, body: bytes) -> list[bytes]:
    """``body`` split at arbitrary points (a multi-byte character or a CRLF may be split too)."""
    cuts = sorted(set(draw(st.lists(st.integers(0, len(body)), max_size=6))))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)]) if b > a] or [body]


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    """A valid stream, a valid one mangled, random chunks (with continuous usage or not), or bytes."""
    kind = draw(st.sampled_from(["valid", "mangled", "chunks", "bytes"]))
    if kind == "valid":
        stream = draw(valid_stream())
    elif kind == "mangled":
        stream = Stream(split(draw, draw(mangled(draw(valid_stream()).body))))
    elif kind == "chunks":
        lines = draw(st.lists(CHUNKS.map(lambda c: b"data: " + json.dumps(c).encode()) | SSE_LINES, max_size=6))
        if draw(st.booleans()):
            lines.append(b"data: [DONE]")
        stream = Stream(split(draw, b"".join(line + b"\n\n" for line in lines)))
    else:
        stream = Stream(split(draw, draw(st.binary(max_size=300))))
    stream.continuous = stream.answer is None and draw(st.booleans())
    return stream


def check_record(record: Record, stream: Stream, *, served: bool) -> None:
    """A failed record says clearly why; a good one is sane, and exactly right for a valid stream."""
    if record.error is not None:
        assert record.error.startswith(CLEAR_ERRORS), f"unclear error: {record.error!r}"
        assert stream.answer is None or (served and stream.cut and record.error.startswith("stream cut")), (
            f"a valid stream failed: {record.error!r}")
        return
    assert isinstance(record.text, str) and isinstance(record.reasoning, str)
    assert all(type(n) is int and n >= 0 for n in record.chunk_tokens), record.chunk_tokens
    assert record.chunk_times == sorted(record.chunk_times)
    for count in (record.output_tokens, record.input_tokens):
        assert count is None or (type(count) is int and count >= 0), count
    if stream.answer is not None:
        assert record.text == stream.answer
        assert record.reasoning == stream.reasoning
        assert len(record.chunk_times) == stream.chunks
        assert record.output_tokens == stream.output_tokens
        assert record.input_tokens == stream.input_tokens


def check_sse_stream(env: FuzzEnv, stream: Stream) -> None:
    """The engine's stream reader, fed the pieces as reads (no network: volume)."""
    TRIED["sse.stream"] += 1
    record = Record(request_id="fuzz", sample_id="s")
    reader = StreamReader(record, stream.continuous)
    now = 0.0
    try:
        for piece in stream.pieces:
            now += 0.001
            reader.feed_bytes(piece, now)
        reader.feed_end(now)
        reader.finish()
    except (MalformedSSE, RequestFailed) as exc:
        record.fail(f"stream cut: {exc}" if isinstance(exc, RequestFailed) else str(exc))
    check_record(record, stream, served=False)


@st.composite
def served_streams(draw: st.DrawFn) -> Stream:
    stream = draw(streams())
    stream.gap_ms = draw(st.sampled_from([0.0, 0.0, 1.0]))
    stream.cut = draw(st.integers(0, 4)) == 0
    return stream


CHAT = Request(id="fuzz", sample_id="s", max_tokens=16, messages=[{"role": "user", "content": "hi"}])


def check_sse_served(env: FuzzEnv, stream: Stream) -> None:
    """The stream served for real (the scripted server writes the pieces as given, pausing
    between them or not, and ends the body or cuts the connection), through the engine."""
    TRIED["sse.served"] += 1
    engine = env.engine
    script = {"raw_chunks": [base64.b64encode(p).decode() for p in stream.pieces], "raw_gap_ms": stream.gap_ms,
              "raw_cut": stream.cut}
    engine.options = engine.options.model_copy(update={"extra_body": {"script": script}})
    engine.continuous_usage = stream.continuous
    record = Record(request_id="fuzz", sample_id="s")
    loop = engine.event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(engine.stream(CHAT, record), HANG_S))
    except asyncio.TimeoutError:
        raise AssertionError(f"the request did not end within {HANG_S} s") from None
    check_record(record, stream, served=True)


# -- task and matrix YAML ----------------------------------------------------------------
def task_documents() -> list[Any]:
    from openaiperf.tasks import builtin_task_files

    return [yaml.safe_load(path.read_text(encoding="utf-8")) for path in builtin_task_files().values()]


def check_task_yaml(env: FuzzEnv, value: tuple[bytes, Any]) -> None:
    from openaiperf.tasks import TaskSpec, load_task_spec

    TRIED["yaml.task"] += 1
    data, document = value
    path = env.folder("tasks") / "task.yaml"
    path.write_bytes(data)
    try:
        spec = load_task_spec(path)
    except OpenAIPerfError:
        assert document is None, "a built-in task as it is was refused"
        return
    assert isinstance(spec, TaskSpec)
    if document is not None:
        assert spec.name == document["name"] and spec.kind == document["kind"]
        assert spec.parameters == (document.get("parameters") or {})


@st.composite
def matrix_files(draw: st.DrawFn) -> tuple[bytes, Any]:
    """Mutated and mangled matrices (the repository's own among them), and valid ones of random names."""
    if draw(st.booleans()):
        return draw(document_files(env_matrices(), dump_yaml))
    names = st.lists(st.from_regex(r"[a-z][a-z0-9_.]{0,6}", fullmatch=True), min_size=1, max_size=3)
    suites = draw(st.lists(st.fixed_dictionaries({"tasks": names, "scenarios": names, "engines": names,
                                                  "models": names}), min_size=1, max_size=3))
    document = {"suites": suites}
    return dump_yaml(document), document


def env_matrices() -> list[Any]:
    return [yaml.safe_load((REPO / "benchmarks" / "matrix.yaml").read_text(encoding="utf-8"))]


def check_matrix_yaml(env: FuzzEnv, value: tuple[bytes, Any]) -> None:
    from openaiperf.matrix import load_matrix
    from openaiperf.selection import expand

    TRIED["yaml.matrix"] += 1
    data, document = value
    path = env.folder("matrices") / "matrix.yaml"
    path.write_bytes(data)
    try:
        cases = expand(load_matrix(path))
    except OpenAIPerfError:
        assert document is None, "a valid matrix was refused"
        return
    if document is not None:
        expected = {f"{t}-{s}-{e}-{m}" for suite in document["suites"] for t in suite["tasks"]
                    for s in suite["scenarios"] for e in suite["engines"] for m in suite["models"]}
        if not any(suite.get("sweep") for suite in document["suites"]):
            assert {case.id for case in cases} == expected
        assert len({case.id for case in cases}) == len(cases)


# -- results.json, baselines, history import ---------------------------------------------
def results_documents(env: FuzzEnv) -> list[Any]:
    def build() -> list[Any]:
        from fixtures.results import full_run, minimal_run

        folder = env.folder("results-base")
        return [run.model_dump(mode="json") for run in (full_run(folder), minimal_run(folder))]

    documents: list[Any] = env.base("results", build)
    return documents


def check_results_json(env: FuzzEnv, value: tuple[bytes, Any]) -> None:
    from openaiperf.report.results import read_results, write_results
    from openaiperf.result import RunResult

    TRIED["json.results"] += 1
    data, document = value
    path = env.folder("results") / "results.json"
    path.write_bytes(data)
    try:
        run = read_results(path)
    except OpenAIPerfError:
        assert document is None, "a results document as written was refused"
        return
    assert isinstance(run, RunResult)
    run.model_dump_json()  # what was read can be written again
    if document is not None:
        copy_path = path.with_name("again.json")
        write_results(copy_path, run)
        assert read_results(copy_path).model_dump(mode="json") == run.model_dump(mode="json") == document


def baseline_documents(env: FuzzEnv) -> list[Any]:
    def build() -> list[Any]:
        from fixtures.results import full_case, measured_case
        from openaiperf.baselines.compare import baseline_from_case
        from openaiperf.baselines.json_store import baseline_to_json

        folder = env.folder("baseline-base")
        full = full_case(folder)
        cases = [measured_case(folder, "synthetic.random-offline-hf-m", rounds=4), full]
        for case in cases:
            case.rounds = (case.rounds * 4)[:max(4, len(case.rounds))]
        return [json.loads(json.dumps(baseline_to_json(baseline_from_case(case, full.fingerprint)))) for case in cases]

    documents: list[Any] = env.base("baselines", build)
    return documents


def check_baseline_json(env: FuzzEnv, value: tuple[bytes, Any]) -> None:
    from openaiperf.baselines import Baseline
    from openaiperf.baselines.json_store import JsonBaselineStore, read_baseline

    TRIED["json.baseline"] += 1
    data, document = value
    path = env.folder("baselines") / "case.json"
    path.write_bytes(data)
    try:
        baseline = read_baseline(path)
    except OpenAIPerfError:
        assert document is None, "a baseline as saved was refused"
        return
    assert isinstance(baseline, Baseline)
    if document is not None:
        store = JsonBaselineStore(env.folder("baselines-saved"))
        again = read_baseline(store.save(baseline))
        assert again.metrics == baseline.metrics and again.rounds == baseline.rounds
        assert again.fingerprint == baseline.fingerprint and again.case_id == document["case_id"]


META = {"git_commit": "0123abcd", "git_branch": "main", "git_dirty": False, "host": "runner", "ci_ref": "refs/x"}


@st.composite
def run_folders(draw: st.DrawFn, env: FuzzEnv) -> tuple[bytes, Any, bytes]:
    results, document = draw(document_files(results_documents(env), dump_json))
    meta = draw(st.one_of(st.just(dump_json(META)), document_files([META], dump_json).map(lambda pair: pair[0])))
    return results, document, meta


def check_history_import(env: FuzzEnv, value: tuple[bytes, Any, bytes]) -> None:
    """``ob history import RUN_DIR``: the run recorded (exit 0), or a one-line error; never a traceback."""
    from openaiperf.cli import main

    TRIED["history.import"] += 1
    results, document, meta = value
    folder = env.folder("runs") / "run"
    folder.mkdir(exist_ok=True)
    (folder / "results.json").write_bytes(results)
    (folder / "run-meta.json").write_bytes(meta)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["history", "import", "--history", env.history_url, str(folder)])
    if code == 0:
        assert re.search(r"(imported|already in the store:) .* as run \d+", out.getvalue()), out.getvalue()
    else:
        assert document is None, f"a valid run folder was not imported: {err.getvalue()}"
        # a folder that cannot be imported is named with the reason, one line (the others would go on)
        assert err.getvalue().startswith(("ob history: error:", f"not imported: {folder}: ")), err.getvalue()
        assert "Traceback" not in err.getvalue()


# -- the targets ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    name: str
    strategy: Callable[[FuzzEnv], st.SearchStrategy[Any]]
    check: Callable[[FuzzEnv, Any], None]
    #: examples in the CI profile (the cheap targets take more)
    ci_examples: int
    #: inputs that once failed, kept as explicit examples
    examples: tuple[Any, ...] = ()


#: inputs fuzzing found that once raised something else than a clear error
FOUND_LINES = (b"\x80", b'data:{"choices":true}', b'data:{"choices":[null]}', b'data: {"choices":[{"delta":[]}]}',
               b'data: {"choices":[{"text":7}]}')
FOUND_STREAMS = (
    Stream([b'data: {"choices":[{"text":"a"}],"usage":[1]}\n\ndata: [DONE]\n\n']),
    Stream([b'data: {"choices":[{"text":"a"}],"usage":{"completion_tokens":5}}\n\n'
            b'data: {"choices":[{"text":"b"}],"usage":{"completion_tokens":3}}\n\ndata: [DONE]\n\n'], continuous=True),
    Stream([b'data: {"choices":[],"usage":{"prompt_tokens":"8","completion_tokens":true}}\n\ndata: [DONE]\n\n']),
)
FOUND_FILES = ((b"\x80", None), (b"name: \xff", None))

TARGETS = (
    Target("sse.line", lambda env: SSE_LINES, check_sse_line, 1500, FOUND_LINES),
    Target("sse.stream", lambda env: streams(), check_sse_stream, 600, FOUND_STREAMS),
    Target("sse.served", lambda env: served_streams(), check_sse_served, 150, FOUND_STREAMS),
    Target("yaml.task", lambda env: document_files(task_documents(), dump_yaml), check_task_yaml, 150, FOUND_FILES),
    Target("yaml.matrix", lambda env: matrix_files(), check_matrix_yaml, 100, FOUND_FILES),
    Target("json.results", lambda env: document_files(results_documents(env), dump_json), check_results_json, 150),
    Target("json.baseline", lambda env: document_files(baseline_documents(env), dump_json), check_baseline_json, 200),
    Target("history.import", lambda env: run_folders(env), check_history_import, 60),
)


# -- running -------------------------------------------------------------------------------
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
          HealthCheck.large_base_example]
#: bounded and reproducible: the same inputs on every CI run, each target's ``ci_examples`` of them
settings.register_profile("ci", deadline=None, derandomize=True, database=None, suppress_health_check=_QUIET,
                          print_blob=True)
#: new random inputs on every run (``benchmarks/scripts/fuzz.py`` runs batches of them for minutes)
settings.register_profile("long", deadline=None, derandomize=False, database=None, suppress_health_check=_QUIET,
                          print_blob=True)


def run_target(target: Target, env: FuzzEnv, profile: str, max_examples: int) -> int:
    """Run ``target`` for ``max_examples`` generated inputs (and its kept examples) under
    ``profile``; returns how many inputs its check was given."""
    before = TRIED[target.name]

    def holds(value: Any) -> None:
        target.check(env, value)

    test = given(target.strategy(env))(holds)
    for kept in target.examples:
        test = example(kept)(test)
    settings(settings.get_profile(profile), max_examples=max_examples)(test)()
    return TRIED[target.name] - before
