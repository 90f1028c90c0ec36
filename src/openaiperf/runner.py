"""Running one case: warmup, measured rounds, metrics, gates.

The pytest layer (plugin, fixtures, ``benchmarks/``) only wires things together;
everything a case does lives here so that it can be called without pytest too.
"""

from __future__ import annotations

import dataclasses
import gc
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from openaiperf.engines import engine_unavailable_reason
from openaiperf.matrix import Case
from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.efficiency import (
    UTILISATION_METRICS,
    ModelCost,
    efficiency_metrics,
    energy_metrics,
    load_kv_geometry,
)
from openaiperf.metrics.latency import chunk_metrics, e2e_s, latency_metrics, timing_notes, ttft_s
from openaiperf.metrics.precision import Precision, effective_precision, load_quantization_config
from openaiperf.metrics.reasoning import reasoning_metrics
from openaiperf.metrics.server import server_metrics
from openaiperf.metrics.sessions import session_metrics, session_table
from openaiperf.metrics.throughput import throughput_metrics
from openaiperf.monitor.case import CaseMonitor
from openaiperf.monitor.prometheus import ServerMetricsTracker, combine, interval_peaks
from openaiperf.monitor.stalls import (
    STALL_LIMIT_MS,
    STALL_PAUSE_S,
    STALL_RETRIES,
    Stalls,
    StallWatch,
    stall_limit_ms,
)
from openaiperf.paths import name_in
from openaiperf.progress import CaseProgress
from openaiperf.records import Record, RecordWriter, Session, measured, read_records
from openaiperf.result import (
    BatchInvariance,
    CaseProfile,
    CaseQuality,
    CaseResult,
    CaseSettings,
    EfficiencyBasis,
    ResourceSummary,
    RoundStalls,
    ScenarioSettings,
    ServerMetricsSummary,
    ServerRound,
    SessionSummary,
    metric_values,
)
from openaiperf.scenarios import ScenarioRun, create_scenario, scenario_config, workload_skip_reason
from openaiperf.tasks import Sample

__all__ = ["CaseResult", "CaseRunner", "RunSettings", "case_skip_reason", "rounds_of"]


def case_skip_reason(case: Case, model: Any, hardware: Any, system: dict[str, Any] | None,
                     task_kind: Any = None) -> str | None:
    """Why ``case`` cannot run on ``hardware`` (shown as the skip reason), or None.
    ``task_kind``: the case task's class (its capabilities decide whether random weights can run it)."""
    from openaiperf.models import weights_skip_reason

    reason = weights_skip_reason(model, task_kind, case.task) or workload_skip_reason(case.scenario, task_kind)
    if reason:
        return reason
    limit_b = hardware.max_model_params_b
    if limit_b is not None and model.parameters > limit_b * 1e9:
        return (f"{model.name} has {model.parameters / 1e9:.1f}B parameters; the {hardware.name!r} hardware "
                f"profile runs models up to {limit_b:g}B")
    memory = hardware.memory_bytes(system)
    if memory:
        count = int(case.engine_options.get("tensor_parallel_size", 1))
        need = model.weight_bytes()
        if need > 0.9 * memory * count:
            return (f"{model.name} needs {need / 2**30:.0f} GiB for its {model.dtype} weights; "
                    f"{hardware.name} has {memory * count / 2**30:.0f} GiB on {count} device(s)")
    return engine_unavailable_reason(case.engine)


@contextmanager
def collector_held_still() -> Iterator[None]:
    """Collect the client's garbage before a measured round and freeze what is left, so
    that a full collection during the round scans only the round's own objects.

    A full collection of this process's heap (torch, transformers, pytest: ~300k
    objects) stops it for 50-150 ms on a small CPU, and one falling inside a round
    adds that pause to whichever request is waiting: seen as rare 40-120 ms TTFTs
    against a server that answers in 30 ms. Freezing (what vLLM does after start-up)
    keeps the collector running, so cyclic garbage of a long round is still freed;
    the heap is unfrozen after the round.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def new_salt() -> str:
    """A run's salt: 8 random hex digits (``--salt`` gives one to reproduce a run's prompts)."""
    import secrets

    return secrets.token_hex(4)


def round_tag(case_id: str, round_index: int, attempt: int = 0, salt: str = "") -> str:
    """A short tag unique to a run (its ``salt``), a case, a round and an attempt at it
    (see :meth:`openaiperf.tasks.Task.for_round`); every tag of a case has the same
    length, so a round measured again sends prompts as long as the first attempt's.
    Round -1 is the warmup."""
    import hashlib

    key = case_id if attempt == 0 else f"{case_id}#attempt{attempt}"
    if salt:
        key = f"{salt}/{key}"
    return f"[{hashlib.sha256(key.encode()).hexdigest()[:8]} r{round_index}]"


def rounds_of(records: Sequence[Record]) -> list[ScenarioRun]:
    """Measured windows rebuilt from records alone (one per round: first scheduled
    send to last completion), for a case whose scenario did not return its runs."""
    by_round: dict[int, list[Record]] = {}
    for record in records:
        by_round.setdefault(record.round, []).append(record)
    runs = []
    for index in sorted(by_round):
        members = by_round[index]
        done = [r.done for r in members if r.done is not None]
        start = min(r.scheduled for r in members)
        runs.append(ScenarioRun(records=members, start=start, end=max(done, default=start)))
    return runs


@dataclass
class RunSettings:
    max_samples: int | None = None
    repeats: int = 1
    subset_seed: int | None = None
    warmup_samples: int | None = None
    max_error_rate: float = 0.0
    monitor_interval_s: float = 0.1
    monitor: bool = True
    profile: str | None = None  # torch | nsys | ncu (nsys/ncu wrap the whole run)
    #: a round whose client stalled this long (ms; and a tenth of its latencies) is measured again (None: never)
    stall_limit_ms: float | None = STALL_LIMIT_MS
    #: how many times a round is measured again at most
    stall_retries: int = STALL_RETRIES
    #: the run's salt: every prompt's salt derives from it, the case, the round and the attempt
    salt: str = field(default_factory=new_salt)
    #: a cold workload (no sharing declared) whose server-side prefix-cache hit rate exceeds this is INVALID
    max_cold_hit_rate: float = 0.05


class CaseRunner:
    """Runs one case. Call :meth:`prepare`, then :meth:`measure_round` once per
    round (pytest-benchmark does, as its timed rounds), then :meth:`finish`."""

    def __init__(self, case: Case, *, task: Any, engine: Any, model: Any, hardware: Any, system: dict[str, Any] | None,
                 dtype: str, run_dir: Path, settings: RunSettings, progress: CaseProgress | None = None) -> None:
        self.case = case
        #: the live progress line (draws nothing unless given a terminal)
        self.progress = progress if progress is not None else CaseProgress(case.id, None)
        self.task = task
        self.engine = engine
        self.model = model
        self.hardware = hardware
        self.system = system
        self.dtype = dtype
        self.settings = settings
        self.result = CaseResult.for_case(case, hardware.name)
        self.records_path = name_in(run_dir / "records", case.id, field="case id", suffix=".jsonl")
        self.records_path.unlink(missing_ok=True)
        self.result.records_file = str(self.records_path.relative_to(run_dir))
        self.samples: list[Sample] = []
        self.requests: list[Any] = []
        self.runs: list[ScenarioRun] = []
        self.run_dir = run_dir
        gpu = hardware.device != "cpu"
        # A server's own /metrics, scraped around each round and on an interval.
        endpoint = engine.metrics_endpoint()
        self.server_metrics = ServerMetricsTracker(*endpoint) if endpoint is not None else None
        self.monitor = CaseMonitor(case.id, run_dir, enabled=settings.monitor, interval_s=settings.monitor_interval_s,
                                   metrics=("cpu", "gpu") if gpu else ("cpu",), prometheus=endpoint)
        #: each round's requests (the task's, as tagged for that round)
        self.round_requests: list[list[Any]] = []
        from openaiperf.profiling import create_case_profiler

        self.profiler = create_case_profiler(settings.profile, case.id, run_dir)
        # Online scenarios fall back to the task's SLA defaults.
        self.scenario = create_scenario(case.scenario, scenario_config(
            case.scenario_options, source=f"case {case.id}: scenario options",
            max_error_rate=settings.max_error_rate, task_sla=dict(task.spec.sla)))

    # -- phases -----------------------------------------------------------------------
    def prepare(self) -> None:
        """Load the samples, build the requests, and warm the engine up (not measured)."""
        max_samples = self.settings.max_samples if self.settings.max_samples is not None else self.case.max_samples
        self.samples = self.task.load_samples(max_samples, self.settings.subset_seed)
        self.requests = self.task.build_requests(self.samples, self.model)
        if body := self.task.spec.input_profile.request_body:
            self.requests = [dataclasses.replace(r, body={**(r.body or {}), **body}) for r in self.requests]
        # A task whose requests are not generation (perplexity scoring) serves them through its own adapter.
        self.engine = self.task.adapt_engine(self.engine)
        warmup = self.settings.warmup_samples
        if warmup is None:
            warmup = self.task.spec.warmup.samples
        if warmup > 0:
            # salted as a round of its own (-1): fresh per run, unlike any measured round's prompts
            self.warmup(self.task.for_round(self.requests[:warmup], self.round_tag(-1)))
        self.result.engine_info = self.engine.info()
        self.result.settings = CaseSettings(
            samples=len(self.samples), repeats=self.settings.repeats, subset_seed=self.settings.subset_seed,
            warmup_samples=warmup, dtype=self.dtype, max_new_tokens=self.task.spec.input_profile.max_new_tokens,
            salt=self.settings.salt if self.task.salts_prompts else None,
            prefix_sharing="declared" if self.task.declares_sharing() else "none")

    def round_tag(self, round_index: int, attempt: int = 0) -> str:
        """This case's tag of a round and an attempt at it, from the run's salt."""
        return round_tag(self.case.id, round_index, attempt, self.settings.salt)

    def warmup(self, requests: Sequence[Any]) -> None:
        from openaiperf.scenarios import new_records

        # Prompts of their own (a tag in front): a prefix cache must not serve the measured requests from warmup.
        # A multi-turn session warms up with its first turn.
        requests = [r.warmup_copy(i) for i, r in enumerate(requests)]
        requests = [r.request(1, []) if isinstance(r, Session) else r for r in requests]
        records = new_records(requests, -1)
        start = time.perf_counter()
        for record in records:
            record.scheduled = start
            record.warmup = True
        self.progress.begin("warmup", len(requests))
        self.engine.run(requests, records, self.progress.record_done)
        self.complete_records(records)

    def complete_records(self, records: Sequence[Record]) -> bool:
        """The engine's after-round step (e.g. the openai engine counts tokens per
        chunk with the client tokenizer here, off the event loop that timed them);
        True when it changed the records."""
        return bool(self.engine.complete_records(records))

    def measure_round(self, round_index: int) -> ScenarioRun:
        """One measured pass of the scenario over every request; records go to the
        JSONL file as they complete. An attempt in which the client stalled for
        ``stall_limit_ms`` or more is measured again (``stall_retries`` times at most):
        its records stay in the file, marked ``discarded``, and the case's ``stalls``
        list every attempt."""
        floor, retries = self.settings.stall_limit_ms, self.settings.stall_retries
        with RecordWriter(self.records_path, time.perf_counter()) as writer:
            attempt = 0
            while True:
                requests = self.task.for_round(self.requests, self.round_tag(round_index, attempt))
                run, stalls = self.measure_attempt(round_index, attempt, requests, writer)
                limit = None if floor is None else self.stall_limit(floor, run)
                over = limit is not None and stalls.longest_ms >= limit
                again = over and attempt < retries
                self.result.stalls.append(RoundStalls(
                    round=round_index, attempt=attempt, longest_ms=round(stalls.longest_ms, 3),
                    limit_ms=None if limit is None else round(limit, 3),
                    steal_ms=None if stalls.steal_ms is None else round(stalls.steal_ms, 3),
                    seconds=round(stalls.seconds, 6), over_limit=over, kept=not again))
                if not again:
                    break
                self.result.notes.append(f"round {round_index + 1}: measured again, the client stalled "
                                         f"{stalls.longest_ms:.0f} ms (limit {limit:.0f} ms)")
                self.discard_attempt(run, writer)
                attempt += 1
                time.sleep(STALL_PAUSE_S * attempt)  # a burst of stalls lasts a while: let it pass
        if over:
            self.result.notes.append(
                f"round {round_index + 1}: the client stalled {stalls.longest_ms:.0f} ms (limit {limit:.0f} ms) in "
                f"each of {attempt + 1} attempt(s): the last one is kept, and the baseline gate does not judge it")
        self.round_requests.append(requests)
        self.runs.append(run)
        return run

    def measure_attempt(self, round_index: int, attempt: int, requests: list[Any],
                        writer: RecordWriter) -> tuple[ScenarioRun, Stalls]:
        """One pass of the scenario over ``requests``, watched for stalls of the client."""
        again = " (measured again: the client stalled)" if attempt else ""
        of = (f"/{self.settings.repeats}" if round_index < self.settings.repeats
              else " (confirming a regression: --baseline-confirm)")
        self.progress.begin(f"round {round_index + 1}{of}{again}", len(requests))

        def completed(record: Record) -> None:
            writer.write(record)
            self.progress.advance()

        with collector_held_still():  # collected before the round's windows open
            self.monitor.start_round(round_index)
            if self.server_metrics is not None:
                self.server_metrics.begin()
            run: ScenarioRun | None = None
            try:
                with self.profiler.round(round_index), StallWatch() as watch:
                    run = self.scenario.run(self.engine, requests, completed, round_index)
            finally:
                summary = self.monitor.stop_round()
                if self.server_metrics is not None:
                    # the server counts the round's warmup requests too: they were sent inside it
                    self.server_metrics.end(round_index, sum(r.ok for r in run.records) if run else None,
                                            interval_peaks(summary))
        if self.complete_records(run.records):
            writer.rewrite()  # the lines appended at completion, now with the final token counts
        assert watch.stalls is not None
        return run, watch.stalls

    @staticmethod
    def stall_limit(floor_ms: float, run: ScenarioRun) -> float:
        """The stall that measures this attempt again, from its requests' latencies."""
        ok = [r for r in measured(run.records) if r.ok]
        ttft = [t for r in ok if (t := ttft_s(r)) is not None]
        decode = [e - t for r in ok if (t := ttft_s(r)) is not None and (e := e2e_s(r)) is not None]
        if not ttft:  # no token times: the whole request
            decode = [e for r in ok if (e := e2e_s(r)) is not None]
        return stall_limit_ms(floor_ms, ttft, decode)

    def discard_attempt(self, run: ScenarioRun, writer: RecordWriter) -> None:
        """An attempt that is measured again: its records marked discarded (on disk
        too), its resource readings and server-metric deltas dropped."""
        for record in run.records:
            record.discarded = True
        writer.rewrite()
        self.monitor.discard_round()
        if self.server_metrics is not None:
            self.server_metrics.discard_round()

    def fail(self, exc: BaseException) -> CaseResult:
        """The engine or scenario raised: keep what was measured, note the reason."""
        self.monitor.close()  # the sampler process, when the case ended before finish()
        self.result.status = "error"
        self.result.validity["completed"] = False  # an errored case is never a valid result
        self.result.error = f"{type(exc).__name__}: {exc}"
        self.result.notes.append("".join(traceback.format_exception_only(type(exc), exc)).strip())
        return self.result

    def interrupt(self, phase: str) -> CaseResult:
        """Ctrl-C inside the case: the result says so, and holds the metrics of the
        requests that completed before it (read back from the records file, which
        keeps every one of them). Quality is not judged on a partial sample set."""
        self.monitor.close()
        result = self.result
        result.status = "interrupted"
        result.validity["completed"] = False  # what finished is kept, but it is not a valid result
        result.error = f"KeyboardInterrupt: interrupted during {phase}"
        records = measured(read_records(self.records_path)) if self.records_path.exists() else []
        if records:
            runs = rounds_of(records)
            result.metrics = metric_values(self.compute_metrics(records, runs))
            result.rounds = [{name: m.value for name, m in self.compute_metrics(run.records, [run]).items()}
                             for run in runs]
        result.notes.append(f"interrupted (Ctrl-C) during {phase}: the metrics cover the {len(records)} measured "
                            f"request(s) completed before it, kept in {result.records_file}; quality not judged")
        return result

    def finish(self) -> CaseResult:
        """Metrics over all measured rounds, quality of the first, and the gates."""
        result = self.result
        records = [r for run in self.runs for r in measured(run.records)]
        metrics = self.compute_metrics(records, self.runs)
        result.rounds = self.round_values(self.round_metrics(metrics))
        basis = self.efficiency_basis
        result.settings.efficiency = basis
        result.notes.extend(f"efficiency: {note}" for note in self.precision.notes)
        if getattr(self.model, "random_weights", False):
            result.notes.append(f"weights: {self.model.weights_description()}: performance only, the answers "
                                "are meaningless")
        if not self.model_cost.exact:
            result.notes.append(f"efficiency: {self.model.name} has no architecture in the model registry: FLOPs are "
                                "2 x parameters per processed token (embeddings, LM head and attention approximate)")
        resources = self.summarize_resources()
        result.resources = ResourceSummary.model_validate(resources)
        metrics["peak_memory"] = Metric((result.resources.peak_process_rss_bytes or 0) / 2**20 or None, "MiB",
                                        Better.LOWER)
        metrics |= energy_metrics(resources, metrics["output_tokens"].value or 0,
                                  sum(run.end - run.start for run in self.runs) or None)
        profile = self.profiler.finish()
        result.profile = CaseProfile.model_validate(profile) if profile else None
        result.notes.extend(self.profiler.notes)
        if self.runs:
            first = measured(self.runs[0].records)
            quality = self.task.evaluate(self.samples, first, self.model)
            result.quality = CaseQuality.of(quality)
            for name, value in quality.scores.items():
                target = next((q for q in self.task.spec.metrics.quality if q.name == name), None)
                unit = target.unit if target else ""
                better = Better.LOWER if target is not None and target.lower_is_better else Better.HIGHER
                ci = quality.intervals.get(name)
                low, high = ci or (None, None)
                metrics[name] = Metric(value, unit, better, low, high, label=target.label if target else None)
        # Task-specific throughput (e.g. scored tokens/s of a scoring workload).
        metrics.update(self.task.case_metrics(records, self.runs))
        metrics.update(self.workload_metrics(result))
        scenario_settings: dict[str, Any] = {}
        for run in self.runs:
            for name, ok in run.constraints.items():
                result.validity[name] = result.validity.get(name, True) and ok
            result.notes.extend(n for n in run.notes if n not in result.notes)
            scenario_settings.update(run.settings)
        if self.runs:
            result.settings.scenario = ScenarioSettings.model_validate(scenario_settings)
        from openaiperf.metrics.tokens import token_count_mismatch

        mismatch = token_count_mismatch(records)
        if mismatch is not None:
            metrics |= mismatch.metrics
            if mismatch.note:
                result.notes.append(mismatch.note)
        result.metrics = metric_values(metrics)
        result.notes.extend(timing_notes(records))
        if not self.engine.concurrent and self.scenario.overlapping:
            result.notes.append(f"{self.case.engine} serves one request at a time: requests queue in front of it")
        self.apply_gates(result)
        return result

    def round_metrics(self, metrics: MetricSet | None = None) -> list[MetricSet]:
        """Each measured round's metrics (for the gate's test); ``metrics``: those of every
        round together, which are the one round's when there is one."""
        if metrics is not None and len(self.runs) == 1:
            return [metrics]
        return [self.compute_metrics(measured(run.records), [run]) for run in self.runs]

    @staticmethod
    def round_values(per_round: Sequence[MetricSet]) -> list[dict[str, float | None]]:
        return [{name: m.value for name, m in round_metrics.items()} for round_metrics in per_round]

    def rounds_so_far(self) -> CaseResult:
        """The case as measured so far, before :meth:`finish`: its rounds, and the metric
        units and directions of the first (what the baseline gate judges)."""
        result = self.result.model_copy(deep=True)
        per_round = self.round_metrics()
        result.rounds = self.round_values(per_round)
        if per_round:
            result.metrics = metric_values(per_round[0])
        return result

    def workload_metrics(self, result: CaseResult) -> MetricSet:
        """Sessions by turn, the server's own metrics, what an ideal prefix cache would
        serve, and batch invariance (each where it applies); the typed parts into ``result``."""
        metrics: MetricSet = {}
        records = [r for run in self.runs for r in measured(run.records)]
        sessions = session_table(records)
        if sessions is not None:
            result.sessions = SessionSummary.model_validate(sessions)
        tracker = self.server_metrics
        block_size = None
        if tracker is not None:
            result.notes.extend(note for note in tracker.notes if note not in result.notes)
            if tracker.rounds and tracker.names is not None:
                from openaiperf.redact import redact_text

                block_size = tracker.block_size
                result.server_metrics = ServerMetricsSummary(
                    server=tracker.names.server, url=redact_text(tracker.url), block_size=block_size,
                    names={**tracker.names.scalars, **tracker.names.histograms},
                    rounds=[ServerRound.model_validate({k: v for k, v in vars(r).items() if k != "server"})
                            for r in tracker.rounds])
                # the server counted every request of the rounds, warmup ones included
                metrics |= server_metrics(combine(tracker.rounds), [r for run in self.runs for r in run.records])
        metrics |= self.task.prefix_cache_metrics(self.runs, block_size)
        if self.case.scenario_options.get("batch_invariance") and self.runs:
            metrics |= self.check_batch_invariance(result)
        return metrics

    def check_batch_invariance(self, result: CaseResult) -> MetricSet:
        """Every request of the first round again, one at a time (concurrency 1), and each
        measured greedy answer compared with its reference (:mod:`openaiperf.metrics.invariance`)."""
        from openaiperf.metrics.invariance import compare_outputs

        requests = self.round_requests[0]
        greedy = all(r.temperature == 0 for r in requests)
        if not greedy:
            result.notes.append("batch invariance: not measured (the requests sample: temperature > 0)")
            return {}
        start = time.perf_counter()
        reference = self.reference_pass(requests)
        elapsed = time.perf_counter() - start
        tokenizer = self.engine_tokenizer()
        outcome = compare_outputs(measured(self.runs[0].records), {r.request_id: r for r in reference},
                                  (lambda text: list(tokenizer(text, add_special_tokens=False)["input_ids"]))
                                  if tokenizer is not None else None)
        result.batch_invariance = BatchInvariance(
            compared=outcome.compared, identical=outcome.identical, rate=outcome.rate,
            first_difference=outcome.first_difference, position_unit=outcome.position_unit,  # type: ignore[arg-type]
            unmatched=outcome.unmatched, reference_requests=len(reference), reference_s=elapsed)
        result.notes.append(f"batch invariance: {outcome.identical} of {outcome.compared} greedy answer(s) under "
                            f"load identical to the same request alone (reference pass: {len(reference)} "
                            f"request(s) one at a time, {elapsed:.1f} s, not measured)")
        return {"batch_invariance": Metric(outcome.rate, "fraction", Better.HIGHER)}

    def reference_pass(self, requests: Sequence[Any]) -> list[Record]:
        """``requests`` (or sessions) one at a time, not measured; their records."""
        from openaiperf.loadgen.dispatcher import engine_sender, run_dispatch
        from openaiperf.loadgen.sessions import dispatch_sessions_closed, is_sessions
        from openaiperf.scenarios import new_records

        if is_sessions(requests):
            send = engine_sender(self.engine)
            done = run_dispatch(self.engine, lambda: dispatch_sessions_closed(requests, 1, send, lambda r: None,
                                                                              round_index=-1, think=False))
            records = done.records
        else:
            records = new_records(requests, -1)
            for request, record in zip(requests, records):
                record.scheduled = time.perf_counter()
                self.engine.run([request], [record], lambda r: None)
        self.complete_records(records)
        return records

    def engine_tokenizer(self) -> Any:
        """The engine's tokenizer when it has one, else the model's (None when neither loads)."""
        tokenizer = getattr(self.engine, "tokenizer", None)  # engines keep it as an attribute, if at all
        if tokenizer is not None:
            return tokenizer
        try:
            from openaiperf.tasks.tokenizer import tokenizer_for

            return tokenizer_for(self.model, self.case.task)
        except Exception:
            return None

    def compute_metrics(self, records: Sequence[Record], runs: Sequence[ScenarioRun]) -> MetricSet:
        metrics = latency_metrics(records) | throughput_metrics(records)
        tokens = int((metrics["input_tokens"].value or 0) + (metrics["output_tokens"].value or 0))
        # Rounds are separate windows: add their durations rather than span them.
        seconds = sum(run.end - run.start for run in runs) or None
        del tokens  # the FLOPs are counted per request, from the architecture
        basis = self.efficiency_basis
        metrics |= efficiency_metrics(records, self.model_cost, seconds, basis.peak_flops,
                                      basis.bandwidth_bytes_per_s)
        metrics |= self.scenario.metrics(records, runs)  # e.g. goodput, peak QPS
        metrics |= session_metrics(records)  # multi-turn workloads: TTFT of first and later turns...
        metrics |= reasoning_metrics(records)  # reasoning models: TTFO, reasoning and answer tokens
        metrics |= chunk_metrics(records)  # multi-token chunks (speculative decoding's steps)
        return metrics

    def summarize_resources(self) -> dict[str, Any]:
        """The monitor's summary over all rounds (writes the timeline CSV), with the
        energy of the reported windows only: a monitored round also covers warmup
        requests and find-peak trials, which the tokens energy is divided by do not."""
        resources = self.monitor.finish()
        whole = {key: resources.pop(key) for key in list(resources)
                 if key == "energy_j" or (key.startswith("gpu") and key.endswith(("_energy_j", "_energy_source")))}
        if "energy_j" in whole:
            resources["monitored_energy_j"] = whole["energy_j"]
        windows = [(run.start, run.end) for run in self.runs]
        if windows and whole:
            resources |= self.monitor.window_energy(windows)
            resources["energy_scope"] = (f"the {len(windows)} reported window(s), first scheduled send to last "
                                         "completion (warmup requests and find-peak trials excluded)")
        return resources

    @property
    def weights(self) -> str | None:
        """Where the engine loaded the model from (its config.json tells the KV-cache shape)."""
        context = self.engine.context
        return context.weights if context is not None else None

    @cached_property
    def kv_geometry(self) -> Any:
        """The model's KV-cache shape from its config.json: read once per case, not once per round."""
        return load_kv_geometry(self.weights)

    @cached_property
    def precision(self) -> Precision:
        """What the engine computes and stores in, on how many devices (engine options and
        the checkpoint's quantization_config over the case's dtype)."""
        return effective_precision(self.dtype, self.case.engine_options, load_quantization_config(self.weights))

    @cached_property
    def efficiency_basis(self) -> EfficiencyBasis:
        """The peak FLOP/s and bandwidth MFU and MBU divide by, and where they come from
        (recorded in the result's settings)."""
        precision = self.precision
        per_device, source = self.hardware.peak(precision.compute_dtype, self.system)
        bandwidth = self.hardware.bandwidth_bytes_per_s(self.system)
        return EfficiencyBasis(
            **precision.to_json(),
            peak_flops_per_device=per_device,
            peak_flops=per_device * precision.devices if per_device else None,
            peak_source=source,
            bandwidth_bytes_per_s_per_device=bandwidth,
            bandwidth_bytes_per_s=bandwidth * precision.devices if bandwidth else None,
        )

    @cached_property
    def model_cost(self) -> ModelCost:
        """The model's FLOPs and bytes per forward pass (its architecture; the stored precision)."""
        precision = self.precision
        return ModelCost(parameters=self.model.parameters,
                         weight_bytes_per_parameter=precision.weight_bytes_per_parameter,
                         kv_bytes_per_value=precision.kv_bytes_per_value,
                         architecture=getattr(self.model, "architecture", None), kv=self.kv_geometry)

    def check_utilisation(self, result: CaseResult) -> None:
        """MFU or MBU above 100% is a bug (the FLOPs, the bytes or the peak are wrong):
        the case is INVALID, naming the figure, never clipped."""
        over = {name: value for name in UTILISATION_METRICS
                if (metric := result.metrics.get(name)) is not None and (value := metric.value) is not None
                and value > 1.0}
        if not over:
            return
        result.validity["utilisation_at_most_100_percent"] = False
        basis = result.settings.efficiency
        source = basis.peak_source if basis is not None else None
        figures = ", ".join(f"{name} {value:.1%}" for name, value in over.items())
        result.notes.append(f"efficiency: {figures} above 100%: a bug in the FLOP or byte count or an understated "
                            f"peak ({source or 'peak of unknown source'}); reported as measured")

    def check_cold(self, result: CaseResult) -> None:
        """A workload that declares no sharing must reach the server cold: where the server
        counted prefix-cache hits, a hit rate above ``max_cold_hit_rate`` makes the case INVALID."""
        metric = result.metrics.get("prefix_cache_hit_rate")
        if metric is None or metric.value is None or self.task.declares_sharing():
            return
        bound = self.settings.max_cold_hit_rate
        ok = metric.value <= bound
        result.validity["cold_prefix_cache"] = ok
        if not ok:
            result.notes.append(
                f"prefix cache: the server served {metric.value:.1%} of this cold workload's prompt tokens from its "
                f"cache (bound {bound:.0%}, --max-cold-hit-rate): its TTFT is not a cold one")

    def apply_gates(self, result: CaseResult) -> None:
        error_rate = result.metrics["error_rate"].value or 0.0
        if error_rate > self.settings.max_error_rate:
            from openaiperf.redact import redact_text

            # the message reaches the terminal and JUnit too: an error may quote an endpoint with credentials
            # measured requests only, as the error rate (warmup is never measured)
            errors = [redact_text(r.error) for run in self.runs for r in measured(run.records) if r.error]
            result.failures.append(
                f"error rate {error_rate:.1%} exceeds {self.settings.max_error_rate:.1%} "
                f"({len(errors)} failed requests; first: {errors[0] if errors else '?'})"
            )
        if result.quality is not None:
            for check in result.quality.checks.values():
                if not check.passed:
                    result.failures.append(f"quality: {check.detail}")
        self.check_cold(result)
        self.check_utilisation(result)
        if not result.valid:
            unmet = [name for name, ok in result.validity.items() if not ok]
            result.notes.append(f"INVALID: constraint(s) not met: {', '.join(unmet)}")
        if result.failures and result.status == "passed":
            result.status = "failed"
