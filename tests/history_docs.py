"""Results documents (the shape of a run's results.json) for the history tests,
with metric values the tests choose, so every number read back has a known truth."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from openaiperf.report.results import write_results
from openaiperf.result import CaseResult, RunResult

CASE = "synthetic.random-offline-hf-smollm2-135m"
UNITS = {"ttft_p50": ("ms", "lower"), "tpot_p50": ("ms", "lower"), "e2e_p90": ("ms", "lower"),
         "output_tokens_per_s": ("tokens/s", "higher"), "requests_per_s": ("requests/s", "higher"),
         "mfu": ("fraction", "higher"), "energy": ("J", "lower")}


def metric_verdict(metric: str, verdict: str, value: float | None) -> dict[str, Any]:
    """A baseline comparison of ``metric`` with the outcome ``verdict`` against a baseline of 100."""
    unit, better = UNITS.get(metric, ("", "lower"))
    return {"metric": metric, "unit": unit, "better": better, "tolerance": 0.05, "outcome": verdict,
            "verdict": verdict, "change": "unknown", "baseline": 100.0, "current": value,
            "ratio": (value or 0) / 100.0, "confidence": 0.9}


def make_case(case_id: str = CASE, *, engine: str = "hf", model: str = "smollm2-135m", hardware: str = "cpu",
              status: str = "passed", valid: bool = True, verdicts: dict[str, str] | None = None,
              **values: float | None) -> CaseResult:
    task, scenario = case_id.split("-")[:2]
    metrics = {name: {"value": value, "unit": UNITS.get(name, ("", "none"))[0],
                      "better": UNITS.get(name, ("", "none"))[1]} for name, value in values.items()}
    case: dict[str, Any] = {
        "id": case_id, "task": task, "scenario": scenario, "engine": engine, "model": model, "hardware": hardware,
        "status": status, "validity": {"min_queries": valid, "min_duration": True},
        "metrics": metrics, "engine_info": {"engine": engine, "transformers": "5.19.0", "torch": "2.13.0+cpu",
                                            "dtype": "float32", "hf_token": "hf_abcdefghijklmnopqrstuvwx"},
        "settings": {"samples": 4},
    }
    if verdicts:
        outcome = "regression" if "regression" in verdicts.values() else "no regression"
        case["baseline"] = {"outcome": outcome, "verdict": outcome, "comparison": {
            "case_id": case_id, "source": "baselines", "baseline_hardware": hardware, "hardware": hardware,
            "outcome": outcome, "verdict": outcome, "alpha": 0.05,
            "metrics": [metric_verdict(m, v, values[m]) for m, v in verdicts.items()]}}
    return CaseResult.model_validate(case)


def make_document(created: str, cases: list[CaseResult], *, hardware: str = "cpu",
                  accelerators: list[dict[str, Any]] | None = None) -> RunResult:
    return RunResult.model_validate({
        "openaiperf_version": "0.1.0", "created": created,
        "system": {"hardware": {"cpu": {"model": "AMD EPYC", "cores": 2}, "accelerators": accelerators or []},
                   "software": {"packages": {"torch": "2.13.0+cpu", "transformers": "5.19.0"}}},
        "config": {"hardware_profile": {"name": hardware},
                   "pytest_args": ["benchmarks", "--api-key", "sk-secretsecretsecretsecret"]},
        "cases": cases,
    })


def write_run(reports: Path, name: str, document: RunResult) -> Path:
    run_dir = reports / name
    run_dir.mkdir(parents=True)
    write_results(run_dir / "results.json", document)
    return run_dir


def iso(day: int, hour: int = 12) -> str:
    return _dt.datetime(2026, 11, day, hour, tzinfo=_dt.timezone.utc).isoformat()


DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "openaiperf-dashboard.json"


def dashboard_queries(values: dict[str, str | list[str]]) -> dict[str, str]:
    """Every SQL query of the Grafana dashboard (panels and variables), with Grafana's
    substitutions done as Grafana does them: a multi-value variable becomes a quoted
    list, a single value its bare text, ``$__timeFilter(col)`` a range over all time."""
    import re

    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = {f"panel {p['title']}": t["rawSql"] for p in dashboard["panels"] for t in p.get("targets", [])}
    queries |= {f"variable {v['name']}": v["query"] for v in dashboard["templating"]["list"]}

    def substitute(sql: str) -> str:
        sql = re.sub(r"\$__timeFilter\(([^)]+)\)", r"\1 BETWEEN '1970-01-01 00:00:00' AND '2100-01-01 00:00:00'", sql)
        for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
            text = ", ".join("'" + v.replace("'", "''") + "'" for v in value) if isinstance(value, list) else value
            sql = sql.replace(f"${name}", text)
        leftover = re.findall(r"\$\w+", sql)
        assert not leftover, f"unsubstituted Grafana variables {leftover} in: {sql}"
        return sql

    return {title: substitute(sql) for title, sql in queries.items()}
