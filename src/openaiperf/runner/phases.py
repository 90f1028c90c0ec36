"""Running one case, phase by phase: prepare and warm up, measured rounds (with stall retries),
finish (metrics and gates), or fail / interrupt with what was measured."""

from __future__ import annotations

import time
import traceback

from openaiperf.records import Workload, is_sessions, measured, read_records
from openaiperf.result import CaseResult, CaseSettings, EngineInfo, metric_values
from openaiperf.runner.assembly import MetricAssembly
from openaiperf.runner.rounds import rounds_of
from openaiperf.runner.stall_retry import StallRetry
from openaiperf.scenarios import new_records
from openaiperf.tasks.thinking import request_bodies


class CaseRunner(StallRetry, MetricAssembly):
    """Runs one case. Call :meth:`prepare`, then :meth:`measure_round` once per
    round (pytest-benchmark does, as its timed rounds), then :meth:`finish`."""

    # -- phases -----------------------------------------------------------------------
    def prepare(self) -> None:
        """Load the samples, build the requests, and warm the engine up (not measured)."""
        max_samples = self.settings.max_samples if self.settings.max_samples is not None else self.case.max_samples
        self.samples = self.task.load_samples(max_samples, self.settings.subset_seed)
        self.requests = self.task.build_requests(self.samples, self.model)
        profile = self.task.spec.input_profile
        # the task's request_body for every request, a sample's own thinking budget over it
        self.requests = request_bodies(self.requests, self.samples, profile.request_body, profile.thinking_budget,
                                       source=str(self.task.source or self.task.spec.name))
        # A task whose requests are not generation (perplexity scoring) serves them through its own adapter.
        self.engine = self.task.adapt_engine(self.engine)
        warmup = self.settings.warmup_samples
        if warmup is None:
            warmup = self.task.spec.warmup.samples
        if warmup > 0:
            # salted as a round of its own (-1): fresh per run, unlike any measured round's prompts
            self.warmup(self.task.for_round(self.requests[:warmup], self.round_tag(-1)))
        self.result.engine_info = EngineInfo.model_validate(self.engine.info())
        self.result.settings = CaseSettings(
            samples=len(self.samples), repeats=self.settings.repeats, subset_seed=self.settings.subset_seed,
            warmup_samples=warmup, dtype=self.dtype, max_new_tokens=self.task.spec.input_profile.max_new_tokens,
            salt=self.settings.salt if self.task.salts_prompts else None,
            prefix_sharing="declared" if self.task.declares_sharing() else "none")

    def warmup(self, workload: Workload) -> None:
        # Prompts of their own (a tag in front): a prefix cache must not serve the measured requests from warmup.
        # A multi-turn session warms up with its first turn.
        if is_sessions(workload):
            requests = [s.warmup_copy(i).request(1, []) for i, s in enumerate(workload)]
        else:
            requests = [r.warmup_copy(i) for i, r in enumerate(workload)]
        records = new_records(requests, -1)
        start = time.perf_counter()
        for record in records:
            record.scheduled = start
            record.warmup = True
        self.progress.begin("warmup", len(requests))
        self.engine.run(requests, records, self.progress.record_done)
        self.complete_records(records)

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
