"""A case's gates: error rate, quality targets, a cold prefix cache, utilisation at most 100%."""

from __future__ import annotations

from openaiperf.metrics.efficiency import UTILISATION_METRICS
from openaiperf.records import measured
from openaiperf.redact import redact_text
from openaiperf.result import CaseResult
from openaiperf.runner.state import RunnerState


class CaseGates(RunnerState):
    """The pass/fail and validity checks of a finished case."""

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
