"""A scripted OpenAI-compatible server: ground truth for the harness's timing.

It runs no model. Every response follows a :class:`Script` whose timing and
shape are known exactly: time to the first token, the gap between tokens,
tokens per SSE chunk, a role-only first chunk, usage (a final chunk, none, or on
every chunk as vLLM's ``stream_options.continuous_usage_stats``), reasoning
content (the first ``reasoning_tokens`` tokens, counted in usage's
``completion_tokens_details``; a request's ``max_thinking_tokens`` caps them and
``chat_template_kwargs: {enable_thinking: false}`` drops them), a stall, an
error event mid-stream, an HTTP error (429 with ``Retry-After``, 500...), a cut
connection, a malformed chunk; or any of these faults on every Nth request
(``fault_every``, taking ``fault_cycle`` in turn: the soak script's load), or a
response body given byte for byte (``raw_chunks``, the SSE fuzz tests' arbitrary
streams, written in the pieces given). The conformance
tests and ``benchmarks/scripts/conformance.py`` compare what the suite measures
against :meth:`Script.truth`; the load generator's capacity is measured against
it too, at rates no real server reaches on a small machine. It is a test
instrument, not a model server, and is never used where a real server can run.

The script of a request is the server's default (command-line flags) updated by
the request body's ``script`` object (the ``openai`` engine sends one with the
engine option ``extra_body: {script: {...}}``). Timing follows the script from
the moment the request is read, on an absolute schedule (sleep until each
chunk's time), so sleep overshoot does not add up along a stream.

One module per role:

- :mod:`.script`: the :class:`Script` (what one response does) and the faults;
- :mod:`.schedule`: its token and timing schedule, and the :class:`Truth` a correct client measures;
- :mod:`.stream`: the SSE bytes of a response, planned once per shape;
- :mod:`.request_script`: one request's script (presets, its ``script`` object, thinking, LoRA
  adapters, the simulated prefix cache's shorter TTFT);
- :mod:`.faults`: which request gets a fault, the HTTP and mid-stream faults, the raw mode;
- :mod:`.stats`: what the server saw (``GET /stats``, ``POST /stats/reset``);
- :mod:`.metrics`: ``GET /metrics``, a Prometheus page in vLLM's names consistent with what it
  served, and the simulated prefix cache;
- :mod:`.app`: the HTTP application (completions, chat completions, models, health);
- :mod:`.cli`: the command line; :mod:`.process`: the server in a subprocess for tests and scripts.

``vary_under_load`` makes a batch-variant server: a request that arrives while
another is in flight reads ``alt`` instead of the script's word from that token on.

``/v1/embeddings`` and ``/v1/rerank`` answer pooling requests whole after a scripted latency
(fixed plus per input token), with deterministic vectors and scores (:mod:`.pooling`).

Run: ``python -m openaiperf.testing.scripted_server --port 8123 --ttft-ms 50 --gap-ms 10``,
or :func:`start_scripted_server` (a subprocess, for tests and scripts).
"""

from __future__ import annotations

from openaiperf.testing.scripted_server.app import make_app
from openaiperf.testing.scripted_server.cli import main, script_arguments
from openaiperf.testing.scripted_server.metrics import ServerMetrics
from openaiperf.testing.scripted_server.process import ScriptedServer, start_scripted_server
from openaiperf.testing.scripted_server.schedule import Truth
from openaiperf.testing.scripted_server.script import FAULTS, MODEL, PROMPT_TOKENS, Script, Usage
from openaiperf.testing.scripted_server.stats import Stats
from openaiperf.testing.scripted_server.stream import plan, sse, token_words

__all__ = ["FAULTS", "MODEL", "PROMPT_TOKENS", "Script", "ScriptedServer", "ServerMetrics", "Stats", "Truth", "Usage",
           "main", "make_app", "plan", "script_arguments", "sse", "start_scripted_server", "token_words"]
