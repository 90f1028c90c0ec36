"""The metric catalogue: one declaration per metric, which every consumer asks.

A declaration says what a metric is (name, unit, which direction is better, a
label and a display format), where it comes from (every case, a scenario, a task
kind, an engine or server), and how the suite treats it: a column of the case
tables (``headline``: console, Markdown, HTML), followed over runs in the results
history (``trend``), a column of sweep tables and of the QPS curve (``sweep``,
``curve``), and gated against baselines by default with a tolerance
(``tolerance``). The computation stays where the numbers are made (a
``metrics/`` module, a scenario's or task's ``metrics``); adding a metric is its
computation plus one :func:`declare` here or in the module that computes it.

Latency distributions are declared as families: ``ttft`` declares ``ttft_mean``,
``ttft_p50``, ``ttft_p90``, ``ttft_p99`` (and ``_max`` where the family has one).

A task's quality metrics (ROUGE, perplexity) are declared by its task file
(``metrics.quality``: ``name``, ``unit``, ``lower_is_better``, and a ``label``
that makes it a column of the case tables), and reach the reports in the result
itself, so a report of an old run still shows them.

    >>> from openaiperf.metrics.catalogue import catalogue, declare
    >>> from openaiperf.metrics import Better
    >>> spec = declare("queue_wait_p50", "ms", Better.LOWER, "queue wait p50 (ms)",
    ...                "time a request waited in the server's queue, median", source="openai engine")
    >>> catalogue.get("queue_wait_p50").label
    'queue wait p50 (ms)'
    >>> catalogue.get("ttft_p90").unit, catalogue.get("ttft_p90").better.value
    ('ms', 'lower')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from openaiperf.metrics import Better
from openaiperf.metrics.stats import PERCENTILES


@dataclass(frozen=True)
class MetricDeclaration:
    """What one metric is and how the suite shows and judges it."""

    name: str
    unit: str
    better: Better
    #: the column header or axis label (with its unit where the unit is not obvious)
    label: str
    description: str
    #: how a value is written in tables (``{:.1f}``); a fraction with ``percent`` is shown x100
    format: str = "{:.4g}"
    percent: bool = False
    #: which part of the suite produces it: "every case", "scenario server", "task kind perplexity", ...
    source: str = "every case"
    #: the default relative tolerance of the baseline gate; None: not gated unless asked
    tolerance: float | None = None
    headline: bool = False
    #: a headline column only in the tables where some case has a value (a workload's own metrics)
    where_measured: bool = False
    trend: bool = False
    sweep: bool = False
    curve: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "better", Better.parse(self.better, source=f"metric {self.name!r} better"))
        if self.tolerance is not None and not 0 < self.tolerance < 10:
            raise ValueError(f"metric {self.name!r}: tolerance {self.tolerance} is not in (0, 10)")
        if self.tolerance is not None and not self.better.gated:
            raise ValueError(f"metric {self.name!r}: a tolerance needs a better direction")

    def text(self, value: float | None) -> str:
        """``value`` as a table cell ("-" when there is none)."""
        if value is None:
            return "-"
        return self.format.format(100 * value if self.percent else value)


@dataclass
class MetricCatalogue:
    """The declarations, in the order they were made (the order of table columns)."""

    declarations: dict[str, MetricDeclaration] = field(default_factory=dict)

    def add(self, declaration: MetricDeclaration, *, replace: bool = False) -> MetricDeclaration:
        known = self.declarations.get(declaration.name)
        if known is not None and known != declaration and not replace:
            raise ValueError(f"metric {declaration.name!r} is declared twice, differently "
                             f"({known.source} and {declaration.source})")
        self.declarations[declaration.name] = declaration
        return declaration

    def get(self, name: str) -> MetricDeclaration | None:
        return self.declarations.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.declarations

    def __iter__(self) -> Iterator[MetricDeclaration]:
        return iter(self.declarations.values())

    def names(self, flag: str) -> tuple[str, ...]:
        """The metrics whose ``flag`` (headline, trend, sweep, curve) is set, in declaration order."""
        return tuple(d.name for d in self if getattr(d, flag))

    def headline(self) -> list[MetricDeclaration]:
        return [d for d in self if d.headline]

    def tolerances(self) -> dict[str, float]:
        """The baseline gate's default tolerances."""
        return {d.name: d.tolerance for d in self if d.tolerance is not None}

    def undeclared(self, names: Mapping[str, object] | list[str]) -> list[str]:
        """The names of ``names`` no declaration covers (a test holds every computed metric to one)."""
        return [name for name in names if name not in self]


#: the catalogue every report, gate, trend and sweep reads
catalogue = MetricCatalogue()


def declare(name: str, unit: str, better: Better | str, label: str, description: str, **settings: object
            ) -> MetricDeclaration:
    """Declare one metric (keyword settings: the fields of :class:`MetricDeclaration`)."""
    return catalogue.add(MetricDeclaration(name, unit, Better.parse(better), label, description,
                                           **settings))  # type: ignore[arg-type]


def declare_distribution(family: str, label: str, description: str, *, source: str = "every case",
                         with_max: bool = False, headline: tuple[str, ...] = (), trend: tuple[str, ...] = (),
                         sweep: tuple[str, ...] = (), curve: tuple[str, ...] = (),
                         tolerance: float | None = None, gated: tuple[str, ...] = (),
                         where_measured: bool = False) -> None:
    """A latency distribution in ms: ``<family>_mean``, ``_p50``/``_p90``/``_p99`` (and ``_max``).
    The statistic names in ``headline``, ``trend``, ... (``"p50"``) set those flags;
    ``tolerance`` applies to the statistics in ``gated``."""
    stats = ["mean", *(f"p{q}" for q in PERCENTILES), *(["max"] if with_max else [])]
    for stat in stats:
        shown = "mean" if stat == "mean" else stat
        declare(f"{family}_{stat}", "ms", Better.LOWER, f"{label} {shown} (ms)", f"{description}: {shown}",
                format="{:.1f}", source=source, headline=stat in headline, trend=stat in trend,
                sweep=stat in sweep, curve=stat in curve, where_measured=where_measured,
                tolerance=tolerance if stat in gated else None)


# -- latency (metrics.latency) ------------------------------------------------------------
# TTFT gets 10% by default: one event per request, whose jitter on a shared machine is
# milliseconds whatever the TTFT; per-token metrics average it over the tokens (5%).
declare_distribution("ttft", "TTFT", "time to first token, from the scheduled send to the first content token",
                     headline=("p50", "p90"), trend=("p50",), sweep=("p90",), curve=("p50", "p90"),
                     tolerance=0.10, gated=("p50", "p90"))
declare_distribution("tpot", "TPOT", "time per output token after the first: (E2E - TTFT) / (output tokens - 1)",
                     headline=("p50",), trend=("p50",), sweep=("p50",), curve=("p90",),
                     tolerance=0.05, gated=("p50", "p90"))
declare_distribution("itl", "ITL", "inter-token latency, every gap between consecutive tokens", with_max=True)
declare_distribution("chunk_itl", "chunk ITL", "gap between consecutive streamed chunks as they arrived",
                     with_max=True)
declare_distribution("e2e", "E2E", "end-to-end latency, from the scheduled send to the last token",
                     headline=("p90",), trend=("p90",), sweep=("p90",), curve=("p50", "p90"),
                     tolerance=0.05, gated=("p50", "p90"))
for _q in (50, 99):
    declare(f"send_lag_p{_q}", "ms", Better.LOWER, f"send lag p{_q} (ms)",
            f"how late the client sent requests after their scheduled time, p{_q}", format="{:.2f}")

# -- reasoning models (metrics.reasoning): only where some request reasoned ------------------
declare_distribution("ttfo", "TTFO", "time to first output token: from the scheduled send to the first answer "
                     "token after the reasoning", source="reasoning models")
declare("reasoning_tokens", "tokens", Better.NONE, "reasoning tokens",
        "reasoning tokens of the measured requests (part of output tokens)", format="{:.0f}", source="reasoning models")
declare("answer_tokens", "tokens", Better.NONE, "answer tokens",
        "answer tokens of the measured requests: output tokens - reasoning tokens", format="{:.0f}",
        source="reasoning models")
declare("reasoning_tokens_per_request", "tokens", Better.NONE, "reasoning tok/req",
        "mean reasoning tokens per answered request", source="reasoning models")
declare("answer_tokens_per_request", "tokens", Better.NONE, "answer tok/req",
        "mean answer tokens per answered request", source="reasoning models")
declare("reasoning_tokens_per_s", "tokens/s", Better.HIGHER, "reasoning tok/s",
        "reasoning tokens per second of the measured window", format="{:.1f}", source="reasoning models")
declare("answer_tokens_per_s", "tokens/s", Better.HIGHER, "answer tok/s",
        "answer tokens per second of the measured window", format="{:.1f}", source="reasoning models")

# -- throughput (metrics.throughput) ------------------------------------------------------
declare("duration", "s", Better.NONE, "duration (s)", "measured window: first scheduled send to last completion")
declare("requests", "requests", Better.NONE, "requests", "measured requests", format="{:.0f}")
declare("errors", "requests", Better.LOWER, "errors", "measured requests that failed", format="{:.0f}")
declare("error_rate", "fraction", Better.LOWER, "error rate (%)", "failed fraction of the measured requests",
        percent=True, format="{:.2f}")
declare("cancelled", "requests", Better.NONE, "cancelled", "measured requests the client cancelled "
        "(--cancel-fraction): neither answered nor failed", format="{:.0f}", source="cancellations")
declare("cancel_rate", "fraction", Better.NONE, "cancelled (%)", "cancelled fraction of the measured requests",
        percent=True, format="{:.2f}", source="cancellations")
# requests/s is not gated by default: with fixed output lengths it repeats output tokens/s,
# and under an arrival schedule it follows the schedule.
declare("requests_per_s", "requests/s", Better.HIGHER, "req/s", "completed requests per second",
        format="{:.2f}", headline=True, trend=True, sweep=True, curve=True)
declare("output_tokens_per_s", "tokens/s", Better.HIGHER, "out tok/s", "generated tokens per second",
        format="{:.1f}", headline=True, trend=True, sweep=True, curve=True, tolerance=0.05)
declare("total_tokens_per_s", "tokens/s", Better.HIGHER, "total tok/s", "prompt and generated tokens per second",
        format="{:.1f}")
declare("input_tokens", "tokens", Better.NONE, "input tokens", "prompt tokens of the measured requests",
        format="{:.0f}")
declare("output_tokens", "tokens", Better.NONE, "output tokens", "generated tokens of the measured requests",
        format="{:.0f}")
declare("output_tokens_per_request", "tokens", Better.NONE, "out tok/req", "mean generated tokens per request",
        format="{:.1f}")
declare("output_tokens_per_s_per_user", "tokens/s", Better.HIGHER, "tok/s/user",
        "generated tokens per second as one user sees it (per request, after its first token)", format="{:.1f}")

# -- tokens (metrics.tokens) --------------------------------------------------------------
declare("client_output_tokens", "tokens", Better.NONE, "client output tokens",
        "generated tokens counted by the client tokenizer", format="{:.0f}", source="openai engine")
declare("token_count_mismatch", "fraction", Better.NONE, "token count mismatch (%)",
        "relative difference between the server's and the client tokenizer's output token counts",
        percent=True, format="{:.2f}", source="openai engine")

# -- efficiency (metrics.efficiency) ------------------------------------------------------
declare("mfu", "fraction", Better.HIGHER, "MFU (%)", "model FLOP/s achieved over the hardware profile's peak",
        percent=True, format="{:.3f}", headline=True, trend=True, sweep=True)
declare("mbu", "fraction", Better.HIGHER, "MBU (%)",
        "memory bandwidth of decoding (weights and KV cache per step) over the profile's peak",
        percent=True, format="{:.3f}", sweep=True)
declare("decode_bandwidth", "GB/s", Better.HIGHER, "decode GB/s",
        "bytes read per decoding step (weights and KV cache) per second")
declare("achieved_tflops", "TFLOP/s", Better.HIGHER, "TFLOP/s",
        "every measured request's FLOPs (from the architecture) over the rounds' time")
declare("model_flops", "FLOP", Better.NONE, "FLOPs", "every measured request's FLOPs (prefill and decode steps)",
        format="{:.3g}")
declare("prefill_mfu", "fraction", Better.HIGHER, "prefill MFU (%)",
        "the prompts' prefill FLOP/s (to the first token, from the send) over the profile's peak",
        percent=True, format="{:.3f}")
declare("prefill_tflops", "TFLOP/s", Better.HIGHER, "prefill TFLOP/s", "the prompts' prefill FLOP/s achieved")
declare("prefill_intensity", "FLOP/byte", Better.NONE, "prefill FLOP/byte",
        "prefill FLOPs per byte of weights read and KV cache written (the roofline's x)")
declare("decode_mfu", "fraction", Better.HIGHER, "decode MFU (%)",
        "one decode step of the mean batch at the mean context, FLOP/s over the profile's peak",
        percent=True, format="{:.3f}")
declare("decode_tflops", "TFLOP/s", Better.HIGHER, "decode TFLOP/s", "decode FLOP/s achieved")
declare("decode_intensity", "FLOP/byte", Better.NONE, "decode FLOP/byte",
        "decode FLOPs per byte of weights and KV cache read per step (the roofline's x)")
declare("mfu_calibrated", "fraction", Better.HIGHER, "MFU vs calibration (%)",
        "achieved FLOP/s over the run's calibration GEMM", percent=True, format="{:.3f}", source="calibration")
declare("prefill_mfu_calibrated", "fraction", Better.HIGHER, "prefill MFU vs calibration (%)",
        "prefill FLOP/s over the run's calibration GEMM", percent=True, format="{:.3f}", source="calibration")
declare("decode_mfu_calibrated", "fraction", Better.HIGHER, "decode MFU vs calibration (%)",
        "decode FLOP/s over the run's calibration GEMM", percent=True, format="{:.3f}", source="calibration")
declare("mbu_calibrated", "fraction", Better.HIGHER, "MBU vs calibration (%)",
        "decode bandwidth over the run's calibration memory copy", percent=True, format="{:.3f}",
        source="calibration")
declare("energy", "J", Better.LOWER, "energy (J)", "energy over the measured windows", source="monitor")
declare("energy_per_output_token", "J/token", Better.LOWER, "J/token", "energy per generated token",
        source="monitor", sweep=True)
declare("output_tokens_per_s_per_w", "tokens/s/W", Better.HIGHER, "tok/s/W", "generated tokens per joule",
        source="monitor")
declare("mean_power", "W", Better.LOWER, "power (W)", "mean power over the measured windows", source="monitor")
declare("peak_memory", "MiB", Better.LOWER, "peak memory (MiB)", "peak resident memory of the process",
        format="{:.0f}", source="monitor", sweep=True)

# -- scenarios ------------------------------------------------------------------------------
declare("goodput", "requests/s", Better.HIGHER, "goodput (req/s)", "requests meeting every SLO per second",
        format="{:.2f}", source="scenario server, interactive")
declare("slo_attainment", "fraction", Better.HIGHER, "SLO attainment (%)",
        "fraction of requests meeting every SLO", percent=True, format="{:.1f}",
        source="scenario server, interactive")
declare("sla_qps", "requests/s", Better.HIGHER, "SLA QPS",
        "highest rate at which --sla-attainment of the requests meet the TTFT and TPOT SLOs (find-sla, "
        "interpolated)", source="scenario server")
declare("sla_qps_uncertainty", "requests/s", Better.NONE, "SLA QPS +-",
        "standard error of sla_qps from the bracketing trials' attainments (at most the bracket)",
        source="scenario server")
declare("saturation_qps", "requests/s", Better.HIGHER, "saturation QPS",
        "requests/s an over-saturated server served from the onset of saturation (--rate-ramp, "
        "--stop-on-saturation): its decode tokens/s over an answer's decode tokens, its sustainable rate",
        source="scenario server")
declare_distribution("probe_ttft", "probe TTFT", "TTFT of the single-token probe requests sent beside the load "
                     "(--probe-rate), measured apart", source="scenario server")
declare_distribution("probe_latency", "probe latency", "latency of the probe requests of a pooling task (one "
                     "input of one token; rerank: a one-token query and document) sent beside the load "
                     "(--probe-rate), measured apart", source="scenario server")
for _name, _label in (("ttft", "TTFT"), ("tpot", "TPOT"), ("e2e", "E2E")):
    for _q in (90, 99):
        declare(f"{_name}_p{_q}_es", "ms", Better.LOWER, f"{_label} p{_q} early-stop (ms)",
                f"MLPerf LoadGen's early-stopping estimate of the {_label} p{_q} claim at 99% confidence",
                source="scenario server")
declare("peak_qps", "requests/s", Better.HIGHER, "peak QPS", "highest rate that stayed VALID (find-peak)",
        format="{:.2f}", source="scenario server (--find-peak)")
declare("achieved_qps", "requests/s", Better.HIGHER, "achieved QPS",
        "arrival rate actually offered to the engine, from the actual send times", format="{:.2f}",
        source="scenario server, interactive")

# -- multi-turn sessions (metrics.sessions) -------------------------------------------------
declare("sessions", "sessions", Better.NONE, "sessions", "measured sessions", format="{:.0f}",
        source="task kind multiturn")
declare("turns_per_session", "turns", Better.NONE, "turns/session", "mean turns per session",
        source="task kind multiturn")
declare("session_duration_mean", "s", Better.LOWER, "session mean (s)", "mean session duration",
        source="task kind multiturn")
declare("session_duration_p90", "s", Better.LOWER, "session p90 (s)", "session duration, p90",
        source="task kind multiturn")
declare("ttft_first_turn_mean", "ms", Better.LOWER, "TTFT first turn (ms)", "mean TTFT of first turns",
        format="{:.1f}", source="task kind multiturn")
declare("ttft_later_turns_mean", "ms", Better.LOWER, "TTFT later turns (ms)",
        "mean TTFT of later turns (their prefix is the conversation so far)", format="{:.1f}",
        source="task kind multiturn")
declare("session_cache_hit_rate", "fraction", Better.NONE, "session cache hits (%)",
        "prompt tokens served by the prefix cache over prompt tokens, all sessions' turns together "
        "(each response's usage.prompt_tokens_details.cached_tokens)", percent=True, format="{:.1f}",
        source="task kind multiturn (a server reporting cached tokens)")
for _stat, _what in (("mean", "mean"), ("p50", "median"), ("p10", "10th percentile (the sessions that reused least)")):
    declare(f"session_cache_hit_rate_{_stat}", "fraction", Better.NONE, f"session cache hits {_stat} (%)",
            f"{_what} of the per-session prefix-cache hit rates (a session's cached over prompt tokens)",
            percent=True, format="{:.1f}", source="task kind multiturn (a server reporting cached tokens)")

# -- the server's own metrics (metrics.server, from its Prometheus endpoint) ---------------
for _name, _what in (("queue_time", "time in the server's queue"), ("prefill_time", "the server's prefill time"),
                     ("decode_time", "the server's decode time"), ("ttft", "the server's own TTFT"),
                     ("e2e", "the server's own end-to-end time")):
    declare(f"server_{_name}_mean", "ms", Better.LOWER, f"server {_name.replace('_', ' ')} (ms)",
            f"mean per request of {_what}", format="{:.1f}", source="server metrics")
declare("server_requests", "requests", Better.NONE, "server requests", "requests the server finished in the rounds",
        format="{:.0f}", source="server metrics")
declare("prefix_cache_hit_rate", "fraction", Better.NONE, "prefix cache hits (%)",
        "the server's prefix-cache hits over its queries in the rounds", percent=True, format="{:.1f}",
        source="server metrics")
declare("prefix_cache_hit_tokens", "tokens", Better.NONE, "prefix cache hit tokens",
        "prompt tokens the server's prefix cache served", format="{:.0f}", source="server metrics")
declare("spec_acceptance_rate", "fraction", Better.HIGHER, "spec accept (%)",
        "speculative decoding: accepted / proposed draft tokens (the server's counters)", percent=True,
        format="{:.1f}", source="openai engine (vLLM /metrics)")
declare("spec_mean_accepted_length", "tokens", Better.HIGHER, "spec accepted len",
        "speculative decoding: tokens per verification step, 1 + accepted / drafts (the server's counters)",
        format="{:.2f}", source="openai engine (vLLM /metrics)")
declare("tokens_per_chunk_mean", "tokens", Better.NONE, "tok/chunk",
        "mean tokens per streamed chunk after the first, where the counts are exact and some chunk carried "
        "several (speculative decoding's accepted length as the client sees it)", format="{:.2f}")
declare("preemptions", "preemptions", Better.LOWER, "preemptions", "requests the server preempted",
        format="{:.0f}", source="server metrics")
for _key in ("running", "waiting"):
    declare(f"server_{_key}_peak", "requests", Better.NONE, f"server {_key} peak",
            f"most requests {_key} in the server at once", format="{:.0f}", source="server metrics")
declare("client_minus_server_ttft", "ms", Better.LOWER, "client - server TTFT (ms)",
        "the client's mean TTFT minus the server's: network and client overhead", format="{:.1f}",
        source="server metrics")

# -- task kinds and checks ------------------------------------------------------------------
declare("ideal_prefix_cache_hit_rate", "fraction", Better.NONE, "ideal prefix hits (%)",
        "what an ideal prefix cache would serve of the prompts sent", percent=True, format="{:.1f}",
        source="task kind shared_prefix")
declare("prefix_cache_block_size", "tokens", Better.NONE, "KV block (tokens)", "the server's KV-cache block size",
        format="{:.0f}", source="task kind shared_prefix")
declare("scored_tokens_per_s", "tokens/s", Better.HIGHER, "scored tok/s", "tokens scored per second",
        format="{:.1f}", source="task kind perplexity")
declare("batch_invariance", "fraction", Better.HIGHER, "batch invariance (%)",
        "greedy answers under load identical to the same request alone", percent=True, format="{:.1f}",
        source="--batch-invariance")

# -- pooling: embeddings and reranking (metrics.pooling), only in their cases -------------------
declare("inputs_per_s", "inputs/s", Better.HIGHER, "inputs/s",
        "pooled inputs per second of the measured window: texts embedded, or documents ranked",
        format="{:.1f}", source="task kinds embeddings, rerank", headline=True, where_measured=True, trend=True,
        sweep=True, curve=True, tolerance=0.05)
declare("input_tokens_per_s", "tokens/s", Better.HIGHER, "in tok/s",
        "input tokens the server pooled per second (its usage counts)", format="{:.1f}",
        source="task kinds embeddings, rerank", headline=True, where_measured=True, tolerance=0.05)
declare("inputs_per_request", "inputs", Better.NONE, "inputs/req",
        "mean inputs (or documents) per pooling request: the batch a request carries", format="{:.1f}",
        source="task kinds embeddings, rerank")
# the same times as e2e_* (from the scheduled send to the whole answer), which gates them
declare_distribution("request_latency", "req latency", "pooling request latency, from the scheduled send to the "
                     "whole answer", source="task kinds embeddings, rerank", headline=("p50", "p90", "p99"),
                     where_measured=True)
declare("embedding_dimension", "values", Better.NONE, "embedding dim", "length of the embeddings returned",
        format="{:.0f}", source="task kind embeddings")
