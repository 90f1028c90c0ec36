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
"""

from __future__ import annotations

import math
from typing import Any, Callable, ClassVar, Sequence

from openaiperf.loadgen.arrivals import arrival_times, offered_rate
from openaiperf.loadgen.dispatcher import dispatch_open, engine_sender, run_dispatch
from openaiperf.loadgen.slo import SERVER_SLA, SLA, goodput_metrics, resolve_sla, sla_constraints
from openaiperf.metrics import MetricSet
from openaiperf.records import Record, RecordSink, Request
from openaiperf.scenarios import ScenarioConfig, ScenarioRun
from openaiperf.scenarios.online import default_warmup, finish_run, fresh_records, number_option, with_warmup


def find_peak(trial: Callable[[float], bool], start_qps: float, *, tolerance: float = 0.1,
              max_trials: int = 10) -> tuple[float | None, list[tuple[float, bool]]]:
    """Highest rate at which ``trial(rate)`` is True, by exponential growth (or
    decay) to bracket it, then binary search; returns (peak or None, trials)."""
    history: list[tuple[float, bool]] = []

    def run(rate: float) -> bool:
        ok = trial(rate)
        history.append((rate, ok))
        return ok

    low: float | None = None
    high: float | None = None
    rate = start_qps
    if run(rate):
        low = rate
        while len(history) < max_trials:
            rate *= 2
            if run(rate):
                low = rate
            else:
                high = rate
                break
    else:
        high = rate
        while len(history) < max_trials:
            rate /= 2
            if run(rate):
                low = rate
                break
            high = rate
    if low is None or high is None:
        return low, history
    while len(history) < max_trials and (high - low) / low > tolerance:
        middle = (low + high) / 2
        if run(middle):
            low = middle
        else:
            high = middle
    return low, history


class ServerScenario:
    name: ClassVar[str] = "server"
    headline: ClassVar[str] = "goodput"
    default_sla: ClassVar[SLA] = SERVER_SLA

    def __init__(self, config: ScenarioConfig) -> None:
        self.config = config
        options = config.options
        self.qps = number_option(options, "qps_target", 1.0, minimum=1e-6)
        self.burstiness = number_option(options, "burstiness", 1.0, minimum=1e-6)
        self.seed = number_option(options, "seed", 0, integer=True)
        self.sla, self.sla_source = resolve_sla(options, self.default_sla)
        self.find_peak = bool(options.get("find_peak", False))
        self.peak_tolerance = number_option(options, "peak_tolerance", 0.1, minimum=1e-3)
        self.peak_max_trials = number_option(options, "peak_max_trials", 8, minimum=1, integer=True)
        self.warmup_option = options.get("warmup_requests")

    def warmup_for(self, qps: float) -> int:
        if self.warmup_option is not None:
            return number_option({"warmup_requests": self.warmup_option}, "warmup_requests", 0, minimum=0,
                                 integer=True)
        return default_warmup(qps)

    def measured_count(self, qps: float) -> int:
        """Measured queries at ``qps``: at least ``min_queries``, and with a minimum
        duration enough that their schedule spans it ((n - 1) / qps >= min_duration)."""
        count = self.config.min_queries
        if self.config.min_duration_s > 0:
            count = max(count, math.ceil(qps * self.config.min_duration_s) + 1)
        return count

    def run_at(self, engine: Any, requests: Sequence[Request], sink: RecordSink, round_index: int,
               qps: float) -> ScenarioRun:
        warmup = self.warmup_for(qps)
        all_requests = with_warmup(requests, warmup, self.measured_count(qps))
        records = fresh_records(all_requests, round_index)
        offsets = arrival_times(len(all_requests), qps, seed=self.seed + round_index, burstiness=self.burstiness,
                                warmup=warmup)
        send = engine_sender(engine)
        result = run_dispatch(engine, lambda: dispatch_open(all_requests, records, offsets, send, sink,
                                                            warmup=warmup))
        settings = {"qps_target": qps, "burstiness": self.burstiness, "seed": self.seed, "warmup_requests": warmup,
                    "loop": "open", "sla": self.sla.to_json(), "sla_source": self.sla_source}
        run = finish_run(result, self.config, settings, engine)
        measured = [r for r in records if not r.warmup]
        run.constraints.update(sla_constraints(measured, self.sla))
        run.settings["measured_requests"] = len(measured)
        run.settings["scheduled_qps"] = offered_rate([r.scheduled for r in measured])
        run.settings["achieved_qps"] = offered_rate([r.sent for r in measured if r.sent is not None])
        run.notes.append(f"SLA p99 TTFT <= {self.sla.ttft_ms:g} ms, p99 TPOT <= {self.sla.tpot_ms:g} ms "
                         f"({self.sla_source})")
        return run

    def run(self, engine: Any, requests: Sequence[Request], sink: RecordSink, round_index: int = 0) -> ScenarioRun:
        if not self.find_peak:
            return self.run_at(engine, requests, sink, round_index, self.qps)
        runs: dict[float, ScenarioRun] = {}
        pending: dict[float, list[Record]] = {}

        def trial(qps: float) -> bool:
            kept: list[Record] = []
            run = self.run_at(engine, requests, kept.append, round_index, qps)
            runs[qps], pending[qps] = run, kept
            return run.valid

        peak, history = find_peak(trial, self.qps, tolerance=self.peak_tolerance, max_trials=self.peak_max_trials)
        chosen = peak if peak is not None else history[-1][0]
        run = runs[chosen]
        for record in pending[chosen]:
            sink(record)
        run.settings["find_peak"] = {"peak_qps": peak, "trials": [{"qps": q, "valid": ok} for q, ok in history],
                                     "tolerance": self.peak_tolerance}
        run.constraints["peak_found"] = peak is not None
        trials = ", ".join(f"{q:.3g}:{'VALID' if ok else 'INVALID'}" for q, ok in history)
        run.notes.append(f"find-peak: peak {peak:.3g} QPS" if peak is not None else "find-peak: no VALID rate found")
        run.notes.append(f"find-peak trials (QPS:result): {trials}")
        if self.config.min_duration_s <= 0:
            # Without a minimum duration a trial is a short burst, and a burst of a few
            # queries stays VALID at rates the system cannot sustain.
            run.notes.append("find-peak without --min-duration: each trial is a short burst, so the peak "
                             "overstates the sustainable rate; set --min-duration and --min-queries")
        return run

    def metrics(self, records: Sequence[Record], runs: Sequence[ScenarioRun]) -> MetricSet:
        """Goodput beside throughput (the runner adds these to the case's metrics)."""
        from openaiperf.metrics import Metric

        out = goodput_metrics(records, self.sla)
        peaks = [run.settings.get("find_peak", {}).get("peak_qps") for run in runs]
        if any(p is not None for p in peaks):
            out["peak_qps"] = Metric(max(p for p in peaks if p is not None), "requests/s", "higher")
        achieved = [run.settings.get("achieved_qps") for run in runs if run.settings.get("achieved_qps")]
        if achieved:
            out["achieved_qps"] = Metric(sum(achieved) / len(achieved), "requests/s", "higher")
        return out
