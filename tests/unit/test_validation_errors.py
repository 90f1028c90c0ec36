"""One wording of validation errors (openaiperf.errors.describe_validation): every entry
point that validates a file, an option mapping or a flag names the file (or the option
source), the field (with its flag where it has one) and what is accepted and was given."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from openaiperf.baselines import BASELINE_SCHEMA, BASELINE_SCHEMA_VERSION, BaselineError
from openaiperf.baselines.json_store import read_baseline
from openaiperf.engines import engines
from openaiperf.errors import ConfigError, OpenAIPerfError
from openaiperf.hardware import load_profile
from openaiperf.matrix import load_matrix
from openaiperf.models import load_registry
from openaiperf.report.results import read_results
from openaiperf.runner.settings import RunSettings
from openaiperf.scenarios import check_scenario_options
from openaiperf.tasks import load_task_spec

REPO = Path(__file__).resolve().parents[2]
XSUM = REPO / "src/openaiperf/tasks/builtin/summarization.xsum.yaml"
#: after "SOURCE: ": [what was read: ]FIELD[ (--flag)]: MESSAGE
SHAPE = r"(?:not a valid [^:]+: )?(?P<field>[\w.\[\]]+)(?: \((?P<flag>--[\w-]+)\))?: (?P<message>.+)"


def write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def task_file(tmp_path: Path, change: Callable[[dict], None]) -> Path:
    data = yaml.safe_load(XSUM.read_text(encoding="utf-8"))
    change(data)
    return write_yaml(tmp_path / "task.yaml", data)


def misspelt_parameter(data: dict) -> None:
    data.setdefault("parameters", {})["strid"] = 1


def hardware_profile(tmp_path: Path) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir()
    data = yaml.safe_load((REPO / "hardware_profiles/cpu.yaml").read_text(encoding="utf-8"))
    data["cores"] = "many"
    write_yaml(folder / "cpu.yaml", data)
    return folder


def results_file(tmp_path: Path) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema_version": 2, "system": {}, "config": {}, "cases": [{"id": 3}]}))
    return path


def baseline_file(tmp_path: Path) -> Path:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({
        "schema": BASELINE_SCHEMA, "schema_version": BASELINE_SCHEMA_VERSION, "case_id": "c", "hardware": "cpu",
        "rounds": [{"tpot_p50": 1.0}] * 3, "metrics": {"tpot_p50": {"value": 1.0, "unit": "ms", "better": "lower"}},
        "fingerprint": {"checked": {}, "noted": {}}, "case": {"engine": ["hf"]}}))
    return path


def entry_points(tmp_path: Path) -> dict[str, tuple[Callable[[], object], str, str]]:
    """name -> (what raises, the source it must name, the field it must name)."""
    task = task_file(tmp_path, lambda d: d["input_profile"].update(max_new_tokens="many"))
    matrix = write_yaml(tmp_path / "matrix.yaml", {"suites": [{"tasks": ["t"], "scenarios": ["offline"],
                                                                "engines": ["hf"], "models": ["m"],
                                                                "max_samples": "all"}]})
    models = write_yaml(tmp_path / "models.yaml", {"tiny": {"source": "x", "parameters": "lots"}})
    profiles = hardware_profile(tmp_path)
    results, baseline = results_file(tmp_path), baseline_file(tmp_path)
    return {
        "task file": (lambda: load_task_spec(task), str(task), "input_profile.max_new_tokens"),
        "task parameters": (lambda: load_task_spec(task_file(tmp_path, misspelt_parameter)),
                            str(tmp_path / "task.yaml"), "parameters.strid"),
        "matrix file": (lambda: load_matrix(matrix), str(matrix), "suites[0].max_samples"),
        "model file": (lambda: load_registry([models]), f"{models} [tiny]", "parameters"),
        "hardware profile": (lambda: load_profile("cpu", [profiles]), str(profiles / "cpu.yaml"), "cores"),
        "engine options": (lambda: engines.get("openai").parse_options({"api": "soap"}, source="m.yaml: openai"),
                           "m.yaml: openai", "api"),
        "scenario options": (lambda: check_scenario_options("server", {"qps_target": -1}, source="m.yaml: server"),
                             "m.yaml: server", "qps_target"),
        "results file": (lambda: read_results(results), str(results), "cases[0].id"),
        "baseline file": (lambda: read_baseline(baseline), str(baseline), "case.engine"),
        "a setting's flag": (lambda: RunSettings.from_options({"repeats": 0}.get), "", "repeats"),
    }


@pytest.mark.parametrize("name", ["task file", "task parameters", "matrix file", "model file", "hardware profile",
                                  "engine options", "scenario options", "results file", "baseline file",
                                  "a setting's flag"])
def test_every_entry_point_words_a_validation_error_alike(tmp_path: Path, name: str) -> None:
    raises, source, field = entry_points(tmp_path)[name]
    with pytest.raises((ConfigError, BaselineError)) as info:
        raises()
    text = str(info.value)
    assert not source or text.startswith(f"{source}: "), text
    shape = re.fullmatch(SHAPE, text.removeprefix(f"{source}: " if source else ""))
    assert shape is not None, text
    assert shape["field"] == field, text
    message = shape["message"]
    # what is accepted, and what was given (or the known names, or that it is missing)
    assert re.search(r"should be|expected|unknown field .*known: |required field is missing|is not a", message), text
    assert "got " in message or "known: " in message or "missing" in message or "is not a" in message, text


def test_the_error_of_a_flag_field_names_the_flag() -> None:
    with pytest.raises(OpenAIPerfError) as info:
        check_scenario_options("server", {"qps_target": 0}, source="m.yaml: server")
    assert str(info.value) == "m.yaml: server: qps_target (--qps-target): Input should be greater than 0, got 0"
    with pytest.raises(ConfigError) as info:
        RunSettings.from_options({"repeats": 0}.get)
    assert str(info.value) == "repeats (--repeats): Input should be greater than or equal to 1, got 0"
