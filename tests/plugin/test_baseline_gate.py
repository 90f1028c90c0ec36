"""The baseline options end to end through pytest (fake engine): save, compare,
injected slowdown, the three outcomes, configuration refusal, start-up checks,
missing/corrupt baselines, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchproject import bench_args

pytest_plugins = ["pytester"]

OFFLINE = "summarization.xsum-offline-fake-fake-tiny"


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "reports").iterdir() if p.is_dir())


def last_cases(root: Path) -> dict[str, dict]:
    document = json.loads((run_dirs(root)[-1] / "results.json").read_text())
    return {case["id"]: case for case in document["cases"]}


def test_save_then_compare_passes_and_slowdown_fails(bench_project: pytest.Pytester, monkeypatch) -> None:
    saved = bench_project.runpytest(*bench_args("--repeats", "3", "--baseline-save"))
    saved.assert_outcomes(passed=2)
    files = sorted((bench_project.path / "baselines" / "cpu").glob("*.json"))
    assert [f.stem for f in files] == [OFFLINE, "summarization.xsum-single_stream-fake-fake-tiny"]
    stored = json.loads(files[0].read_text())
    assert stored["schema_version"] == 3 and len(stored["rounds"]) == 3
    assert stored["fingerprint"]["checked"]["engine"] == "fake"
    assert stored["fingerprint"]["checked"]["cpu model"] == last_cases(bench_project.path)[OFFLINE][
        "fingerprint"]["checked"]["cpu model"]

    monkeypatch.setenv("FAKE_SEED", "1")
    same = bench_project.runpytest(*bench_args("--repeats", "3", "--baseline-compare"))
    same.assert_outcomes(passed=2)
    verdicts = {cid: case["baseline"]["outcome"] for cid, case in last_cases(bench_project.path).items()}
    # Offline times are all synthetic; single-stream throughput also counts the real gaps between requests.
    assert verdicts[OFFLINE] == "no regression" and set(verdicts.values()) <= {"no regression", "inconclusive"}
    assert len(last_cases(bench_project.path)[OFFLINE]["rounds"]) == 3  # no regression: no rounds to confirm
    same.stdout.fnmatch_lines(["*vs baseline*", f"*{OFFLINE}*no regression*"])

    monkeypatch.setenv("FAKE_SLOWDOWN", "0.10")
    slow = bench_project.runpytest(*bench_args("--baseline-compare"))  # the default: one new round
    slow.assert_outcomes(failed=2)
    # one round made a regression; two more confirmed it, and the verdict is on all three
    slow.stdout.fnmatch_lines([("*performance regression: tpot_p50 regression: * ms vs baseline * ms, +10.*% (worse; "
                               "90% CI *pooled t on log values, 3 vs 3 rounds*tolerance +5%*")])
    case = last_cases(bench_project.path)[OFFLINE]
    assert case["status"] == "failed" and case["baseline"]["outcome"] == "regression"
    assert len(case["rounds"]) == 3 and any("2 more round(s) measured to confirm it" in n for n in case["notes"])
    assert {"tpot_p50", "e2e_p50"} <= set(case["baseline"]["comparison"]["regressions"])
    markdown = (run_dirs(bench_project.path)[-1] / "pr-comment.md").read_text()
    assert "2 regression, 0 inconclusive" in markdown
    assert next(line for line in markdown.splitlines() if f"`{OFFLINE}` | tpot_p50" in line).count("| regression |")
    assert (run_dirs(bench_project.path)[-1] / "report.html").exists()


def test_a_regression_of_one_round_is_measured_again_before_it_fails_the_case(bench_project: pytest.Pytester,
                                                                              monkeypatch) -> None:
    bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3", "--baseline-save")).assert_outcomes(passed=1)
    monkeypatch.setenv("FAKE_SEED", "1")
    # The first measured round a hiccup made 30% slower.
    monkeypatch.setenv("FAKE_SLOWDOWN", "0.3")
    monkeypatch.setenv("FAKE_SLOW_ROUNDS", "0")
    alone = bench_project.runpytest(*bench_args("-k", "offline", "--baseline-compare", "--baseline-confirm", "0"))
    alone.assert_outcomes(failed=1)  # judged on that round alone: a false alarm
    assert len(last_cases(bench_project.path)[OFFLINE]["rounds"]) == 1
    confirmed = bench_project.runpytest(*bench_args("-k", "offline", "--baseline-compare"))
    confirmed.assert_outcomes(passed=1)  # two more rounds do not bear it out
    case = last_cases(bench_project.path)[OFFLINE]
    assert len(case["rounds"]) == 3 and case["baseline"]["outcome"] != "regression"
    assert any("the 1 round(s) measured made a regression (" in n and "2 more round(s)" in n for n in case["notes"])
    assert case["rounds"][0]["tpot_p50"] > 1.25 * case["rounds"][1]["tpot_p50"]  # the hiccup is in the record
    # A slowdown in every round is confirmed, and a case without a regression measures no more (the first test).


def test_inconclusive_passes_and_strict_fails_it(bench_project: pytest.Pytester, monkeypatch) -> None:
    # An engine whose per-token times vary by 40%: one new round cannot rule out a 5% change.
    monkeypatch.setenv("FAKE_JITTER", "0.4")
    bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3", "--baseline-save")).assert_outcomes(passed=1)
    monkeypatch.setenv("FAKE_SEED", "1")
    lenient = bench_project.runpytest(*bench_args("-k", "offline", "--baseline-compare"))
    lenient.assert_outcomes(passed=1)
    case = last_cases(bench_project.path)[OFFLINE]
    assert case["baseline"]["outcome"] == "inconclusive" and case["baseline"]["settle"]
    lenient.stdout.fnmatch_lines([f"*{OFFLINE}*inconclusive*", f"{OFFLINE}: inconclusive (*); would settle it: *"])
    assert any("baseline inconclusive:" in note for note in case["notes"])
    markdown = (run_dirs(bench_project.path)[-1] / "pr-comment.md").read_text()
    assert "🟡" in markdown and "would settle it:" in markdown
    html = (run_dirs(bench_project.path)[-1] / "report.html").read_text()
    assert '<tr class="inconclusive">' in html
    strict = bench_project.runpytest(*bench_args("-k", "offline", "--baseline-compare", "--baseline-strict"))
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*baseline inconclusive: *--baseline-strict fails an inconclusive verdict*"])


SERVER_MATRIX = """
suites:
  - name: fake-server
    tasks: [summarization.xsum]
    scenarios: [server]
    engines: [fake]
    models: [fake-tiny]
    scenario_options:
      server: {qps_target: 50}
"""


def test_another_qps_target_is_refused_naming_the_option(bench_project: pytest.Pytester) -> None:
    (bench_project.path / "benchmarks" / "matrix.yaml").write_text(SERVER_MATRIX)
    case_id = "summarization.xsum-server-fake-fake-tiny"
    saved = bench_project.runpytest(*bench_args("--repeats", "3", "--qps-target", "40", "--baseline-save"))
    saved.assert_outcomes(passed=1)
    stored = json.loads((bench_project.path / "baselines" / "cpu" / f"{case_id}.json").read_text())
    assert stored["fingerprint"]["checked"]["scenario option qps_target"] == 40.0
    refused = bench_project.runpytest(*bench_args("--qps-target", "80", "--baseline-compare"))
    refused.assert_outcomes(failed=1)
    refused.stdout.fnmatch_lines(["*baseline: refusing to compare with *" + case_id + ".json: the configuration "
                                  "differs (scenario option qps_target (--qps-target): baseline 40.0, now 80.0); pass "
                                  "--baseline-force to compare anyway*"])
    case = last_cases(bench_project.path)[case_id]
    assert case["baseline"]["refused"] and case["baseline"]["differences"][0]["part"] == "scenario option qps_target"
    markdown = (run_dirs(bench_project.path)[-1] / "pr-comment.md").read_text()
    assert ("baseline refused, the configuration differs: scenario option qps_target (--qps-target): "
            "baseline 40.0, now 80.0") in markdown
    forced = bench_project.runpytest(*bench_args("--qps-target", "80", "--baseline-compare", "--baseline-force"))
    forced.assert_outcomes(passed=1)
    notes = last_cases(bench_project.path)[case_id]["notes"]
    assert any("compared although the configuration differs (--baseline-force): scenario option qps_target" in n
               for n in notes)


def test_saving_with_one_round_is_refused_at_start_up(bench_project: pytest.Pytester) -> None:
    result = bench_project.runpytest(*bench_args("--baseline-save"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--baseline-save*needs --repeats >= 3 (got --repeats 1)*"])


def test_bad_tolerance_and_alpha_are_usage_errors(bench_project: pytest.Pytester) -> None:
    result = bench_project.runpytest(*bench_args("--tolerance", "ttft_p90"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--tolerance*expected METRIC=FRACTION*'ttft_p90'*"])
    result = bench_project.runpytest(*bench_args("--baseline-alpha", "0.7"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--baseline-alpha*0 < ALPHA < 0.5*'0.7'*"])


def test_missing_baseline_is_a_note_unless_required(bench_project: pytest.Pytester) -> None:
    result = bench_project.runpytest(*bench_args("-k", "offline", "--baseline-compare"))
    result.assert_outcomes(passed=1)
    case = last_cases(bench_project.path)[OFFLINE]
    assert any(f"no baseline for {OFFLINE}" in n for n in case["notes"])
    required = bench_project.runpytest(*bench_args("-k", "offline", "--baseline-required"))
    required.assert_outcomes(failed=1)
    required.stdout.fnmatch_lines([f"*baseline: no baseline for {OFFLINE} on cpu*"])


def test_corrupt_baseline_names_the_file(bench_project: pytest.Pytester) -> None:
    folder = bench_project.path / "baselines" / "cpu"
    folder.mkdir(parents=True)
    (folder / f"{OFFLINE}.json").write_text("{not json")
    result = bench_project.runpytest(*bench_args("-k", "offline", "--baseline-compare"))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*baselines/cpu/{OFFLINE}.json: not valid JSON*"])


def test_ob_compare_shows_outcomes_intervals_and_differences(bench_project: pytest.Pytester, monkeypatch,
                                                              capsys) -> None:
    from openaiperf.cli import main

    bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3")).assert_outcomes(passed=1)
    monkeypatch.setenv("FAKE_SLOWDOWN", "0.10")
    bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3")).assert_outcomes(passed=1)
    first, second = run_dirs(bench_project.path)[-2:]
    capsys.readouterr()
    assert main(["compare", str(first), str(second), "--drift", "0"]) == 1
    out = capsys.readouterr().out
    assert "tpot_p50" in out and "[1.0" in out and "3/3" in out  # the interval of the ratio, rounds per side
    assert f"{OFFLINE}: regression (" in out and "Holm over" in out
    assert "across all 1 case(s): 1 with a regression" in out
    # Another batch size in the second run: refused, the option named; --force compares anyway.
    results = second / "results.json"
    document = json.loads(results.read_text())
    document["cases"][0]["fingerprint"]["checked"]["engine option batch_size"] = 8
    results.write_text(json.dumps(document))
    assert main(["compare", str(first), str(second), "--drift", "0"]) == 1
    out = capsys.readouterr().out
    assert "refusing to compare" in out and "engine option batch_size (--engine-option): baseline absent, now 8" in out
    assert main(["compare", str(first), str(second), "--force", "--drift", "0"]) == 1
    out = capsys.readouterr().out
    assert "compared although the configuration differs (--force)" in out and "regression" in out


def test_append_builds_a_baseline_of_several_runs(bench_project: pytest.Pytester, monkeypatch, capsys) -> None:
    from openaiperf.cli import main

    for seed in ("1", "2"):
        monkeypatch.setenv("FAKE_SEED", seed)
        bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3", "--baseline-append")).assert_outcomes(
            passed=1)
    path = bench_project.path / "baselines" / "cpu" / f"{OFFLINE}.json"
    stored = json.loads(path.read_text())
    runs = [r["run"] for r in stored["rounds"]]
    assert len(stored["rounds"]) == 6 and len(set(runs)) == 2 and runs[0] == run_dirs(bench_project.path)[0].name
    monkeypatch.setenv("FAKE_SEED", "3")
    compared = bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3", "--baseline-compare"))
    compared.assert_outcomes(passed=1)
    metrics = last_cases(bench_project.path)[OFFLINE]["baseline"]["comparison"]["metrics"]
    assert all("t against 2 baseline runs (6 rounds), run-to-run drift" in m["method"] for m in metrics)
    # ob baseline update --append adds the finished run as a third.
    capsys.readouterr()
    assert main(["baseline", "update", str(run_dirs(bench_project.path)[-1]), "--append",
                 "--baselines", str(bench_project.path / "baselines")]) == 0
    assert "appended to" in capsys.readouterr().out
    assert len({r["run"] for r in json.loads(path.read_text())["rounds"]}) == 3


def test_allure_carries_the_verdict(bench_project: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_JITTER", "0.4")
    bench_project.runpytest(*bench_args("-k", "offline", "--repeats", "3", "--baseline-save")).assert_outcomes(passed=1)
    monkeypatch.setenv("FAKE_SEED", "1")
    bench_project.runpytest(*bench_args("-k", "offline", "--baseline-compare", "--alluredir", "allure")
                            ).assert_outcomes(passed=1)
    (result,) = [json.loads(p.read_text()) for p in (bench_project.path / "allure").glob("*-result.json")]
    assert {p["name"]: p["value"] for p in result["parameters"]}["baseline verdict"] == "'inconclusive'"
    assert ("tag", "baseline inconclusive") in {(lbl["name"], lbl["value"]) for lbl in result["labels"]}
    assert "would settle it:" in result["description"]
    attachment = next(a for a in result["attachments"] if a["name"] == "baseline verdict")
    text = (bench_project.path / "allure" / attachment["source"]).read_text()
    assert text.startswith("baseline verdict: inconclusive") and "tpot_p50" in text


# -- interleaved A/B ------------------------------------------------------------------------------
def test_interleaved_a_b_with_engine_options_judges_b_against_a(bench_project: pytest.Pytester) -> None:
    """Two engines of the same case that differ by an engine option (``--ab-engine-option``):
    the B side 10% slower per token is a regression, decided at the first look; another seed
    of the same engine is no regression."""
    slow = bench_project.runpytest(*bench_args("-k", "offline", "--ab-engine-option", "fake:slowdown=0.1"))
    slow.assert_outcomes(failed=1)
    case = last_cases(bench_project.path)[OFFLINE]
    ab = case["ab"]
    assert ab["outcome"] == "regression" and ab["pairs"] == 4 and ab["order"] == "ABBAABBA"
    assert ab["b"]["engine_options"] == {"slowdown": 0.1} and ab["b"]["target"] == "slowdown=0.1"
    assert ab["stopped"].startswith("decided at look 1 of 3 (4 rounds a side)")
    assert {"tpot_p50", "e2e_p50", "output_tokens_per_s"} <= set(ab["comparison"]["regressions"])
    assert any(f.startswith("A/B regression: tpot_p50 regression:") for f in case["failures"])
    assert (bench_project.path / "reports").exists()
    run_dir = run_dirs(bench_project.path)[-1]
    assert (run_dir / "records" / f"{OFFLINE}[ab=B].jsonl").exists()
    assert "interleaved A/B, B (slowdown=0.1) vs A" in (run_dir / "report.html").read_text()
    same = bench_project.runpytest(*bench_args("-k", "offline", "--ab-engine-option", "fake:seed=7"))
    same.assert_outcomes(passed=1)
    ab = last_cases(bench_project.path)[OFFLINE]["ab"]
    assert ab["outcome"] == "no regression" and ab["pairs"] == 4, ab["summary"]


@pytest.mark.parametrize(("args", "message"), [
    (("--ab-engine-option", "fake:seed=1", "--ab-rounds", "2"), "--ab-rounds: expected an integer >= 3"),
    (("--ab-endpoint", "http://127.0.0.1:9", "--baseline-compare"), "--baseline-compare: an A/B run compares"),
    (("--ab-rounds", "6"), "--ab-rounds: applies to an A/B comparison"),
    (("--ab-endpoint", "127.0.0.1:9"), "--ab-endpoint: expected the B side's server URL"),
])
def test_a_b_options_are_checked_at_start_up(bench_project: pytest.Pytester, args: tuple[str, ...],
                                             message: str) -> None:
    result = bench_project.runpytest(*bench_args(*args))
    assert result.ret != 0
    result.stderr.fnmatch_lines([f"*{message}*"])
