"""The server's own account: its Prometheus ``/metrics``, scraped around each round.

Serving engines expose what they did on ``/metrics`` in the Prometheus text
format: requests running and waiting, preemptions, prefix-cache lookups and hits,
and histograms of per-request times (queue, prefill, decode, time to first
token). :class:`ServerMetricsTracker` scrapes it right before and right after each
measured round (after waiting, briefly, until the server has counted every
request the round completed) and turns the counters' and histograms' growth into
per-request means for the round; :class:`PrometheusSampler` scrapes it on an
interval (at most once a second: the server renders the page, and that is load
on the system under test) into the monitor's timeline, for the peaks of running
and waiting requests.

Names differ between servers; :data:`SERVER_METRICS` maps each server's names
onto ours (a server is recognised by the names it exposes):

the table of names is in docs/serving.md ("The server's own metrics"), and
:data:`SERVER_METRICS` is the code of it (vLLM ``vllm:*``, SGLang ``sglang:*``,
TGI ``tgi_*``).

Values of every label set of a name are added up (several engines, finish
reasons, cache sources). A scrape that fails disables the tracker for the case
with one note; it never fails a case.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from openaiperf.monitor.sampler import Sampler
from openaiperf.monitor.util import SamplerUnavailable
from openaiperf.redact import RedactedHeaders, redact_text
from openaiperf.registry import Requirement, requirement
from openaiperf.result import ServerRound

#: the histograms we read, by our name
HISTOGRAMS = ("queue_time", "prefill_time", "decode_time", "ttft", "e2e")
#: the counters and gauges we read, by our name
SCALARS = ("requests_finished", "running", "waiting", "preemptions", "prefix_queries", "prefix_hits",
           "spec_drafts", "spec_draft_tokens", "spec_accepted_tokens", "prompt_tokens")
#: the counters a round's delta reads (speculative decoding's: vLLM's drafts, draft tokens, accepted tokens;
#: the prompt tokens the server processed, which a pooling workload's input tokens are checked against)
COUNTERS = ("requests_finished", "preemptions", "prefix_queries", "prefix_hits", "spec_drafts", "spec_draft_tokens",
            "spec_accepted_tokens", "prompt_tokens")


@dataclass(frozen=True)
class ServerMetricNames:
    """One server's metric names for ours (None: the server has no such metric)."""

    server: str
    prefix: str
    scalars: Mapping[str, str | None]
    histograms: Mapping[str, str | None]
    #: (info metric, label) that carries the KV-cache block size in tokens
    block_size: tuple[str, str] | None = None


SERVER_METRICS: dict[str, ServerMetricNames] = {
    "vllm": ServerMetricNames(
        "vllm", "vllm:",
        scalars={"requests_finished": "vllm:request_success_total", "running": "vllm:num_requests_running",
                 "waiting": "vllm:num_requests_waiting", "preemptions": "vllm:num_preemptions_total",
                 "prefix_queries": "vllm:prefix_cache_queries_total", "prefix_hits": "vllm:prefix_cache_hits_total",
                 "spec_drafts": "vllm:spec_decode_num_drafts_total",
                 "spec_draft_tokens": "vllm:spec_decode_num_draft_tokens_total",
                 "spec_accepted_tokens": "vllm:spec_decode_num_accepted_tokens_total",
                 "prompt_tokens": "vllm:prompt_tokens_total"},
        histograms={"queue_time": "vllm:request_queue_time_seconds",
                    "prefill_time": "vllm:request_prefill_time_seconds",
                    "decode_time": "vllm:request_decode_time_seconds",
                    "ttft": "vllm:time_to_first_token_seconds", "e2e": "vllm:e2e_request_latency_seconds"},
        block_size=("vllm:cache_config_info", "block_size")),
    "sglang": ServerMetricNames(
        "sglang", "sglang:",
        scalars={"requests_finished": "sglang:num_requests_total", "running": "sglang:num_running_reqs",
                 "waiting": "sglang:num_queue_reqs", "preemptions": "sglang:num_retracted_requests_total",
                 "prefix_queries": "sglang:prompt_tokens_total", "prefix_hits": "sglang:cached_tokens_total"},
        histograms={"queue_time": "sglang:queue_time_seconds", "prefill_time": None, "decode_time": None,
                    "ttft": "sglang:time_to_first_token_seconds", "e2e": "sglang:e2e_request_latency_seconds"},
        block_size=("sglang:cache_config_info", "page_size")),
    "tgi": ServerMetricNames(
        "tgi", "tgi_",
        scalars={"requests_finished": "tgi_request_success", "running": "tgi_batch_current_size",
                 "waiting": "tgi_queue_size", "preemptions": None, "prefix_queries": None, "prefix_hits": None},
        histograms={"queue_time": "tgi_request_queue_duration", "prefill_time": None, "decode_time": None,
                    "ttft": None, "e2e": "tgi_request_duration"}),
}


@dataclass
class Snapshot:
    """One scrape in our names: ``values`` (counters and gauges; ``<histogram>_sum`` and
    ``<histogram>_count``), the server it came from, and its block size when it says."""

    t: float
    server: str
    values: dict[str, float] = field(default_factory=dict)
    block_size: int | None = None


def _wanted(names: ServerMetricNames) -> set[str]:
    out = {n for n in names.scalars.values() if n}
    for name in (n for n in names.histograms.values() if n):
        out |= {f"{name}_sum", f"{name}_count"}
    if names.block_size:
        out.add(names.block_size[0])
    return out


def detect_server(text: str) -> ServerMetricNames | None:
    """The server whose metric names the exposition carries (vLLM, SGLang, TGI), or None."""
    page = "\n" + text
    for names in SERVER_METRICS.values():
        if "\n" + names.prefix in page:  # a sample line (comments start with '#')
            return names
    return None


def parse_exposition(text: str, names: ServerMetricNames | None = None, t: float | None = None) -> Snapshot | None:
    """The metrics we read from one page of Prometheus text (None: no known server's names).
    Only the lines of the names we read are parsed (a vLLM page is mostly histogram buckets)."""
    from prometheus_client.parser import text_string_to_metric_families

    names = names or detect_server(text)
    if names is None:
        return None
    wanted = _wanted(names)
    heads = tuple(sorted(wanted))
    lines = [line for line in text.splitlines()
             if line.startswith(heads) or (line.startswith("# TYPE ") and line[7:].startswith(heads))]
    sums: dict[str, float] = {}
    block: int | None = None
    for family in text_string_to_metric_families("\n".join(lines) + "\n"):
        for sample in family.samples:
            name = sample.name
            if name not in wanted and name.endswith("_total") and name[:-6] in wanted:
                name = name[:-6]  # the parser names a counter's samples <name>_total; TGI's counters have no suffix
            if name not in wanted:
                continue
            if names.block_size and name == names.block_size[0]:
                value = sample.labels.get(names.block_size[1])
                if value and value.isdigit():
                    block = int(value)
                continue
            sums[name] = sums.get(name, 0.0) + float(sample.value)
    values: dict[str, float] = {}
    for ours, theirs in names.scalars.items():
        if theirs and theirs in sums:
            values[ours] = sums[theirs]
    for ours, theirs in names.histograms.items():
        if theirs and f"{theirs}_count" in sums:
            values[f"{ours}_sum"] = sums.get(f"{theirs}_sum", 0.0)
            values[f"{ours}_count"] = sums[f"{theirs}_count"]
    return Snapshot(t=time.perf_counter() if t is None else t, server=names.server, values=values, block_size=block)


def fetch_text(url: str, headers: Mapping[str, str] | None = None, timeout_s: float = 5.0) -> str:
    request = urllib.request.Request(url, headers=RedactedHeaders(headers or {}))
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return str(response.read().decode("utf-8", errors="replace"))


class RoundDelta(ServerRound):
    """What the server counted during one round (:class:`~openaiperf.result.ServerRound`'s fields:
    counters' growth, per histogram the growth of its sum (s) and count (requests), the peaks of the
    interval scrapes, the before and after scrapes included) and which server counted it."""

    server: str

    def mean_s(self, name: str) -> float | None:
        total, count = self.histograms.get(name, (0.0, 0.0))
        return total / count if count > 0 else None


def delta(before: Snapshot, after: Snapshot, round_index: int) -> RoundDelta:
    out = RoundDelta(round=round_index, server=after.server, duration_s=after.t - before.t)
    for key in COUNTERS:
        # vLLM shows its speculative-decoding counters once a step has counted: absent before is 0
        if key in after.values and (key in before.values or key.startswith("spec_")):
            out.counters[key] = after.values[key] - before.values.get(key, 0.0)
    for name in HISTOGRAMS:
        if f"{name}_count" in before.values and f"{name}_count" in after.values:
            out.histograms[name] = (after.values[f"{name}_sum"] - before.values[f"{name}_sum"],
                                    after.values[f"{name}_count"] - before.values[f"{name}_count"])
    for key in ("running", "waiting"):
        seen = [s.values[key] for s in (before, after) if key in s.values]
        if seen:
            out.peaks[key] = max(seen)
    return out


class ServerMetricsTracker:
    """Scrapes ``url`` before and after each round (see the module)."""

    def __init__(self, url: str, headers: Mapping[str, str] | None = None, *, timeout_s: float = 5.0,
                 settle_s: float = 5.0) -> None:
        self.url = url
        self.headers = RedactedHeaders(headers or {})  # may hold Authorization: never shown
        self.timeout_s = timeout_s
        self.settle_s = settle_s
        self.names: ServerMetricNames | None = None
        self.rounds: list[RoundDelta] = []
        self.notes: list[str] = []
        self.block_size: int | None = None
        self.disabled = False
        self._before: Snapshot | None = None
        self._ended_with_delta = False

    def scrape(self) -> Snapshot | None:
        if self.disabled:
            return None
        try:
            text = fetch_text(self.url, self.headers, self.timeout_s)
        except Exception as exc:  # no /metrics, unreachable, auth: say so once and stop asking
            self._disable(f"{type(exc).__name__}: {exc}")
            return None
        snapshot = parse_exposition(text, self.names)
        if snapshot is None:
            self._disable("no vLLM, SGLang or TGI metric names on the page")
            return None
        self.names = SERVER_METRICS[snapshot.server]
        if snapshot.block_size is not None:
            self.block_size = snapshot.block_size
        return snapshot

    def _disable(self, why: str) -> None:
        self.disabled = True
        self.notes.append(f"server metrics: not available from {redact_text(self.url)} ({redact_text(why)})")

    def begin(self) -> None:
        self._before = self.scrape()

    def end(self, round_index: int, expected_requests: int | None = None,
            interval_peaks: Mapping[str, float] | None = None) -> RoundDelta | None:
        """The round's delta; waits (up to ``settle_s``) until the server has counted
        ``expected_requests`` more finished requests than before the round."""
        before, self._before = self._before, None
        self._ended_with_delta = False
        if before is None:
            return None
        deadline = time.perf_counter() + self.settle_s
        while True:
            after = self.scrape()
            if after is None:
                return None
            finished = after.values.get("requests_finished", 0.0) - before.values.get("requests_finished", 0.0)
            if expected_requests is None or finished >= expected_requests or time.perf_counter() >= deadline:
                break
            time.sleep(0.05)
        result = delta(before, after, round_index)
        result.settled = expected_requests is None or finished >= expected_requests
        if not result.settled:
            self.notes.append(f"server metrics, round {round_index}: the server counted {finished:g} finished "
                              f"request(s) of the {expected_requests} the round completed, "
                              f"{self.settle_s:g} s after it")
        for key, value in (interval_peaks or {}).items():
            result.peaks[key] = max(value, result.peaks.get(key, value))
        self.rounds.append(result)
        self._ended_with_delta = True
        return result

    def discard_round(self) -> None:
        """Forget the delta of the round that just ended (an attempt measured again)."""
        if self._ended_with_delta:
            self.rounds.pop()
            self._ended_with_delta = False


class PrometheusSampler(Sampler):
    """Interval scrapes of a server's ``/metrics`` into the monitor's timeline
    (``server_running``, ``server_waiting`` and the cumulative counters), at most once
    every ``min_interval_s``. Started by a case whose engine has a metrics endpoint."""
    name: ClassVar[str] = "prometheus"
    group: ClassVar[str] = "server"
    requires: ClassVar[tuple[Requirement, ...]] = (requirement("prometheus-client", module="prometheus_client"),)
    COLUMNS: ClassVar[tuple[str, ...]] = ("running", "waiting", "requests_finished", "preemptions",
                                          "prefix_queries", "prefix_hits")
    #: consecutive failed scrapes after which the sampler gives up (the monitor drops it with a warning)
    max_failures: ClassVar[int] = 5

    def __init__(self, url: str | None = None, headers: Mapping[str, str] | None = None,
                 min_interval_s: float = 1.0, timeout_s: float = 2.0) -> None:
        if not url:
            raise SamplerUnavailable("prometheus: scrapes a server's /metrics; a case whose engine exposes one "
                                     "starts it")
        self.url = url
        self.headers = RedactedHeaders(headers or {})  # may hold Authorization: never shown
        self.min_interval_s = min_interval_s
        self.timeout_s = timeout_s
        self.names: ServerMetricNames | None = None
        self._last = -float("inf")
        self._failures = 0

    @classmethod
    def create(cls) -> Sampler:
        raise SamplerUnavailable("prometheus: scrapes a server's /metrics; a case whose engine exposes one starts it")

    def sample(self) -> dict[str, float]:
        now = time.perf_counter()
        if now - self._last < self.min_interval_s:
            return {}
        self._last = now
        try:
            text = fetch_text(self.url, self.headers, self.timeout_s)
        except OSError:  # timeouts and refused connections included
            # A loaded server can miss one scrape: skip it; only a server gone for good drops the sampler.
            self._failures += 1
            if self._failures >= self.max_failures:
                raise
            return {}
        self._failures = 0
        snapshot = parse_exposition(text, self.names)
        if snapshot is None:
            raise RuntimeError(f"no known server's metric names at {self.url}")
        self.names = SERVER_METRICS[snapshot.server]
        return {f"server_{key}": snapshot.values[key] for key in self.COLUMNS if key in snapshot.values}

    def summarize(self, rows: list[dict[str, float]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("running", "waiting"):
            values = [row[f"server_{key}"] for row in rows if f"server_{key}" in row]
            if values:
                out[f"server_peak_{key}"] = max(values)
        return out


def interval_peaks(summary: Mapping[str, Any]) -> dict[str, float]:
    """The peaks of running and waiting requests from a monitor summary (the sampler's keys)."""
    return {key: float(summary[f"server_peak_{key}"]) for key in ("running", "waiting")
            if isinstance(summary.get(f"server_peak_{key}"), (int, float))}


def combine(rounds: Sequence[RoundDelta]) -> RoundDelta | None:
    """Every round's delta as one (sums of growth, peaks' maximum)."""
    if not rounds:
        return None
    out = RoundDelta(round=-1, server=rounds[0].server, duration_s=sum(r.duration_s for r in rounds),
                     settled=all(r.settled for r in rounds))
    for r in rounds:
        for key, value in r.counters.items():
            out.counters[key] = out.counters.get(key, 0.0) + value
        for key, (total, count) in r.histograms.items():
            have = out.histograms.get(key, (0.0, 0.0))
            out.histograms[key] = (have[0] + total, have[1] + count)
        for key, value in r.peaks.items():
            out.peaks[key] = max(value, out.peaks.get(key, value))
    return out
