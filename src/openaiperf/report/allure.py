"""Allure results through allure-pytest (active with ``--alluredir``).

Per case: parameters and labels (task, scenario, engine, model, hw), the metrics
JSON, a per-request CSV and the latency plots as attachments; steps provision /
warmup / measure / gate are opened by the case fixture with :func:`step`. Per
run: ``environment.properties`` from the system probe and ``categories.json``.
Without allure-pytest installed or without ``--alluredir`` everything here is a no-op.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from openaiperf.baselines.compare import per_request_latencies
from openaiperf.metrics.latency import MS, e2e_s, tpot_s, ttft_s
from openaiperf.paths import path_in
from openaiperf.records import measured, read_records
from openaiperf.redact import redact_text
from openaiperf.report import verdict
from openaiperf.report.results import redact_case
from openaiperf.result import CaseResult, SystemInfo

CATEGORIES = [
    {"name": "performance regression", "matchedStatuses": ["failed"],
     "messageRegex": "(?s).*performance regression.*"},
    {"name": "quality regression", "matchedStatuses": ["failed"], "messageRegex": "(?s).*quality:.*"},
    {"name": "baseline inconclusive (--baseline-strict)", "matchedStatuses": ["failed"],
     "messageRegex": "(?s).*baseline inconclusive.*"},
    {"name": "baseline refused (configuration differs)", "matchedStatuses": ["failed"],
     "messageRegex": "(?s).*refusing to compare with.*"},
    {"name": "SLA miss", "matchedStatuses": ["failed"], "messageRegex": "(?s).*(SLA|sla|INVALID).*"},
    {"name": "engine error", "matchedStatuses": ["broken", "failed"],
     "messageRegex": "(?s).*(EngineError|engine failed to start|engine .* failed).*"},
]
CSV_FIELDS = ("request_id", "sample_id", "round", "scheduled", "sent", "first_token", "done", "input_tokens",
              "output_tokens", "ttft_ms", "tpot_ms", "e2e_ms", "error")


def _allure() -> Any:
    try:
        import allure
    except ImportError:
        return None
    return allure


def enabled(config: Any) -> bool:
    return _allure() is not None and bool(getattr(config.option, "allure_report_dir", None))


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """An Allure step (a no-op when allure-pytest is not installed or not reporting)."""
    allure = _allure()
    if allure is None:
        yield
        return
    with allure.step(title):
        yield


def records_csv(path: Path) -> str:
    """The case's JSONL records as CSV with the derived latencies (ms)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for record in measured(read_records(path)):
        row = {k: getattr(record, k) for k in CSV_FIELDS if hasattr(record, k)}
        for name, fn in (("ttft_ms", ttft_s), ("tpot_ms", tpot_s), ("e2e_ms", e2e_s)):
            value = fn(record) if record.ok else None
            row[name] = None if value is None else round(value * MS, 3)
        writer.writerow(row)
    return buffer.getvalue()


#: what the metrics.json attachment of a case shows
ATTACHED_FIELDS = ("metrics", "rounds", "quality", "validity", "baseline")


def attach_case(case: CaseResult, session: Any) -> None:
    """Label the running test and attach the case's metrics, records and plots."""
    if not enabled(session.config):
        return
    allure = _allure()
    values = {"task": case.task, "scenario": case.scenario, "engine": case.engine, "model": case.model,
              "hw": case.hardware}
    for name, value in values.items():
        allure.dynamic.parameter(name, str(value))
        allure.dynamic.label(name, str(value))
    allure.dynamic.label("parentSuite", str(values["task"]))
    allure.dynamic.label("suite", str(values["scenario"]))
    allure.dynamic.label("subSuite", f"{values['engine']} {values['model']}")
    allure.dynamic.tag(str(values["hw"]))
    attach_verdict(allure, case)

    dumped = case.model_dump(mode="json")
    shown = redact_case({key: dumped[key] for key in ATTACHED_FIELDS})
    allure.attach(json.dumps(shown, indent=2, default=str), name="metrics.json",
                  attachment_type=allure.attachment_type.JSON)
    run_dir = session.ensure_run_dir()
    records = path_in(run_dir, case.records_file, field="records_file") if case.records_file else None
    if records is None or not records.exists():
        return
    allure.attach(records_csv(records), name="requests.csv", attachment_type=allure.attachment_type.CSV)
    from openaiperf.report import figures  # matplotlib: the report extra, needed only here

    latencies = {case.id: per_request_latencies(read_records(records))}
    for name, figure in (("latency CDF", figures.latency_cdf(latencies)),
                         ("TTFT and TPOT histograms", figures.ttft_tpot_histograms(latencies))):
        if figure is not None:
            allure.attach(figures.png_bytes(figure), name=f"{name}.png", attachment_type=allure.attachment_type.PNG)


def verdict_text(case: CaseResult) -> str:
    """The baseline verdict of a case as plain text: the outcome, what would settle
    it, configuration differences, and one line per metric."""
    entry = case.baseline
    lines = [f"baseline verdict: {verdict.label(case)}"]
    if entry is not None:
        if entry.settle:
            lines.append(f"would settle it: {entry.settle}")
        lines += [f"configuration: {d.text}" for d in entry.differences]
        lines += [m.message for m in verdict.comparisons(case)]
    return "\n".join(lines) + "\n"


def attach_verdict(allure: Any, case: CaseResult) -> None:
    """The baseline verdict as a parameter, a tag for regression/inconclusive/refused,
    the text in the test's description and as an attachment."""
    label = verdict.label(case)
    if not label:
        return
    allure.dynamic.parameter("baseline verdict", label)
    if label != "no regression":
        allure.dynamic.tag(f"baseline {label}")
    text = verdict_text(case)
    allure.dynamic.description(text)
    allure.attach(text, name="baseline verdict", attachment_type=allure.attachment_type.TEXT)


def environment_properties(system: Mapping[str, Any] | SystemInfo, hardware: str) -> str:
    """Allure's environment.properties (key=value lines) from the system probe."""
    probe = SystemInfo.model_validate(system)
    hw, sw = probe.hardware, probe.software
    entries = {
        "hardware.profile": hardware,
        "cpu.model": hw.cpu.model,
        "cpu.cores": hw.cpu.cores,
        "memory.total_gb": hw.memory.total_gb if hw.memory else None,
        "accelerators": ", ".join(f"{a.count}x {a.model or a.name}" for a in hw.accelerators) or "none",
        "os": sw.os,
        "python": sw.python,
        "driver": sw.driver,
        "compute_backend": json.dumps(sw.compute_backend.model_dump() if sw.compute_backend else None),
    }
    for name, version in sw.packages.items():
        if version:
            entries[f"package.{name}"] = version

    lines = [f"{k}={redact_text(str(v)).replace(chr(10), ' ')}" for k, v in entries.items() if v is not None]
    return "\n".join(lines) + "\n"


def write_run_files(alluredir: Path, system: Mapping[str, Any] | SystemInfo, hardware: str) -> None:
    alluredir.mkdir(parents=True, exist_ok=True)
    (alluredir / "environment.properties").write_text(environment_properties(system, hardware), encoding="utf-8")
    (alluredir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")
