"""``server``: open-loop arrivals at ``qps_target`` (``--qps-target``), Poisson by
default or gamma gaps with ``--burstiness``, judged against a latency SLA
(p99 TTFT and p99 TPOT bounds, ``--latency-sla TTFT_MS,TPOT_MS``, else the
task's ``sla``, else MLPerf llama2-70b's 2000 ms / 200 ms). The run is VALID
only if both bounds hold and the minimum duration and query count were met;
goodput (requests meeting every SLO per second) is reported beside throughput.

With ``find_peak`` (``--find-peak``) the scenario searches the highest QPS that
stays VALID, as MLPerf LoadGen's FindPeakPerformance does: the rate doubles
until a run is INVALID (or halves until one is VALID), then a binary search
narrows the bracket to ``peak_tolerance`` (relative). The reported run is the
one at the peak.

With a minimum duration (``--min-duration``) every run, each find-peak trial
included, sends ``max(min_queries, ceil(qps × min_duration) + 1)`` measured
queries, as MLPerf LoadGen keeps scheduling queries until both minimums are
met: the schedule of the measured queries then spans at least the minimum
duration at any rate, so a rate is INVALID only for what the system does.

``achieved_qps`` is the arrival rate actually offered to the engine: the
measured requests' ``(n - 1) / (last send - first send)``, from their actual
send times (``requests_per_s`` is the completion throughput).

Arrivals (``arrivals``): ``poisson`` (the process above), or ``trace``: each
request at the time its trace gives (a trace-replay task's requests carry it),
the gaps multiplied by ``time_scale`` (``--time-scale``: 0.5 replays twice as
fast); ``auto`` (the default) replays a trace when the requests carry arrival
times. Multi-turn sessions arrive at ``qps_target`` sessions per second (Poisson
gaps); each session's turns then follow its answers and think times.

More than one client process can send: ``--loadgen-workers N`` (processes on this
host) or ``--loadgen-cluster ADDRESS`` (Ray actors, one per node) send the same
global schedule, split by seeded thinning, with their clocks measured and
corrected (``--clock-tolerance-ms``): :mod:`openaiperf.loadgen.workers`. A
find-peak search stops at a rate where the client, not the server, set the limit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from openaiperf.engines import Engine
from openaiperf.errors import ConfigError
from openaiperf.loadgen.arrivals import RateRamp, arrival_times, offered_rate, ramp_times, trace_offsets
from openaiperf.loadgen.capacity import auto_workers
from openaiperf.loadgen.cluster import check_cluster_option
from openaiperf.loadgen.dispatcher import dispatch_open, engine_sender, run_dispatch
from openaiperf.loadgen.early_stopping import early_stopping_metrics
from openaiperf.loadgen.saturation import detect_saturation
from openaiperf.loadgen.sessions import dispatch_sessions_open
from openaiperf.loadgen.sla_search import SlaTrial, sla_estimate
from openaiperf.loadgen.slo import (
    SERVER_SLA,
    SLA,
    goodput_metrics,
    meets_slo,
    parse_sla,
    resolve_sla,
    sla_constraints,
)
from openaiperf.loadgen.workers import WorkerExtras, dispatch_with_workers, loadgen_constraints
from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.latency import distribution, e2e_s, tpot_s, ttft_s
from openaiperf.records import PoolingRequest, Record, RecordSink, Request, Workload, is_sessions, salted_workload
from openaiperf.registry import Options, option_field
from openaiperf.scenarios import Scenario, ScenarioConfig, ScenarioRun, new_records
from openaiperf.scenarios.online import default_warmup, finish_run, with_warmup, with_warmup_sessions


def checked_by(check: Callable[[str], Any], value: Any) -> Any:
    """``value`` as given once ``check`` accepts it (a set value only); its ConfigError as the
    validation error pydantic reports with the field's name."""
    if value:
        try:
            check(str(value))
        except ConfigError as exc:
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
    return value


class ServerOptions(Options):
    """Options of the open-loop scenarios (``server``, ``interactive``)."""

    qps_target: float = option_field(1.0, gt=0, flag="--qps-target", metavar="QPS",
                                     help="Poisson arrival rate, requests/s (start rate with --find-peak)")
    burstiness: float = option_field(1.0, gt=0, flag="--burstiness", metavar="B",
                                     help="gamma shape of the arrival gaps (1 = Poisson, <1 burstier)")
    seed: int = option_field(0, ge=0, flag="--arrival-seed", metavar="SEED", help="seed of the arrival schedule")
    latency_sla: str | list[float] | dict[str, float] | None = option_field(
        None, flag="--latency-sla", metavar="TTFT_MS,TPOT_MS",
        help="p99 TTFT and p99 TPOT bounds (default: task sla; interactive 450,40)")
    find_peak: bool = option_field(
        False, flag="--find-peak",
        help="search the highest QPS that stays VALID (MLPerf FindPeakPerformance)")
    lora_split: str | None = option_field(
        None, flag="--lora-split", metavar="NAME:WEIGHT,...",
        help="spread the requests over these LoRA adapters (served model names) by weight, seeded; the report "
             "splits latency per adapter (settings.scenario.adapters)")
    find_sla: bool = option_field(
        False, flag="--find-sla",
        help="search the highest QPS at which --sla-attainment of the requests meet the TTFT and TPOT SLOs "
             "(--latency-sla bounds per request), by find-peak's bisection, interpolated, with its uncertainty")
    sla_attainment: float = option_field(0.9, gt=0, le=1, flag="--sla-attainment", metavar="F",
                                         help="--find-sla: the goodput fraction a rate must reach (default 0.9)")
    #: find-peak stops when the bracket is this narrow (relative)
    peak_tolerance: float = Field(default=0.1, ge=1e-3)
    peak_max_trials: int = Field(default=8, ge=1)
    #: unmeasured requests sent first (default: the concurrency the rate implies)
    warmup_requests: int | None = Field(default=None, ge=0)
    arrivals: Literal["auto", "poisson", "trace"] = option_field(
        "auto", flag="--arrivals", metavar="auto|poisson|trace",
        help="when requests are sent: Poisson at --qps-target, or at the times a trace-replay task gives "
             "(auto: the trace when the requests carry one)")
    time_scale: float = option_field(
        1.0, gt=0, flag="--time-scale", metavar="F",
        help="trace arrivals: multiply the trace's gaps by F (0.5 replays twice as fast)")
    batch_invariance: bool = option_field(
        False, flag="--batch-invariance",
        help="online greedy cases: also run every measured request alone (concurrency 1) after the "
             "measured rounds and report the fraction whose output is identical")

    loadgen_workers: str = option_field(
        "1", flag="--loadgen-workers", metavar="N|auto",
        help="send from N worker processes behind the one global schedule (auto: from the target rate and the "
             "client capacity measured on this machine; default 1: the case's own process)")
    loadgen_cluster: str | None = option_field(
        None, flag="--loadgen-cluster", metavar="ADDRESS|auto",
        help="send from Ray actors, one per node of the cluster at ADDRESS (what ray.init takes; auto: "
             "$RAY_ADDRESS), behind the one global schedule (needs the 'cluster' extra)")
    clock_tolerance_ms: float = option_field(
        1.0, gt=0, flag="--clock-tolerance-ms", metavar="MS",
        help="load generator workers: a case whose worker clock offsets are known only to more than this "
             "(uncertainty + drift) is INVALID (default 1 ms)")

    rate_ramp: Literal["none", "linear", "exponential"] = option_field(
        "none", flag="--rate-ramp", metavar="none|linear|exponential",
        help="raise the Poisson rate from --ramp-start-qps to --qps-target over --ramp-duration (a "
             "non-homogeneous Poisson process); the run stops early when it over-saturates the server")
    ramp_start_qps: float = option_field(0.5, gt=0, flag="--ramp-start-qps", metavar="QPS",
                                         help="--rate-ramp: the rate it starts from, requests/s")
    ramp_duration_s: float = option_field(30.0, gt=0, flag="--ramp-duration", metavar="S",
                                          help="--rate-ramp: seconds from the start rate to --qps-target")
    stop_on_saturation: bool = option_field(
        False, flag="--stop-on-saturation",
        help="judge every run for over-saturation (requests in flight and a latency -- TTFT, ITL or E2E, "
             "Holm-corrected -- both rising: Mann-Kendall, one-sided p < 0.01): an over-saturated run is "
             "INVALID and a find-peak search stops there (always on with --rate-ramp)")
    probe_rate: float = option_field(
        0.0, ge=0, flag="--probe-rate", metavar="QPS",
        help="also send single-token probe requests at this Poisson rate beside the load, measured apart "
             "(probe_ttft_*): how the load stalls a newcomer (0: none)")
    cancel_fraction: float = option_field(
        0.0, ge=0, le=1, flag="--cancel-fraction", metavar="F",
        help="the client cancels this seeded fraction of the requests --cancel-after-ms after their send "
             "(recorded as cancelled: neither answered nor failed)")
    cancel_after_ms: float = option_field(1000.0, gt=0, flag="--cancel-after-ms", metavar="MS",
                                          help="--cancel-fraction: how long after its send a request is cancelled")

    @field_validator("loadgen_workers", mode="before")
    @classmethod
    def _worker_count(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text != "auto" and not (text.isdigit() and int(text) >= 1):
            raise ValueError(f"expected a worker count >= 1 or auto, got {value!r}")
        return text

    @field_validator("loadgen_cluster")
    @classmethod
    def _cluster(cls, value: Any) -> Any:
        return checked_by(check_cluster_option, value)

    @field_validator("lora_split")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return checked_by(parse_lora_split, value)

    @field_validator("latency_sla")
    @classmethod
    def _parses(cls, value: Any) -> Any:
        if value is not None:
            try:
                parse_sla(value, source="")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value


#: the most recent requests the saturation stop looks at while a run is sending
STOP_WINDOW = 1000


def probe_request(request: Request, probe_id: str, tag: str) -> Request:
    """The smallest request of ``request``'s kind, a probe: one generated token after its prompt
    (tagged, so that no cached prefix answers it); for a pooling request one input of one token
    (embeddings), or a one-token query with one one-token document (rerank). A pooling probe's
    token is the first of the request's first input (its first token id; of a text, its first
    word: one token for drawn inputs) and is not tagged, which would lengthen it."""
    if not isinstance(request, PoolingRequest):
        return dataclasses.replace(request, max_tokens=1, ignore_eos=True, id=probe_id).tagged(tag)
    if request.kind == "rerank":
        return dataclasses.replace(request, id=probe_id, query=first_word(request.query),
                                   documents=(first_word(request.documents[0]),))
    if request.input_token_ids:
        return dataclasses.replace(request, id=probe_id, inputs=(), input_token_ids=((request.input_token_ids[0][0],),))
    return dataclasses.replace(request, id=probe_id, inputs=(first_word(request.inputs[0]),), input_token_ids=None)


def first_word(text: str) -> str:
    """The first whitespace-separated word of ``text`` (the text itself when it has none)."""
    words = text.split(maxsplit=1)
    return words[0] if words else text


def parse_lora_split(text: str) -> dict[str, float]:
    """``NAME:WEIGHT,...`` -> {adapter: weight} (weights > 0; a name alone weighs 1)."""
    split: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, weight = part.partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            value = -1.0
        if not name or value <= 0 or name in split:
            raise ConfigError(f"expected NAME:WEIGHT,... with distinct names and weights > 0, got {text!r}",
                              source="--lora-split")
        split[name] = value
    if not split:
        raise ConfigError(f"expected NAME:WEIGHT,..., got {text!r}", source="--lora-split")
    return split


def adapter_table(records: Sequence[Record], adapters: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per adapter: its share of the requests (and the one asked), answered ones, TTFT, TPOT and E2E p50/p90 (ms)."""
    total = sum(adapters.values())
    table: dict[str, dict[str, Any]] = {}
    for name, weight in adapters.items():
        mine = [r for r in records if r.model == name]
        ok = [r for r in mine if r.ok]
        row: dict[str, Any] = {"requests": len(mine), "share": len(mine) / len(records) if records else None,
                               "weight": weight / total, "ok": len(ok)}
        for metric, of in (("ttft", ttft_s), ("tpot", tpot_s), ("e2e", e2e_s)):
            values = [v * 1000 for r in ok if (v := of(r)) is not None]
            for q in (50, 90):
                row[f"{metric}_p{q}_ms"] = float(np.percentile(values, q)) if values else None
        table[name] = row
    return table


def find_peak(trial: Callable[[float], bool | None], start_qps: float, *, tolerance: float = 0.1,
              max_trials: int = 10) -> tuple[float | None, list[tuple[float, bool]]]:
    """Highest rate at which ``trial(rate)`` is True, by exponential growth (or
    decay) to bracket it, then binary search; returns (peak or None, trials).
    A trial that returns None (the client, not the server, set the limit) ends the
    search: the peak is then the highest VALID rate seen below it, never that rate."""
    history: list[tuple[float, bool]] = []
    bracket: dict[str, float | None] = {"low": None, "high": None}

    class ClientBound(Exception):
        pass

    def run(rate: float) -> bool:
        ok = trial(rate)
        history.append((rate, bool(ok)))
        if ok is None:
            raise ClientBound
        return ok

    def search() -> None:
        rate = start_qps
        if run(rate):
            bracket["low"] = rate
            while len(history) < max_trials:
                rate *= 2
                if run(rate):
                    bracket["low"] = rate
                else:
                    bracket["high"] = rate
                    break
        else:
            bracket["high"] = rate
            while len(history) < max_trials:
                rate /= 2
                if run(rate):
                    bracket["low"] = rate
                    break
                bracket["high"] = rate
        low, high = bracket["low"], bracket["high"]
        while low is not None and high is not None and len(history) < max_trials and (high - low) / low > tolerance:
            middle = (low + high) / 2
            if run(middle):
                low = bracket["low"] = middle
            else:
                high = bracket["high"] = middle

    try:
        search()
    except ClientBound:
        pass
    return bracket["low"], history


class ServerScenario(Scenario):
    name: ClassVar[str] = "server"
    overlapping: ClassVar[bool] = True
    sessions: ClassVar[bool] = True
    Options: ClassVar[type[Options]] = ServerOptions
    default_sla: ClassVar[SLA] = SERVER_SLA
    options: ServerOptions

    def __init__(self, config: ScenarioConfig) -> None:
        super().__init__(config)
        o = self.options
        self.qps = o.qps_target
        self.burstiness = o.burstiness
        self.seed = o.seed
        self.sla, self.sla_source = resolve_sla({"latency_sla": o.latency_sla, "task_sla": config.task_sla},
                                                self.default_sla)
        self.find_peak = o.find_peak
        self.peak_tolerance = o.peak_tolerance
        self.peak_max_trials = o.peak_max_trials
        self.warmup_option = o.warmup_requests
        self.adapters = parse_lora_split(o.lora_split) if o.lora_split else {}
        #: the probe requests of every round (--probe-rate), measured apart from the load
        self.probe_records: list[Record] = []

    def warmup_for(self, qps: float) -> int:
        if self.warmup_option is not None:
            return self.warmup_option
        return default_warmup(qps)

    def measured_count(self, qps: float) -> int:
        """Measured queries at ``qps``: at least ``min_queries``, and with a minimum
        duration enough that their schedule spans it ((n - 1) / qps >= min_duration)."""
        count = self.config.min_queries
        if self.config.min_duration_s > 0:
            count = max(count, math.ceil(qps * self.config.min_duration_s) + 1)
        return count

    def uses_trace(self, requests: Workload) -> bool:
        """Whether the arrivals follow the requests' trace times (``arrivals``), refusing
        a trace asked for without one."""
        carried = bool(requests) and not is_sessions(requests) and all(r.arrival_s is not None for r in requests)
        arrivals = self.options.arrivals
        if arrivals == "trace" and not carried:
            raise ConfigError("the task's requests carry no arrival times (a trace-replay task's do); "
                              "use --arrivals poisson", source=f"scenario {self.name}", field="arrivals")
        return arrivals == "trace" or (arrivals == "auto" and carried)

    def run_at(self, engine: Engine, requests: Workload, sink: RecordSink, round_index: int,
               qps: float) -> ScenarioRun:
        warmup = self.warmup_for(qps)
        send = engine_sender(engine)
        settings: dict[str, Any] = {"qps_target": qps, "burstiness": self.burstiness, "seed": self.seed,
                                    "warmup_requests": warmup, "loop": "open", "sla": self.sla.to_json(),
                                    "sla_source": self.sla_source}
        if is_sessions(requests):
            sessions = with_warmup_sessions(requests, warmup, self.measured_count(qps))
            starts = arrival_times(len(sessions), qps, seed=self.seed + round_index, burstiness=self.burstiness,
                                   warmup=warmup).tolist()
            if self.sharded(qps):
                result = self.dispatch_workers(engine, sessions, starts, sink, warmup, round_index, qps, settings)
            else:
                result = run_dispatch(engine, lambda: dispatch_sessions_open(sessions, starts, send, sink,
                                                                              warmup=warmup, round_index=round_index))
            settings.update(arrivals="poisson", arrival_unit="sessions/s", sessions=len(sessions) - warmup)
            run = finish_run(result, self.config, settings, engine)
            records = result.records
            # the rate a session workload is offered is that of its sessions: their first turns
            arrivals = [r for r in records if r.turn == 1 and not r.warmup]
        else:
            trace = self.uses_trace(requests)
            all_requests = self.with_adapters(with_warmup(requests, warmup, self.measured_count(qps)), round_index)
            records = new_records(all_requests, round_index)
            if trace:
                offsets = trace_offsets([float(r.arrival_s or 0.0) for r in requests], len(all_requests) - warmup,
                                        time_scale=self.options.time_scale, warmup=warmup)
                settings.update(arrivals="trace", time_scale=self.options.time_scale, qps_target=None)
            elif (ramp := self.ramp(qps)) is not None:
                warmup = self.warmup_for(ramp.start)
                all_requests = self.with_adapters(with_warmup(requests, warmup, ramp.count()), round_index)
                records = new_records(all_requests, round_index)
                offsets = np.concatenate([np.arange(warmup) / ramp.start,
                                          warmup / ramp.start + ramp_times(ramp, len(all_requests) - warmup,
                                                                           seed=self.seed + round_index)])
                settings.update(arrivals="ramp", warmup_requests=warmup, ramp={
                    "shape": ramp.shape, "start_qps": ramp.start, "end_qps": ramp.end,
                    "duration_s": ramp.duration_s})
            else:
                offsets = arrival_times(len(all_requests), qps, seed=self.seed + round_index,
                                        burstiness=self.burstiness, warmup=warmup)
                settings["arrivals"] = "poisson"
            if self.sharded(qps):
                result = self.dispatch_workers(engine, all_requests, offsets, sink, warmup, round_index, qps, settings,
                                               extras=self.worker_extras(all_requests, offsets, warmup, round_index,
                                                                         settings))
                self.note_probes_and_stop(result, result.probes, len(all_requests), settings)
                records = result.records
            else:
                result = self.dispatch_here(engine, all_requests, records, offsets, sink, warmup, round_index,
                                            settings)
                records = result.records
            run = finish_run(result, self.config, settings, engine, all_requests[:len(records)])
            arrivals = [r for r in records if not r.warmup]
        if "loadgen" in settings:
            constraints, notes = loadgen_constraints(settings["loadgen"])
            run.constraints.update(constraints)
            run.notes.extend(notes)
        measured = [r for r in records if not r.warmup]
        run.constraints.update(sla_constraints(measured, self.sla))
        if self.adapters:
            run.settings["adapters"] = adapter_table(measured, self.adapters)
        if self.checks_saturation and not is_sessions(requests):
            saturation = detect_saturation(measured)
            run.settings["saturation"] = saturation.to_json()
            run.constraints["not_oversaturated"] = not saturation.detected
            if saturation.detected:
                run.notes.append(
                    f"over-saturated: requests in flight and {saturation.saturation_signal} both rose (Mann-Kendall "
                    f"p {saturation.in_flight_p:.2g}; TTFT {saturation.ttft_p:.2g}, ITL {saturation.itl_p:.2g}, "
                    f"E2E {saturation.e2e_p:.2g}); from {saturation.onset_s or 0:.3g} s on the server served "
                    f"{saturation.saturation_qps or 0:.3g} requests/s (its capacity: decode tokens/s over an "
                    f"answer's; completed {saturation.completed_qps or 0:.3g}/s, offered "
                    f"{saturation.onset_offered_qps or 0:.3g} at the onset)")
        run.settings["measured_requests"] = len(measured)
        run.settings["scheduled_qps"] = offered_rate([r.scheduled for r in arrivals])
        run.settings["achieved_qps"] = offered_rate([r.sent for r in arrivals if r.sent is not None])
        run.notes.append(f"SLA p99 TTFT <= {self.sla.ttft_ms:g} ms, p99 TPOT <= {self.sla.tpot_ms:g} ms "
                         f"({self.sla_source})")
        return run

    def with_adapters(self, requests: list[Request], round_index: int) -> list[Request]:
        """The requests spread over ``--lora-split``'s adapters by their weights (seeded), each
        naming its adapter as the request's model; unchanged without a split."""
        if not self.adapters:
            return requests
        names = list(self.adapters)
        weights = np.array(list(self.adapters.values()))
        rng = np.random.default_rng([self.seed, round_index, 2])
        picks = rng.choice(len(names), size=len(requests), p=weights / weights.sum())
        return [dataclasses.replace(r, model=names[i]) for r, i in zip(requests, picks)]

    @property
    def checks_saturation(self) -> bool:
        return self.options.stop_on_saturation or self.options.rate_ramp != "none"

    def ramp(self, qps: float) -> RateRamp | None:
        """The rate ramp up to ``qps`` (``--rate-ramp``), or None."""
        o = self.options
        if o.rate_ramp == "none":
            return None
        return RateRamp(o.rate_ramp, o.ramp_start_qps, qps, o.ramp_duration_s)

    def cancel_delays(self, count: int, warmup: int, round_index: int) -> list[float | None] | None:
        """Per request: the delay after which the client cancels it (a seeded fraction of the
        measured requests), or None."""
        fraction = self.options.cancel_fraction
        if not fraction:
            return None
        rng = np.random.default_rng([self.seed, round_index, 1])
        chosen = rng.random(count) < fraction
        delay = self.options.cancel_after_ms / 1000
        return [delay if chosen[i] and i >= warmup else None for i in range(count)]

    def probe_plan(self, requests: Sequence[Request], span_s: float, round_index: int
                   ) -> tuple[list[Request], list[Record], np.ndarray]:
        """Single-token probe requests at ``--probe-rate`` over ``span_s`` (Poisson, seeded)."""
        rate = self.options.probe_rate
        count = max(2, math.ceil(rate * span_s)) if rate else 0
        probes = [probe_request(requests[i % len(requests)], f"probe-{i}", f"[probe {round_index}.{i}]")
                  for i in range(count)]
        records = new_records(probes, round_index)
        offsets = arrival_times(count, rate, seed=self.seed + round_index + 7919) if count else np.zeros(0)
        return probes, records, offsets

    def saturation_stop(self) -> Callable[[Sequence[Record]], bool] | None:
        """The stop a dispatch asks with the records sent so far (``--rate-ramp``, ``--stop-on-saturation``)."""
        if not self.checks_saturation:
            return None
        # the recent requests only: the test looks at the recent half, and stays cheap on the send loop
        return lambda sent: detect_saturation(sent[-STOP_WINDOW:]).detected

    def planned_cancellations(self, count: int, warmup: int, round_index: int,
                              settings: dict[str, Any]) -> list[float | None] | None:
        """:meth:`cancel_delays`, noted in the settings (how many were chosen)."""
        cancel = self.cancel_delays(count, warmup, round_index)
        if cancel:
            settings["cancellations"] = {"fraction": self.options.cancel_fraction,
                                         "after_ms": self.options.cancel_after_ms,
                                         "chosen": sum(d is not None for d in cancel)}
        return cancel

    def note_probes_and_stop(self, result: Any, probe_records: list[Record], scheduled: int,
                             settings: dict[str, Any]) -> None:
        """Keep the probes (measured apart) and note them, and a stop before the schedule's end."""
        if probe_records:
            self.probe_records.extend(probe_records)
            settings["probes"] = {"rate": self.options.probe_rate, "sent": len(probe_records),
                                  "ok": sum(r.ok for r in probe_records)}
        if len(result.records) < scheduled:
            settings["stopped_early"] = {"sent": len(result.records), "scheduled": scheduled,
                                         "reason": "over-saturated"}

    def worker_extras(self, all_requests: Sequence[Request], offsets: Any, warmup: int, round_index: int,
                      settings: dict[str, Any]) -> Any:
        """What load generator workers send beside the schedule, decided here on the global one:
        the same cancellations and probes as from this process, and the driver's saturation stop."""
        probes, _, probe_offsets = self.probe_plan(all_requests, float(offsets[-1]) if len(offsets) else 0.0,
                                                   round_index)
        start = float(offsets[min(warmup, len(offsets) - 1)]) if len(offsets) else 0.0
        return WorkerExtras(cancel_after_s=self.planned_cancellations(len(all_requests), warmup, round_index,
                                                                      settings),
                            probes=probes, probe_offsets=[start + float(v) for v in probe_offsets],
                            stop=self.saturation_stop())

    def dispatch_here(self, engine: Any, all_requests: Sequence[Request], records: list[Record], offsets: Any,
                      sink: RecordSink, warmup: int, round_index: int, settings: dict[str, Any]) -> Any:
        """The open-loop dispatch from this process, with its cancellations, saturation stop and probes."""
        send = engine_sender(engine)
        cancel = self.planned_cancellations(len(all_requests), warmup, round_index, settings)
        stop = self.saturation_stop()
        probes, probe_records, probe_offsets = self.probe_plan(all_requests, float(offsets[-1]) if len(offsets)
                                                               else 0.0, round_index)

        async def both() -> Any:
            t0 = time.perf_counter() + 0.01
            main = dispatch_open(all_requests, records, offsets, send, sink, warmup=warmup, t0=t0, stop=stop,
                                 cancel_after_s=cancel)
            if not probes:
                return await main
            # probes go after the warmup, beside the measured requests, into no sink: measured apart
            start = t0 + float(offsets[min(warmup, len(offsets) - 1)])
            result, _ = await asyncio.gather(main, dispatch_open(probes, probe_records, probe_offsets, send,
                                                                 lambda r: None, t0=start))
            return result

        result = run_dispatch(engine, both)
        self.note_probes_and_stop(result, probe_records, len(all_requests), settings)
        return result

    def worker_count(self, qps: float) -> int:
        """``--loadgen-workers`` as a number (auto: from the rate and the client's measured capacity)."""
        value = self.options.loadgen_workers
        if value != "auto":
            return int(value)

        return auto_workers(qps)

    def sharded(self, qps: float) -> bool:
        """Whether this rate is sent from load generator workers rather than this process."""
        return bool(self.options.loadgen_cluster) or self.worker_count(qps) > 1

    def dispatch_workers(self, engine: Any, items: Sequence[Any], offsets: Any, sink: RecordSink, warmup: int,
                         round_index: int, qps: float, settings: dict[str, Any],
                         extras: WorkerExtras | None = None) -> Any:
        result, report = dispatch_with_workers(
            engine, items, [float(v) for v in offsets], sink, warmup=warmup, round_index=round_index,
            seed=self.seed + round_index, workers=self.worker_count(qps), cluster=self.options.loadgen_cluster,
            tolerance_ms=self.options.clock_tolerance_ms, extras=extras)
        settings["loadgen"] = report
        return result

    def run(self, engine: Engine, requests: Workload, sink: RecordSink, round_index: int = 0) -> ScenarioRun:
        searching = "find-sla" if self.options.find_sla else "find-peak"
        if not self.find_peak and not self.options.find_sla:
            return self.run_at(engine, requests, sink, round_index, self.qps)
        if self.uses_trace(requests):
            raise ConfigError(f"{searching} searches a Poisson rate; a trace replays its own times (sweep "
                              "--time-scale instead, or --arrivals poisson)", source=f"scenario {self.name}",
                              field=searching.replace("-", "_"))
        runs: dict[float, ScenarioRun] = {}
        pending: dict[float, list[Record]] = {}
        tried: list[float] = []
        client_bound: list[float] = []

        saturation: dict[float, dict[str, Any]] = {}
        attained: dict[float, SlaTrial] = {}

        def trial(qps: float) -> bool | None:
            kept: list[Record] = []
            # each trial's prompts start with a salt of their own: a prefix cache must not serve a trial
            # from the ones before it (a workload's shared prefixes stay shared within the trial)
            tried.append(qps)
            trial_salt = f"[trial {len(tried)}]"
            salted = salted_workload(requests, lambda index: trial_salt)
            run = self.run_at(engine, salted, kept.append, round_index, qps)
            runs[qps], pending[qps] = run, kept
            if run.settings.get("saturation", {}).get("detected"):
                saturation[qps] = run.settings["saturation"]
            if run.settings.get("client", {}).get("client_bound"):
                client_bound.append(qps)
                return None  # the client's limit, not the server's: no higher rate is tried
            if self.options.find_sla:
                measured = [r for r in kept if not r.warmup]
                good = sum(meets_slo(r, self.sla) for r in measured)
                attained[qps] = SlaTrial(qps, good / len(measured) if measured else 0.0, len(measured))
                return attained[qps].attainment >= self.options.sla_attainment
            return run.valid

        peak, history = find_peak(trial, self.qps, tolerance=self.peak_tolerance, max_trials=self.peak_max_trials)
        chosen = peak if peak is not None else history[-1][0]
        run = runs[chosen]
        for record in pending[chosen]:
            sink(record)
        # find-sla reuses the search: its result is the SLA rate (find_sla), not a peak
        run.settings["find_sla_search" if self.options.find_sla else "find_peak"] = {"peak_qps": peak, "trials": [
            {"qps": q, "valid": ok, **({"saturation": saturation[q]} if q in saturation else {})} for q, ok in history],
                                     "tolerance": self.peak_tolerance}
        if not self.options.find_sla:
            run.constraints["peak_found"] = peak is not None
            trials = ", ".join(f"{q:.3g}:{'VALID' if ok else 'INVALID'}" for q, ok in history)
            run.notes.append(f"find-peak: peak {peak:.3g} QPS" if peak is not None
                             else "find-peak: no VALID rate found")
            run.notes.append(f"find-peak trials (QPS:result): {trials}")
        if saturation:
            first = min(saturation)
            run.notes.append(f"find-peak: over-saturated at {first:.3g} QPS (the server completed "
                             f"{saturation[first].get('saturation_qps') or 0:.3g} requests/s there)")
        if client_bound:
            run.constraints["peak_not_client_bound"] = False
            run.notes.append(f"find-peak stopped at {client_bound[0]:.3g} QPS: the client, not the server, set the "
                             "limit there (client-bound); the server's peak is at least the peak above: send from "
                             "more clients (--loadgen-workers, --loadgen-cluster)")
        if self.options.find_sla:
            estimate = sla_estimate(list(attained.values()), self.options.sla_attainment)
            run.settings["find_sla"] = {**estimate.to_json(), "trials": [asdict(t) for t in attained.values()]}
            run.constraints["sla_rate_found"] = estimate.estimate_qps is not None
            if estimate.estimate_qps is not None:
                run.notes.append(f"find-sla: {estimate.target:.0%} of the requests meet TTFT <= "
                                 f"{self.sla.ttft_ms:g} ms and TPOT <= {self.sla.tpot_ms:g} ms up to "
                                 f"{estimate.estimate_qps:.3g} QPS (+- {estimate.uncertainty_qps or 0:.2g}; "
                                 f"met at {estimate.passing_qps:.3g}, "
                                 f"missed at {estimate.failing_qps or float('nan'):.3g})")
        if self.config.min_duration_s <= 0:
            # Without a minimum duration a trial is a short burst, and a burst of a few
            # queries stays VALID at rates the system cannot sustain.
            run.notes.append("find-peak without --min-duration: each trial is a short burst, so the peak "
                             "overstates the sustainable rate; set --min-duration and --min-queries")
        return run

    def metrics(self, records: Sequence[Record], runs: Sequence[ScenarioRun]) -> MetricSet:
        """Goodput beside throughput (the runner adds these to the case's metrics)."""
        out = goodput_metrics(records, self.sla)
        peaks = [run.settings.get("find_peak", {}).get("peak_qps") for run in runs]
        if any(p is not None for p in peaks):
            out["peak_qps"] = Metric(max(p for p in peaks if p is not None), "requests/s", Better.HIGHER)
        achieved: list[float] = [run.settings["achieved_qps"] for run in runs if run.settings.get("achieved_qps")]
        if achieved:
            out["achieved_qps"] = Metric(sum(achieved) / len(achieved), "requests/s", Better.HIGHER)
        estimates = [run.settings["find_sla"] for run in runs if run.settings.get("find_sla", {}).get("estimate_qps")]
        if estimates:
            out["sla_qps"] = Metric(estimates[0]["estimate_qps"], "requests/s", Better.HIGHER)
            out["sla_qps_uncertainty"] = Metric(estimates[0]["uncertainty_qps"], "requests/s", Better.NONE)
        saturated = [s["saturation_qps"] for run in runs for s in self.saturations(run) if s.get("saturation_qps")]
        if saturated:
            out["saturation_qps"] = Metric(min(saturated), "requests/s", Better.HIGHER)
        if self.probe_records:
            answered = [r for r in self.probe_records if r.ok]
            first = [v for r in answered if (v := ttft_s(r)) is not None]
            # a pooling probe has no first token: its answer's latency is its measure
            pooled = [v for r in answered if ttft_s(r) is None and (v := e2e_s(r)) is not None]
            if first or not pooled:
                out |= distribution("probe_ttft", first)
            if pooled:
                out |= distribution("probe_latency", pooled)
        return out | early_stopping_metrics(records)

    @staticmethod
    def saturations(run: ScenarioRun) -> list[dict[str, Any]]:
        """The saturation reports of a run: its own, and those of its find-peak trials."""
        found = [run.settings["saturation"]] if run.settings.get("saturation") else []
        return found + [t["saturation"] for t in run.settings.get("find_peak", {}).get("trials", [])
                        if t.get("saturation")]
