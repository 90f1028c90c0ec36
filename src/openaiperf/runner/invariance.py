"""Batch invariance: every request of the first round again, one at a time, compared with its
answer under load."""

from __future__ import annotations

import time
from typing import Any

from openaiperf.loadgen.dispatcher import engine_sender, run_dispatch
from openaiperf.loadgen.sessions import dispatch_sessions_closed
from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.invariance import compare_outputs
from openaiperf.records import Record, Workload, is_sessions, measured
from openaiperf.result import BatchInvariance, CaseResult
from openaiperf.runner.state import RunnerState
from openaiperf.scenarios import new_records
from openaiperf.tasks.tokenizer import tokenizer_for


class BatchInvarianceCheck(RunnerState):
    """Greedy answers under load compared with the same requests sent alone."""

    def check_batch_invariance(self, result: CaseResult) -> MetricSet:
        """Every request of the first round again, one at a time (concurrency 1), and each
        measured greedy answer compared with its reference (:mod:`openaiperf.metrics.invariance`)."""
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

    def reference_pass(self, requests: Workload) -> list[Record]:
        """``requests`` (or sessions) one at a time, not measured; their records."""
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
        tokenizer = self.engine.tokenizer
        if tokenizer is not None:
            return tokenizer
        try:
            return tokenizer_for(self.model, self.case.task)
        except Exception:
            return None
