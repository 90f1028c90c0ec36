"""The baseline options end to end through pytest (fake engine): save, compare,
injected slowdown, missing/corrupt baselines, hardware refusal, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchproject import bench_args

pytest_plugins = ["pytester"]


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "reports").iterdir() if p.is_dir())


def test_save_then_compare_passes_and_slowdown_fails(bench_project: pytest.Pytester, monkeypatch) -> None:
    saved = bench_project.runpytest(*bench_args("--repeats", "3", "--baseline-save"))
    saved.assert_outcomes(passed=2)
    files = sorted((bench_project.path / "baselines" / "cpu").glob("*.json"))
    assert [f.stem for f in files] == ["summarization.xsum-offline-fake-fake-tiny",
                                       "summarization.xsum-single_stream-fake-fake-tiny"]
    stored = json.loads(files[0].read_text())
    assert len(stored["rounds"]) == 3 and len(stored["requests"]["tpot"]) == 24

    monkeypatch.setenv("FAKE_SEED", "1")
    same = bench_project.runpytest(*bench_args("--repeats", "3", "--baseline-compare"))
    same.assert_outcomes(passed=2)

    monkeypatch.setenv("FAKE_SLOWDOWN", "0.15")
    slow = bench_project.runpytest(*bench_args("--repeats", "3", "--baseline-compare"))
    slow.assert_outcomes(failed=2)
    slow.stdout.fnmatch_lines(["*performance regression: tpot_p50 regression: baseline * ms, current * ms, "
                               "ratio 1.1*95% CI*Welch t on log values over 3/3 rounds), tolerance +10%*"])
    document = json.loads((run_dirs(bench_project.path)[-1] / "results.json").read_text())
    case = document["cases"][0]
    assert case["status"] == "failed"
    assert "tpot_p50" in case["baseline"]["comparison"]["regressions"]
    markdown = (run_dirs(bench_project.path)[-1] / "pr-comment.md").read_text()
    delta_rows = [line for line in markdown.splitlines() if line.startswith("| ") and "`summarization" in line
                  and "ms" in line or "tokens/s" in line]
    assert delta_rows and delta_rows[0].rstrip(" |").endswith("regression")
    assert "significant regression" in markdown
    assert (run_dirs(bench_project.path)[-1] / "report.html").exists()


def test_tolerance_override_hides_the_slowdown(bench_project: pytest.Pytester, monkeypatch) -> None:
    bench_project.runpytest(*bench_args("--repeats", "3", "-k", "offline", "--baseline-save")).assert_outcomes(passed=1)
    monkeypatch.setenv("FAKE_SLOWDOWN", "0.15")
    loose = [f"--tolerance={m}=0.5" for m in ("tpot_p50", "tpot_p90", "e2e_p50", "e2e_p90", "ttft_p50", "ttft_p90",
                                               "output_tokens_per_s", "requests_per_s")]
    result = bench_project.runpytest(*bench_args("--repeats", "3", "-k", "offline", "--baseline-compare", *loose))
    result.assert_outcomes(passed=1)


def test_bad_tolerance_is_a_usage_error(bench_project: pytest.Pytester) -> None:
    result = bench_project.runpytest(*bench_args("--tolerance", "ttft_p90"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--tolerance*expected METRIC=FRACTION*'ttft_p90'*"])


def test_missing_baseline_is_a_note_unless_required(bench_project: pytest.Pytester) -> None:
    result = bench_project.runpytest(*bench_args("-k", "offline", "--baseline-compare"))
    result.assert_outcomes(passed=1)
    case = json.loads((run_dirs(bench_project.path)[-1] / "results.json").read_text())["cases"][0]
    assert any("no baseline for summarization.xsum-offline-fake-fake-tiny" in n for n in case["notes"])
    required = bench_project.runpytest(*bench_args("-k", "offline", "--baseline-required"))
    required.assert_outcomes(failed=1)
    required.stdout.fnmatch_lines(["*baseline: no baseline for summarization.xsum-offline-fake-fake-tiny on cpu*"])


def test_corrupt_baseline_names_the_file(bench_project: pytest.Pytester) -> None:
    folder = bench_project.path / "baselines" / "cpu"
    folder.mkdir(parents=True)
    (folder / "summarization.xsum-offline-fake-fake-tiny.json").write_text("{not json")
    result = bench_project.runpytest(*bench_args("-k", "offline", "--baseline-compare"))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*baselines/cpu/summarization.xsum-offline-fake-fake-tiny.json: not valid JSON*"])


def test_other_hardware_is_refused_unless_forced(bench_project: pytest.Pytester) -> None:
    bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3", "--baseline-save")).assert_outcomes(passed=1)
    source = bench_project.path / "baselines" / "cpu" / "summarization.xsum-offline-fake-fake-tiny.json"
    document = json.loads(source.read_text())
    document["hardware"] = "h100"
    target = bench_project.path / "h100-baselines" / "summarization.xsum-offline-fake-fake-tiny.json"
    target.parent.mkdir()
    target.write_text(json.dumps(document))
    refused = bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3",
                                                  "--baseline-compare=h100-baselines"))
    refused.assert_outcomes(failed=1)
    refused.stdout.fnmatch_lines(["*measured on hardware profile 'h100', this run on 'cpu'*--baseline-force*"])
    forced = bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3",
                                                 "--baseline-compare=h100-baselines", "--baseline-force"))
    forced.assert_outcomes(passed=1)
