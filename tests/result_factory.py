"""Typed run results for the writer tests: a run folder with per-request records
whose latencies the tests choose, and case results with every optional part
present (quality, resources, settings, profile, fingerprint, a real baseline
verdict) or absent (an interrupted case, an error case, no quality, no baseline).
The metrics are computed from the records by the suite's own metric functions,
so the numbers a writer shows have a known truth."""

from __future__ import annotations

from pathlib import Path

from openaiperf.baselines.compare import baseline_from_case
from openaiperf.baselines.fingerprint import configuration
from openaiperf.baselines.gate import GateSettings, judge
from openaiperf.metrics.latency import latency_metrics
from openaiperf.metrics.throughput import throughput_metrics
from openaiperf.records import Record, RecordWriter
from openaiperf.result import (
    CaseProfile,
    CaseQuality,
    CaseResult,
    CaseSettings,
    EfficiencyBasis,
    MetricValue,
    QualityCheck,
    ResourceSummary,
    RunResult,
    ScenarioSettings,
    metric_values,
)

SYSTEM = {"hardware": {"cpu": {"model": "AMD EPYC", "cores": 2, "threads": 2}, "accelerators": [],
                       "memory": {"total_gb": 23.5}},
          "software": {"os": "Linux", "python": "3.11.7", "packages": {"torch": "2.13.0+cpu"}},
          "probed_at": "2026-11-21T12:00:00+00:00"}
CONFIG = {"hardware_profile": {"name": "cpu", "device": "cpu"}, "options": {"repeats": 3},
          "pytest_args": ["benchmarks", "--hw", "cpu"]}


def make_records(ttft_ms: float, tpot_ms: float, requests: int = 8, tokens: int = 6,
                 rounds: int = 1) -> list[Record]:
    """``requests`` records per round, one after the other, each with TTFT ``ttft_ms`` (+ a
    step per request, so percentiles differ) and a token every ``tpot_ms``."""
    records = []
    t = 0.0
    for round_index in range(rounds):
        for i in range(requests):
            record = Record(request_id=f"r{round_index}-{i}", sample_id=f"s{i}", round=round_index, scheduled=t,
                            sent=t, input_tokens=20, output_tokens=tokens)
            first = t + (ttft_ms + i) / 1000
            for k in range(tokens):
                record.mark_token(first + k * tpot_ms / 1000)
            record.done = record.chunk_times[-1]
            records.append(record)
            t = record.done
    return records


def write_records(run_dir: Path, case_id: str, records: list[Record]) -> str:
    """The records as the case's JSONL file; returns its path relative to ``run_dir``."""
    path = run_dir / "records" / f"{case_id}.jsonl"
    with RecordWriter(path, 0.0) as writer:
        for record in records:
            writer.write(record)
    return str(path.relative_to(run_dir))


def measured_case(run_dir: Path, case_id: str = "summarization.xsum-offline-hf-m", *, ttft_ms: float = 20.0,
                  tpot_ms: float = 5.0, rounds: int = 3, **fields: object) -> CaseResult:
    """A passed case with its records on disk and its metrics (and per-round values) computed from them."""
    task, scenario, engine, model = case_id.split("[")[0].split("-", 3)
    records = make_records(ttft_ms, tpot_ms, rounds=rounds)
    per_round = [[r for r in records if r.round == i] for i in range(rounds)]
    metrics = latency_metrics(records) | throughput_metrics(records)
    values: dict[str, object] = {
        "id": case_id, "task": task, "scenario": scenario, "engine": engine, "model": model, "hardware": "cpu",
        "validity": {"min_queries": True, "min_duration": True}, "metrics": metric_values(metrics),
        "rounds": [{name: m.value for name, m in (latency_metrics(r) | throughput_metrics(r)).items()}
                   for r in per_round],
        "records_file": write_records(run_dir, case_id, records),
        "engine_info": {"engine": engine, "transformers": "5.19.0", "device": "cpu"},
        "settings": CaseSettings(samples=8, repeats=rounds, dtype="float32", warmup_samples=0, max_new_tokens=6),
    }
    return CaseResult.model_validate(values | fields)


def full_case(run_dir: Path) -> CaseResult:
    """A case with every optional part: quality, resources, efficiency and scenario settings,
    a profile, notes, a fingerprint and a real baseline verdict (a regression)."""
    case = measured_case(run_dir, "summarization.xsum-server-hf-m[qps_target=2]", ttft_ms=30.0, variant="qps_target=2",
                         base_id="summarization.xsum-server-hf-m", scenario_options={"qps_target": 2.0},
                         task_options={"max_new_tokens": 6})
    case.quality = CaseQuality(scores={"rouge1": 0.31}, intervals={"rouge1": (0.25, 0.37)},
                               checks={"rouge1": QualityCheck(passed=False, detail="rouge1 0.31 < 0.99 x 0.36")},
                               details={"scored_samples": 8, "dataset_source": "package:xsum_mini.csv"})
    case.metrics["rouge1"] = MetricValue(value=0.31, unit="F1", better="higher", ci_low=0.25, ci_high=0.37)
    case.resources = ResourceSummary(samples=12, interval_s=0.1, rounds=3, peak_process_rss_bytes=2.5e8,
                                     sampled_in="process", gpu0_util_mean=55.0)
    case.settings.efficiency = EfficiencyBasis(compute_dtype="fp32", activation_dtype="fp32",
                                               weight_bytes_per_parameter=4, kv_bytes_per_value=4, devices=1,
                                               peak_flops=2.6e11, peak_source="estimated")
    case.settings.scenario = ScenarioSettings.model_validate(
        {"qps_target": 2.0, "loop": "open", "achieved_qps": 1.98, "sla": {"ttft_p99_ms": 2000.0, "tpot_p99_ms": 200.0},
         "find_peak": {"peak_qps": 2.0, "trials": [{"qps": 2.0, "valid": True}], "tolerance": 0.1},
         "custom_setting": "kept"})
    case.profile = CaseProfile(tool="torch", round=0, sorted_by="self_cpu_ms", trace_file="profiles/x.trace.json",
                               top_ops=[{"name": "aten::mm", "calls": 3, "self_cpu_ms": 1.5, "self_cpu_percent": 60.0,
                                         "self_device_ms": 0.0, "self_device_percent": 0.0}])
    case.notes.append("SLA p99 TTFT <= 2000 ms")
    case.fingerprint = configuration(case, system=SYSTEM, hardware="cpu", device="cpu", openaiperf_version="0.1.0")
    baseline = baseline_from_case(measured_case(run_dir, case.base_id + "-baseline", ttft_ms=20.0, rounds=4),
                                  case.fingerprint)
    outcome = judge(baseline, baseline_from_case(case), GateSettings(), task_spec=None)
    case.failures += [*outcome.failures, "quality: rouge1 0.31 < 0.99 x 0.36"]
    case.baseline = outcome.to_result()
    case.status = "failed"
    return case


def interrupted_case(run_dir: Path) -> CaseResult:
    """Ctrl-C after two requests: metrics of what completed, no quality, no baseline."""
    records = make_records(15.0, 4.0, requests=2)
    metrics = latency_metrics(records) | throughput_metrics(records)
    return CaseResult(id="chat.sharegpt-single_stream-vllm-m", task="chat.sharegpt", scenario="single_stream",
                      engine="vllm", model="m", hardware="cpu", status="interrupted",
                      error="KeyboardInterrupt: interrupted during measurement", metrics=metric_values(metrics),
                      rounds=[{name: m.value for name, m in metrics.items()}],
                      records_file=write_records(run_dir, "chat.sharegpt-single_stream-vllm-m", records),
                      notes=["interrupted (Ctrl-C) during measurement"])


def error_case() -> CaseResult:
    """An engine that failed to start: nothing measured, no records."""
    return CaseResult(id="chat.sharegpt-offline-openai-m", task="chat.sharegpt", scenario="offline", engine="openai",
                      model="m", hardware="cpu", status="error",
                      error="engine failed to start: EngineError: out of memory")


def full_run(run_dir: Path) -> RunResult:
    """Every optional part present: a failed case with quality, profile, fingerprint and
    baseline; an INVALID case; a calibration item."""
    invalid = measured_case(run_dir, "summarization.xsum-interactive-vllm-m", ttft_ms=40.0, rounds=1,
                            validity={"min_queries": True, "ttft_p99_sla": False})
    invalid.notes.append("INVALID: constraint(s) not met: ttft_p99_sla")
    calibration = CaseResult(id="calibration-cpu", task="calibration", scenario="-", engine="torch", model="-",
                             hardware="cpu", calibration={"gemm_tflops": 0.2, "device": "cpu"},
                             metrics={"gemm_tflops": MetricValue(value=0.2, unit="TFLOP/s", better="higher")})
    return RunResult(created="2026-11-21T12:00:00+00:00", system=SYSTEM, config=CONFIG,
                     cases=[full_case(run_dir), invalid, calibration])


def minimal_run(run_dir: Path) -> RunResult:
    """Every optional part absent: an interrupted case, an error case, and a plain case
    without quality or baseline."""
    plain = measured_case(run_dir, "synthetic.random-offline-hf-m", rounds=1)
    return RunResult(created="2026-11-21T12:00:00+00:00", cases=[interrupted_case(run_dir), error_case(), plain])
