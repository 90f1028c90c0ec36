"""Reports under pytest-xdist, Allure result files, pytest-benchmark's own compare,
and the ob commands over real run folders (fake engine)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from benchproject import bench_args

from openaiperf.cli import main as ob

pytest_plugins = ["pytester"]


def only_run(root: Path) -> Path:
    runs = [p for p in (root / "reports").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_xdist_workers_merge_into_one_results_json(bench_project: pytest.Pytester) -> None:
    result = bench_project.runpytest_subprocess(*bench_args("-n", "2", "--repeats", "3", "--baseline-save"))
    result.assert_outcomes(passed=2)
    run = only_run(bench_project.path)
    document = json.loads((run / "results.json").read_text())
    assert sorted(c["scenario"] for c in document["cases"]) == ["offline", "single_stream"]
    assert sorted(p.name for p in run.glob("results.gw*.json")) == ["results.gw0.json", "results.gw1.json"]
    assert all(len(c["rounds"]) == 3 for c in document["cases"])  # pytest-benchmark is off: rounds still run
    assert (run / "report.html").exists() and (run / "pr-comment.md").exists()
    assert len(list((bench_project.path / "baselines" / "cpu").glob("*.json"))) == 2
    result.stdout.fnmatch_lines(["*OpenAIPerf*", "*summarization.xsum-offline-fake-fake-tiny*"])


def test_a_session_without_cases_under_xdist_leaves_no_run_folder(pytester: pytest.Pytester) -> None:
    """The plugin is active in any pytest session (the project's own tests on two xdist workers
    included), and the run folder is made for the workers before collection: a session that ran
    no benchmark case leaves no empty run folder behind."""
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-n", "2", "--hw", "cpu", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists() or not any((pytester.path / "reports").iterdir())


def test_worker_gpu_pinning_rule() -> None:
    from openaiperf.plugin.reporting import worker_gpu

    assert worker_gpu("gw0", None, 2) == "0"
    assert worker_gpu("gw3", None, 2) == "1"
    assert worker_gpu("gw1", "4,5,6", 3) == "5"
    assert worker_gpu("gw1", None, 0) is None
    assert worker_gpu("master", None, 4) is None


def test_allure_results_carry_parameters_attachments_steps(bench_project: pytest.Pytester) -> None:
    bench_project.runpytest(*bench_args("-k", "offline", "--alluredir", "allure")).assert_outcomes(passed=1)
    allure = bench_project.path / "allure"
    results = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    case = next(r for r in results if "offline" in r["name"])
    parameters = {p["name"]: p["value"] for p in case["parameters"]}
    for name, value in (("task", "summarization.xsum"), ("scenario", "offline"), ("engine", "fake"),
                        ("model", "fake-tiny"), ("hw", "cpu")):
        assert value in parameters[name]
    labels = {(lbl["name"], lbl["value"]) for lbl in case["labels"]}
    assert ("engine", "fake") in labels and ("hw", "cpu") in labels
    steps = [s["name"] for s in case["steps"]]
    assert steps == ["warmup", "measure", "gate"]
    attachments = {a["name"]: a for a in case["attachments"]}
    assert {"metrics.json", "requests.csv", "latency CDF.png", "TTFT and TPOT histograms.png"} <= set(attachments)
    metrics = json.loads((allure / attachments["metrics.json"]["source"]).read_text())
    assert metrics["metrics"]["ttft_p50"]["unit"] == "ms"
    csv_lines = (allure / attachments["requests.csv"]["source"]).read_text().splitlines()
    assert csv_lines[0].startswith("request_id,") and len(csv_lines) == 1 + 8
    assert (allure / attachments["latency CDF.png"]["source"]).read_bytes()[:4] == b"\x89PNG"
    containers = [json.loads(p.read_text()) for p in allure.glob("*-container.json")]
    befores = [b["name"] for c in containers for fixture in c.get("befores", []) for b in fixture.get("steps", [])
               for _ in [0]] + [s["name"] for c in containers for b in c.get("befores", []) for s in b.get("steps", [])]
    assert "provision" in befores
    environment = (allure / "environment.properties").read_text()
    assert "hardware.profile=cpu" in environment and "python=" in environment
    categories = {c["name"] for c in json.loads((allure / "categories.json").read_text())}
    assert categories == {"performance regression", "baseline inconclusive (--baseline-strict)",
                          "baseline refused (configuration differs)", "quality regression", "SLA miss", "engine error"}


def test_pytest_benchmark_compare_still_works(bench_project: pytest.Pytester) -> None:
    first = bench_project.runpytest_subprocess(*bench_args("-k", "offline", "--repeats", "3", "--benchmark-autosave"))
    first.assert_outcomes(passed=1)
    saved = list((bench_project.path / ".benchmarks").rglob("0001_*.json"))
    assert saved
    data = json.loads(saved[0].read_text())
    assert data["benchmarks"][0]["extra_info"]["openaiperf_case"] == "summarization.xsum-offline-fake-fake-tiny"
    second = bench_project.runpytest_subprocess(*bench_args("-k", "offline", "--repeats", "3",
                                                 "--benchmark-compare=0001", "--benchmark-compare-fail=mean:1000%"))
    second.assert_outcomes(passed=1)
    # pytest-benchmark orders the rows by speed: check each row on its own.
    second.stdout.fnmatch_lines(["*test_llm*offline*(NOW)*"])
    second.stdout.fnmatch_lines(["*test_llm*offline*(0001_*"])
    # Make the saved run impossibly fast: the next one must count as a regression.
    for name in ("min", "max", "mean", "median"):
        data["benchmarks"][0]["stats"][name] = 1e-9
    saved[0].write_text(json.dumps(data))
    strict = bench_project.runpytest_subprocess(*bench_args("-k", "offline", "--repeats", "3",
                                                 "--benchmark-compare=0001", "--benchmark-compare-fail=mean:5%"))
    assert strict.ret != 0
    assert "Performance has regressed" in "\n".join(strict.outlines + strict.errlines)


def test_ob_commands_over_run_folders(bench_project: pytest.Pytester, monkeypatch, capsys, tmp_path) -> None:
    bench_project.runpytest(*bench_args("--repeats", "3", "--report-dir", "runs/a")).assert_outcomes(passed=2)
    bench_project.runpytest(*bench_args("--repeats", "3", "--report-dir", "runs/b")).assert_outcomes(passed=2)
    monkeypatch.setenv("FAKE_SLOWDOWN", "0.2")
    bench_project.runpytest(*bench_args("--repeats", "3", "--report-dir", "runs/c")).assert_outcomes(passed=2)
    monkeypatch.chdir(bench_project.path)
    a, b, c = (next((bench_project.path / "runs" / n).iterdir()) for n in "abc")
    assert ob(["compare", str(a), str(b), "--drift", "0"]) == 0
    assert ob(["compare", str(a), str(c), "--drift", "0"]) == 1
    out = capsys.readouterr().out
    assert "summarization.xsum-offline-fake-fake-tiny: regression (" in out
    assert "performance regression: tpot_p50 regression:" in out
    assert ob(["baseline", "update", str(a), "--hw", "h100"]) == 0
    assert len(list((bench_project.path / "baselines" / "h100").glob("*.json"))) == 2
    capsys.readouterr()
    assert ob(["compare", str(b), "baselines/h100", "--drift", "0"]) == 1  # another hardware profile: refused
    assert "hardware profile (--hw): baseline h100, now cpu" in capsys.readouterr().out
    assert ob(["compare", str(b), "baselines/h100", "--force", "--drift", "0"]) == 0
    (c / "report.html").unlink()
    assert ob(["report", str(c)]) == 0
    html = (c / "report.html").read_text()
    assert "data:image/png;base64," in html and "summarization.xsum-offline-fake-fake-tiny" in html
    (c / "logs").mkdir()
    (c / "logs" / "engine.log").write_text("log")
    output = tmp_path / "result.tgz"
    assert ob(["pack", "--run", str(c), "--include-configs", "--output", str(output)]) == 0
    names = tarfile.open(output).getnames()
    assert f"{c.name}/results.json" in names and f"{c.name}/configs/benchmarks/matrix.yaml" in names
    assert not any("/logs/" in n for n in names)
    assert ob(["pack", "--run", str(c), "--include-logs", "--output", str(output)]) == 0
    assert f"{c.name}/logs/engine.log" in tarfile.open(output).getnames()


def test_ob_run_maps_its_flags_to_pytest_options() -> None:
    import argparse

    from openaiperf.cli import build_parser
    from openaiperf.run_command import pytest_args

    args = build_parser().parse_args(["run", "--task", "summarization.xsum", "--model", "smollm2-135m",
                                      "--scenario", "server", "--backend", "vllm", "--qps-target", "100",
                                      "--repeats", "3", "--subset-seed", "1234", "--", "-x"])
    assert isinstance(args, argparse.Namespace)
    assert pytest_args(args) == ["benchmarks", "--task=summarization.xsum", "--scenario=server", "--engine=vllm",
                                 "--model=smollm2-135m", "--repeats=3", "--subset-seed=1234", "--qps-target=100.0",
                                 "-x"]


def test_ob_run_has_every_plugin_option(pytestconfig: pytest.Config) -> None:
    """One declaration: every option of the plugin's group is an ``ob run`` option, and
    each given value reaches pytest as the same option."""
    from openaiperf.cli import build_parser
    from openaiperf.options import options
    from openaiperf.run_command import pytest_args

    group = next(g for g in pytestconfig._parser._groups if g.name == "openaiperf")
    plugin_flags = {name for option in group.options for name in option.names()}
    declared = {o.flag for o in options()}
    assert plugin_flags == declared and len(declared) >= 40
    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]
    run_flags = {flag for action in run._actions for flag in action.option_strings}
    assert declared <= run_flags
    argv = ["run", "--hw", "cpu", "--max-error-rate", "0.5", "--no-monitor", "--engine-option", "hf:batch_size=2",
            "--engine-option", "vllm:max_model_len=512", "--baseline-compare", "--baseline-save", "here",
            "--endpoint", "http://h:1", "--find-peak", "--min-queries", "9"]
    assert pytest_args(parser.parse_args(argv))[1:] == [
        "--hw=cpu", "--max-error-rate=0.5", "--no-monitor", "--engine-option=hf:batch_size=2",
        "--engine-option=vllm:max_model_len=512", "--endpoint=http://h:1", "--find-peak", "--min-queries=9",
        "--baseline-save=here", "--baseline-compare"]


def test_ob_run_runs_pytest(bench_project: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.chdir(bench_project.path)
    code = ob(["run", "--backend", "fake", "--scenario", "offline", "--hw", "cpu", "--max-samples", "4", "--",
               "--model-file", "models.yaml", "-p", "no:cacheprovider", "-q"])
    assert code == 0
    assert json.loads((only_run(bench_project.path) / "results.json").read_text())["cases"][0]["scenario"] == "offline"


def test_auto_workers_follow_the_visible_gpus(monkeypatch) -> None:
    from openaiperf.plugin.reporting import gpu_count, pytest_xdist_auto_num_workers

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert gpu_count() == 2 and pytest_xdist_auto_num_workers(None) == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert pytest_xdist_auto_num_workers(None) is None  # no GPU: xdist's own rule (CPU count)


def test_step_summary_is_written_when_github_sets_it(bench_project: pytest.Pytester, monkeypatch, tmp_path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    bench_project.runpytest(*bench_args("-k", "offline", "--no-html-report")).assert_outcomes(passed=1)
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## OpenAIPerf — cpu" in text
    assert "`summarization.xsum-offline-fake-fake-tiny` | passed" in text
    assert not (only_run(bench_project.path) / "report.html").exists()
