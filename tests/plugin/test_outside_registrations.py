"""An engine, a scenario with a metric of its own, a task kind and a report writer added
from outside the package: each is one module (tests/plugin/outside.py) plus one
registration (the metric: one declaration in the scenario's module), first through the
registries' API from a ``conftest.py`` (one import each), then through entry points of
an installed distribution (one line each, no conftest at all)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from outside import ENGINE, ENTRY_POINTS, MATRIX, MODELS, SCENARIO, TASK_FILE, TASK_KIND, WRITER

REPO = Path(__file__).resolve().parents[2]


def write_project(folder: Path) -> None:
    """The user's folder: the four modules, a task file of the new kind, a matrix, a models file."""
    for name, text in (("my_engine.py", ENGINE), ("my_scenario.py", SCENARIO), ("my_kind.py", TASK_KIND),
                       ("my_writer.py", WRITER),
                       ("counting.yaml", TASK_FILE), ("matrix.yaml", MATRIX), ("models.yaml", MODELS)):
        (folder / name).write_text(text, encoding="utf-8")


def only_case(folder: Path) -> dict:
    (path,) = (folder / "out").glob("*/results.json")
    (case,) = json.loads(path.read_text())["cases"]
    return case


def test_registered_from_a_conftest(pytester: pytest.Pytester):
    write_project(pytester.path)
    # the registration: importing each module runs its @registry.register(...)
    pytester.makeconftest("import my_engine, my_scenario, my_kind, my_writer  # noqa: F401\n")
    result = pytester.runpytest("--hw", "cpu", "--task-file", "counting.yaml", "--model-file", "models.yaml",
                                "--report-dir", "out", "--no-monitor", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["matrix.yaml .*"])
    case = only_case(pytester.path)
    assert case["id"] == "counting.numbers-burst-echo-tiny" and case["status"] == "passed"
    assert case["engine_info"] == {"engine": "echo", "options": {"max_words": 32}}
    assert case["quality"]["scores"] == {"echoed": 1.0}
    assert case["metrics"]["requests"]["value"] == 5 and case["metrics"]["bursts"]["value"] == 3  # 2 + 2 + 1
    # the declared metric is a column of the console table; the writer wrote its file
    result.stdout.fnmatch_lines(["*case*bursts*", "*counting.numbers-burst-echo-tiny*passed*3*"])
    (written,) = (pytester.path / "out").glob("*/bursts.txt")
    assert written.read_text() == "counting.numbers-burst-echo-tiny 3\n"
    # bad options of the new engine and scenario are refused at collection, naming file, field and flag
    (pytester.path / "matrix.yaml").write_text(MATRIX.replace("max_words: 32", "max_words: 0")
                                               + "    scenario_options: {burst: {burst_size: 0}}\n")
    bad = pytester.runpytest("--hw", "cpu", "--task-file", "counting.yaml", "--model-file", "models.yaml",
                             "-p", "no:cacheprovider", "--collect-only")
    bad.stdout.fnmatch_lines(["*matrix.yaml: suites[[]0[]].engine_options.echo: max_words: Input should be "
                              "greater than 0, got 0*"])


def test_registered_through_entry_points(tmp_path: Path):
    """As an installed distribution would: its dist-info's entry_points.txt on sys.path."""
    site, project = tmp_path / "site", tmp_path / "project"
    site.mkdir()
    project.mkdir()
    write_project(project)
    for name in ("my_engine.py", "my_scenario.py", "my_kind.py", "my_writer.py"):
        (project / name).rename(site / name)
    info = site / "outside_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: outside-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO / "src")])}
    # the scenario's flag (--burst-size) and the writer's (--bursts-file) exist: their options declare them,
    # the plugin adds them
    done = subprocess.run([sys.executable, "-m", "pytest", "--hw", "cpu", "--task-file", "counting.yaml",
                           "--model-file", "models.yaml", "--report-dir", "out", "--no-monitor", "--burst-size", "4",
                           "--bursts-file", "counted.txt", "-p", "no:cacheprovider"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    case = only_case(project)
    assert case["id"] == "counting.numbers-burst-echo-tiny" and case["scenario_options"] == {"burst_size": 4}
    assert case["metrics"]["bursts"]["value"] == 2  # 4 + 1
    (written,) = (project / "out").glob("*/counted.txt")  # where the writer's own option said
    assert written.read_text() == "counting.numbers-burst-echo-tiny 2\n"
    assert not list((project / "out").glob("*/bursts.txt"))
    # ob run offers the writer's flag too, in the report group, with its declared default
    run_help = subprocess.run([sys.executable, "-m", "openaiperf.cli", "run", "--help"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=120)
    report_group = run_help.stdout.split("report: ")[1]
    assert "--bursts-file NAME" in report_group and "(default bursts.txt)" in " ".join(report_group.split())
    listing = subprocess.run([sys.executable, "-m", "openaiperf.cli", "engine", "list"], cwd=project, env=env,
                             capture_output=True, text=True, timeout=120)
    assert "echo             entry point  my_engine:EchoEngine  [concurrent] options: max_words" in listing.stdout
