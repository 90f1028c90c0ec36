"""The typed result: its published JSON Schema, reading older files, the round trip
through results.json, validation, and every writer on a run with all optional
parts present and with them absent."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from fixtures.results import full_run, measured_case, minimal_run
from openaiperf import result as result_module
from openaiperf.errors import ConfigError
from openaiperf.redact import is_secret_name
from openaiperf.report.results import read_results, write_results
from openaiperf.result import CaseResult, MetricValue, RunResult, result_schema, schema_text

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "docs" / "result-schema.json"
V1_FILE = REPO / "tests" / "data" / "results_v1.json"


# -- the published schema ------------------------------------------------------------------
def test_the_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "docs/result-schema.json is out of date: regenerate it with "
        "`python -m openaiperf.result > docs/result-schema.json` (and bump SCHEMA_VERSION on an incompatible change)")
    assert f"schema_version {result_module.SCHEMA_VERSION}" in result_schema()["title"]


@pytest.mark.parametrize("make", [full_run, minimal_run])
def test_a_written_file_validates_against_the_published_schema(tmp_path: Path, make: Any) -> None:
    write_results(tmp_path / "results.json", make(tmp_path))
    document = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(document, json.loads(SCHEMA_FILE.read_text()))
    broken = json.loads(json.dumps(document))
    broken["cases"][0]["metrics"]["ttft_p50"]["unit"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(SCHEMA_FILE.read_text()))


# -- the round trip and validation ---------------------------------------------------------
@pytest.mark.parametrize("make", [full_run, minimal_run])
def test_round_trip_through_results_json(tmp_path: Path, make: Any) -> None:
    run = make(tmp_path)
    write_results(tmp_path / "results.json", run)
    again = read_results(tmp_path / "results.json")
    assert again == run
    assert again.model_dump(mode="json") == run.model_dump(mode="json")
    first = again.cases[0]
    assert first.metrics["ttft_p50"].value == run.cases[0].metrics["ttft_p50"].value
    assert first.valid == run.cases[0].valid


def test_a_metric_without_an_interval_is_written_without_one(tmp_path: Path) -> None:
    run = full_run(tmp_path)
    write_results(tmp_path / "results.json", run)
    metrics = json.loads((tmp_path / "results.json").read_text())["cases"][0]["metrics"]
    assert set(metrics["ttft_p50"]) == {"value", "unit", "better"}  # as version 1 wrote it
    assert (metrics["rouge1"]["ci_low"], metrics["rouge1"]["ci_high"]) == (0.25, 0.37)


def test_validation_refuses_unknown_fields_and_a_valid_that_disagrees() -> None:
    case = {"id": "a", "task": "t", "scenario": "offline", "engine": "hf", "model": "m", "hardware": "cpu"}
    assert CaseResult.model_validate(case).base_id == "a"
    with pytest.raises(ValidationError, match="throughput_tps"):
        CaseResult.model_validate(case | {"throughput_tps": 3.0})
    with pytest.raises(ValidationError, match="settings.seed"):
        CaseResult.model_validate(case | {"settings": {"seed": 1}})
    with pytest.raises(ValidationError, match="valid is True but validity is"):
        CaseResult.model_validate(case | {"valid": True, "validity": {"min_queries": False}})
    with pytest.raises(ValidationError, match="sweep variant .* without a base_id"):
        CaseResult.model_validate(case | {"variant": "qps_target=2"})
    with pytest.raises(ValidationError, match="better"):
        MetricValue.model_validate({"value": 1.0, "unit": "ms", "better": "down"})
    # free-form parts keep what they do not name
    free = CaseResult.model_validate(case | {"engine_info": {"anything": 1}, "resources": {"gpu0_util_mean": 5.0}})
    assert free.resources.model_extra == {"gpu0_util_mean": 5.0}


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        for inner in re.findall(r"openaiperf\.result\.(\w+)", str(field.annotation)):
            candidate = getattr(result_module, inner, None)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                _models(candidate, seen)


def test_no_typed_field_is_named_like_a_secret() -> None:
    """Redaction masks the value under a secret-named key: a typed field with such a name
    would be turned into "***" and then fail validation when the file is read."""
    seen: set[type[BaseModel]] = set()
    _models(RunResult, seen)
    assert CaseResult in seen and MetricValue in seen and len(seen) > 20
    names = {name for model in seen for name in model.model_fields}
    assert not [name for name in names if is_secret_name(name)]


def test_secrets_are_masked_when_written_and_the_file_still_reads(tmp_path: Path) -> None:
    run = minimal_run(tmp_path)
    run.config.pytest_args = ["benchmarks", "--api-key", "sk-abcdefghijklmnopqrstuvwx"]
    run.cases[2].engine_options = {"endpoint": "https://user:hunter2pass@host/v1",
                                   "api_key": "sk-zyxwvutsrqponmlkjihgf"}
    run.cases[2].notes.append("server said: Authorization: Bearer abcdefghijklmnop")
    write_results(tmp_path / "results.json", run)
    text = (tmp_path / "results.json").read_text()
    for secret in ("sk-abcdefghijkl", "hunter2pass", "sk-zyxwvutsr", "abcdefghijklmnop"):
        assert secret not in text
    again = read_results(tmp_path / "results.json")
    assert again.cases[2].engine_options["api_key"] == "***"
    assert again.cases[2].metrics == run.cases[2].metrics  # numbers untouched


# -- older files ---------------------------------------------------------------------------
def test_a_version_1_file_is_upgraded_with_every_number_kept() -> None:
    raw = json.loads(V1_FILE.read_text())
    run = read_results(V1_FILE)
    assert raw["schema_version"] == 1 and run.schema_version == 2
    for before, after in zip(raw["cases"], run.cases, strict=True):
        assert after.id == before["id"] and after.status == before["status"] and after.valid == before["valid"]
        assert {k: m["value"] for k, m in before["metrics"].items()} == {k: m.value for k, m in after.metrics.items()}
        assert after.rounds == before["rounds"]
        assert after.profile is None and before["profile"] == {}
        assert after.base_id == after.id and after.variant == ""
    compared = run.cases[0].baseline
    assert compared is not None and compared.outcome == raw["cases"][0]["baseline"]["outcome"] == "no regression"
    assert compared.comparison is not None and compared.comparison.metrics[0].ratio == pytest.approx(
        raw["cases"][0]["baseline"]["comparison"]["metrics"][0]["ratio"])
    assert run.cases[0].fingerprint is not None
    assert run.cases[0].fingerprint.checked == raw["cases"][0]["fingerprint"]["checked"]
    assert run.cases[1].baseline is not None and run.cases[1].baseline.outcome is None  # no baseline for it


@pytest.mark.parametrize(("version", "shown"), [(3, "3"), (None, "None"), ("1", "'1'"), (0, "0")])
def test_another_version_is_refused_naming_the_file_and_the_version(tmp_path: Path, version: Any,
                                                                    shown: str) -> None:
    document = json.loads(V1_FILE.read_text())
    if version is None:
        del document["schema_version"]
    else:
        document["schema_version"] = version
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError) as error:
        read_results(path)
    assert str(error.value) == f"{path}: schema_version {shown}; this version of openaiperf reads 2 (and upgrades 1)"


def test_a_broken_file_names_the_field(tmp_path: Path) -> None:
    document = json.loads(V1_FILE.read_text())
    document["cases"][1]["metrics"]["ttft_p50"]["value"] = "fast"
    del document["cases"][0]["hardware"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=re.escape(
            f"{path}: not a valid results document (schema_version 1): cases[0].hardware: required field is missing; "
            "cases[1].metrics.ttft_p50.value: Input should be a valid number, unable to parse string as a number, "
            "got 'fast'")):
        read_results(path)


def v1_run_folder(tmp_path: Path, name: str = "20261121-134929-cpu") -> Path:
    run_dir = tmp_path / name
    run_dir.mkdir()
    shutil.copy(V1_FILE, run_dir / "results.json")
    return run_dir


def test_the_commands_read_a_version_1_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from openaiperf.cli import main

    old = v1_run_folder(tmp_path)
    assert main(["report", str(old), "--no-history"]) == 0
    assert "summarization.xsum-offline-fake-fake-tiny" in (old / "report.html").read_text()
    new = tmp_path / "new"
    new.mkdir()
    run = read_results(old / "results.json")
    write_results(new / "results.json", run)
    capsys.readouterr()
    assert main(["compare", str(old), str(new), "--drift", "0"]) == 0  # a v1 run is the reference of a v2 run
    assert "summarization.xsum-offline-fake-fake-tiny: no regression" in capsys.readouterr().out
    store = f"sqlite:///{tmp_path / 'h.sqlite'}"
    assert main(["history", "import", str(old), "--history", store]) == 0
    assert f"imported {old} as run 1 (2 case(s))" in capsys.readouterr().out
    assert main(["baseline", "update", str(old), "--baselines", str(tmp_path / "b")]) == 0
    saved = json.loads((tmp_path / "b" / "cpu" / "summarization.xsum-offline-fake-fake-tiny.json").read_text())
    rounds = [r["values"] for r in saved["rounds"]]
    assert rounds == json.loads(V1_FILE.read_text())["cases"][0]["rounds"]


# -- every writer --------------------------------------------------------------------------
class FakeAllure:
    """allure-pytest's ``allure`` module as attach_case uses it, recording what it is given."""

    def __init__(self) -> None:
        self.attachments: dict[str, Any] = {}
        self.labels: list[tuple[str, str]] = []
        recorder = self

        class Dynamic:
            def parameter(self, name: str, value: str) -> None:
                recorder.labels.append((f"parameter {name}", value))

            def label(self, name: str, value: str) -> None:
                recorder.labels.append((name, value))

            def tag(self, value: str) -> None:
                recorder.labels.append(("tag", value))

            def description(self, text: str) -> None:
                recorder.labels.append(("description", text))

        class Types:
            JSON = CSV = PNG = TEXT = "type"

        self.dynamic = Dynamic()
        self.attachment_type = Types()

    def attach(self, body: Any, name: str, attachment_type: Any) -> None:
        self.attachments[name] = body


class FakeSession:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.config = None

    def ensure_run_dir(self) -> Path:
        return self.run_dir


@pytest.mark.parametrize("make", [full_run, minimal_run])
def test_every_writer_reads_the_typed_result(tmp_path: Path, make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from openaiperf.baselines.compare import baseline_from_case
    from openaiperf.history.store import HistoryStore
    from openaiperf.history.trends import case_trends
    from openaiperf.profiling import render_top_ops
    from openaiperf.report import allure
    from openaiperf.report.console import render_table
    from openaiperf.report.html import write_html_report
    from openaiperf.report.markdown import markdown_summary
    from openaiperf.sweeps.report import write_sweep_reports

    run_dir = tmp_path / "20261121-120000-cpu"
    run_dir.mkdir()
    run = make(run_dir)
    write_results(run_dir / "results.json", run)
    ids = [case.id for case in run.cases]
    table = render_table(run.cases, width=400)
    markdown = markdown_summary(run)
    html = write_html_report(run_dir, trends=None).read_text()
    for text in (table, markdown, html):
        assert all(case_id in text for case_id in ids)
    for case in run.cases:
        if case.error:
            assert f"- `{case.id}`: {case.error}" in markdown
        if case.status == "passed" and not case.valid:
            assert f"{case.id} │ passed (INVALID)" in table
    # Allure: labels, and the metrics attachment holds the case's numbers
    monkeypatch.setattr(allure, "enabled", lambda config: True)
    for case in run.cases:
        fake = FakeAllure()
        monkeypatch.setattr(allure, "_allure", lambda: fake)  # noqa: B023 - called within this iteration
        allure.attach_case(case, FakeSession(run_dir))
        shown = json.loads(fake.attachments["metrics.json"])
        assert {k: m["value"] for k, m in shown["metrics"].items()} == {k: m.value for k, m in case.metrics.items()}
        assert ("suite", case.scenario) in fake.labels
        assert ("requests.csv" in fake.attachments) == bool(case.records_file)
    assert "python=" in allure.environment_properties(run.system, "cpu") or not run.system.software.python
    # baselines, sweeps, profiling
    for case in run.cases:
        baseline = baseline_from_case(case)
        assert [r.values for r in baseline.rounds] == case.rounds
        assert baseline.value("ttft_p50") == case.value("ttft_p50")
    swept = write_sweep_reports(run.cases, run_dir)
    assert bool(swept) == any(case.variant for case in run.cases)
    assert ("aten::mm" in render_top_ops(run.cases)) == any(case.profile for case in run.cases)
    # history: recorded, and each case's trend read back
    with HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite'}") as store:
        assert store.record_run(run, run_dir).cases == len(run.cases)
        assert store.record_run(run_dir / "results.json").created is False  # the same run, through the reader
        trends = case_trends(store, run, run_dir.name)
        assert set(trends.cases) == {case.id for case in run.cases if case.value("ttft_p50") is not None}


def test_the_full_run_shows_its_optional_parts(tmp_path: Path) -> None:
    from openaiperf.report.html import render_html
    from openaiperf.report.markdown import markdown_summary

    run = full_run(tmp_path)
    write_results(tmp_path / "results.json", run)
    failed = run.cases[0]
    html = render_html(tmp_path)
    markdown = markdown_summary(run)
    assert failed.baseline is not None and failed.baseline.label == "regression"
    assert '<tr class="regression">' in html and "quality: rouge1 0.31" in html
    assert f"🔴 {failed.id}: regression in ttft_p50" in markdown
    assert "passed (INVALID)" in html


# -- the HTML report at many cases ---------------------------------------------------------
def many_cases(run_dir: Path) -> RunResult:
    """12 cases: 2 tasks x 2 engines x 3 scenarios, the second engine slower."""
    cases = [measured_case(run_dir, f"{task}-{scenario}-{engine}-m", ttft_ms=20.0 * (1 + e), tpot_ms=5.0 * (1 + e),
                           rounds=1)
             for task in ("summarization.xsum", "chat.sharegpt") for e, engine in enumerate(("vllm", "openai"))
             for scenario in ("offline", "single_stream", "server")]
    return RunResult(cases=cases)


def test_the_html_report_has_a_section_per_task_and_engine_and_a_panel_per_case(tmp_path: Path) -> None:
    from openaiperf.report import figures
    from openaiperf.report.html import group_cases, render_html

    run = many_cases(tmp_path)
    write_results(tmp_path / "results.json", run)
    html = render_html(tmp_path)
    sections = re.findall(r'<section class="group" id="([^"]+)" data-task="([^"]+)" data-engine="([^"]+)" '
                          r'data-cases="(\d+)">', html)
    assert [(task, engine, int(n)) for _, task, engine, n in sections] == [
        ("summarization.xsum", "vllm", 3), ("summarization.xsum", "openai", 3),
        ("chat.sharegpt", "vllm", 3), ("chat.sharegpt", "openai", 3)]
    assert re.findall(r'class="small-multiples" data-panels="(\d+)"', html) == ["3"] * 4
    for anchor, *_ in sections:  # the case table links each group to its section
        assert f'<a href="#{anchor}">' in html
    assert 'id="throughput"' in html and html.count("<img") == 5  # one throughput view, four groups
    numbers = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', html)]
    assert numbers == list(range(1, 13))
    # one panel per case, in the table's order, sharing the latency axis within the group
    group = group_cases(run.cases)[1]
    panels = [figures.Panel(f"#{row.number}", {"ttft": [1.0, 2.0], "e2e": [5.0, 9.0]}) for row in group.rows]
    figure = figures.small_multiples(panels)
    assert figure is not None
    shown = [axes for axes in figure.axes if axes.get_visible()]
    assert [axes.get_title() for axes in shown] == ["#4", "#5", "#6"]
    assert all(shown[0].get_shared_x_axes().joined(shown[0], other) for other in shown[1:])
    assert figures.small_multiples([figures.Panel("#1", {})]) is None  # nothing measured: no figure


def test_a_group_without_records_says_so(tmp_path: Path) -> None:
    from openaiperf.report.html import render_html

    run = minimal_run(tmp_path)
    write_results(tmp_path / "results.json", run)
    html = render_html(tmp_path)
    assert "No measured requests to draw: #2 <code>chat.sharegpt-offline-openai-m</code> error" in html


def test_the_html_report_lists_every_metric_of_a_case_from_the_catalogue(tmp_path: Path) -> None:
    from openaiperf.report.html import render_html

    case = measured_case(tmp_path, "multiturn.sharegpt-server-openai-m", rounds=1)
    case.metrics["session_cache_hit_rate_p10"] = MetricValue(value=0.625, unit="fraction")
    case.metrics["spec_acceptance_rate"] = MetricValue(value=0.5, unit="fraction", better="higher")
    case.metrics["zz_engine_probe"] = MetricValue(value=3.25, unit="widgets")
    write_results(tmp_path / "results.json", RunResult(cases=[case]))
    html = render_html(tmp_path)
    section = html[html.index('<details class="metrics"'):html.index('id="baseline"')]
    labels = re.findall(r'<td class="label" title="[^"]*">([^<]+)</td><td>([^<]+)</td>', section)
    shown = dict(labels)
    # neither is a headline column: only the all-metrics table shows them, labelled and written as the catalogue says
    assert shown["session cache hits p10 (%)"] == "62.5" and shown["spec accept (%)"] == "50.0"
    assert "session cache hits p10" not in html[:html.index('id="metrics"')]
    # every metric the case has, the undeclared one last and raw
    assert len(labels) == len(case.metrics)
    assert labels[-1] == ("zz_engine_probe", "3.25") and '<tr class="undeclared">' in section
