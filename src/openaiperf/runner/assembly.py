"""Metric and energy assembly: records and the monitor's readings into a case result."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from openaiperf.metrics import Better, Metric, MetricSet
from openaiperf.metrics.efficiency import ModelCost, efficiency_metrics, energy_metrics, load_kv_geometry
from openaiperf.metrics.latency import chunk_metrics, latency_metrics, timing_notes
from openaiperf.metrics.pooling import pooling_metrics, without_generation
from openaiperf.metrics.precision import Precision, effective_precision, load_quantization_config
from openaiperf.metrics.reasoning import reasoning_metrics
from openaiperf.metrics.server import server_metrics
from openaiperf.metrics.sessions import session_metrics, session_table
from openaiperf.metrics.throughput import throughput_metrics
from openaiperf.metrics.tokens import token_count_mismatch
from openaiperf.monitor.prometheus import combine
from openaiperf.records import Record, measured
from openaiperf.redact import redact_text
from openaiperf.result import (
    CaseProfile,
    CaseQuality,
    CaseResult,
    EfficiencyBasis,
    ResourceSummary,
    ScenarioSettings,
    ServerMetricsSummary,
    ServerRound,
    SessionSummary,
    metric_values,
)
from openaiperf.runner.gates import CaseGates
from openaiperf.runner.invariance import BatchInvarianceCheck
from openaiperf.scenarios import ScenarioRun
from openaiperf.tasks.pooling import PoolingTask


class MetricAssembly(CaseGates, BatchInvarianceCheck):
    """The case's metrics: latency, throughput, efficiency, energy, quality, the server's
    and the workload's, over all rounds and per round; then the gates."""

    def finish(self) -> CaseResult:
        """Metrics over all measured rounds, quality of the first, and the gates."""
        result = self.result
        records = [r for run in self.runs for r in measured(run.records)]
        metrics = self.compute_metrics(records, self.runs)
        result.rounds = self.round_values(self.round_metrics(metrics))
        basis = self.efficiency_basis
        result.settings.efficiency = basis
        result.notes.extend(f"efficiency: {note}" for note in self.precision.notes)
        if self.model.random_weights:
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
        if isinstance(self.task, PoolingTask):  # the shape of the pooling answers: validity, not quality
            for name, (valid, why) in self.task.validity(records).items():
                result.validity[name] = result.validity.get(name, True) and valid
                result.notes.append(f"{name}: {why}")

        mismatch = token_count_mismatch(records)
        if mismatch is not None:
            metrics |= mismatch.metrics
            if mismatch.note:
                result.notes.append(mismatch.note)
        if isinstance(self.task, PoolingTask):  # the energy per generated token, too
            metrics = without_generation(metrics)
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
                block_size = tracker.block_size
                result.server_metrics = ServerMetricsSummary(
                    server=tracker.names.server, url=redact_text(tracker.url), block_size=block_size,
                    names={**tracker.names.scalars, **tracker.names.histograms},
                    rounds=[ServerRound.model_validate(r.model_dump(exclude={"server"}))
                            for r in tracker.rounds])
                # the server counted every request of the rounds, warmup ones included
                metrics |= server_metrics(combine(tracker.rounds), [r for run in self.runs for r in run.records])
        metrics |= self.task.prefix_cache_metrics(self.runs, block_size)
        if self.case.scenario_options.get("batch_invariance") and self.runs:
            metrics |= self.check_batch_invariance(result)
        return metrics

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
        if isinstance(self.task, PoolingTask):  # embeddings, rerank: inputs/s; nothing generated
            metrics = without_generation(metrics) | pooling_metrics(records)
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
                         architecture=self.model.architecture, kv=self.kv_geometry)
