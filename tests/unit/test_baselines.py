"""The baseline gate without a model: its statistics against textbook formulas,
the three outcomes, typed directions, the configuration check, the store, and
how reports show a verdict."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openaiperf.baselines import BASELINE_SCHEMA_VERSION, Baseline, BaselineError, Round
from openaiperf.baselines import stats as gate_stats
from openaiperf.baselines.compare import Outcome, compare_case, compare_metric
from openaiperf.baselines.fingerprint import configuration, differences
from openaiperf.baselines.gate import (
    DEFAULT_TOLERANCES,
    GateSettings,
    check_settings,
    gate,
    resolve_tolerances,
)
from openaiperf.baselines.json_store import JsonBaselineStore, read_baseline
from openaiperf.baselines.settings import BaselineSettings, parse_tolerances
from openaiperf.errors import ConfigError
from openaiperf.metrics import Better, Metric
from openaiperf.result import CaseResult, Fingerprint, MetricValue, RunResult

FINGERPRINT = {"checked": {"engine": "hf", "scenario": "offline"}, "noted": {"python": "3.11"}}


def make(values: list[float], metric: str = "tpot_p50", better: str = "lower", hw: str = "cpu",
         fingerprint: dict | None = None, **more: list[float]) -> Baseline:
    """A baseline/run with per-round values of ``metric`` (and of any metric in ``more``)."""
    series = {metric: values, **more}
    rounds = [{name: series[name][i] for name in series} for i in range(len(values))]
    metrics = {name: {"value": float(np.mean(v)), "unit": "ms" if better == "lower" else "tokens/s",
                      "better": better} for name, v in series.items()}
    return Baseline(case_id="c", hardware=hw, metrics=metrics, rounds=rounds,
                    fingerprint=FINGERPRINT if fingerprint is None else fingerprint)


def judged(baseline: Baseline, current: Baseline, tolerance: float = 0.05, metric: str = "tpot_p50",
           alpha: float = 0.05, drift: float = 0.0):
    """One metric's comparison; no assumed run-to-run drift unless given (the textbook formulas)."""
    return compare_case(baseline, current, {metric: tolerance}, alpha=alpha, drift=drift).metrics[0]


# -- statistics against the textbook ---------------------------------------------------------
def test_one_new_round_is_a_prediction_interval_from_the_baseline_rounds() -> None:
    base, new = [10.0, 10.4, 9.8, 10.1], [10.9]
    change = gate_stats.log_change(base, new)
    logs = np.log(base)
    assert change.df == 3
    assert change.se == pytest.approx(logs.std(ddof=1) * math.sqrt(1 + 1 / 4))
    assert change.estimate == pytest.approx(math.log(10.9) - logs.mean())
    assert "prediction interval from 4 baseline rounds" in change.method


def test_several_new_rounds_are_a_pooled_two_sample_t_test() -> None:
    from scipy.stats import ttest_ind

    base, new = [10.0, 10.4, 9.8], [10.6, 10.9, 10.5]
    change = gate_stats.log_change(base, new)
    expected = ttest_ind(np.log(new), np.log(base), equal_var=True, alternative="greater")
    assert gate_stats.p_worse(change.estimate, change.se, change.df) == pytest.approx(expected.pvalue)
    assert change.df == 4


def test_several_baseline_runs_add_their_drift_to_the_error() -> None:
    runs = [[10.0, 10.1, 9.9], [10.6, 10.5, 10.7], [9.6, 9.7, 9.5], [10.2, 10.3, 10.1]]
    change = gate_stats.log_change(runs, [10.4])
    logs = [np.log(r) for r in runs]
    within = sum(((g - g.mean()) ** 2).sum() for g in logs) / (4 * 2)  # the new run's one round adds no df
    between = np.var([g.mean() for g in logs], ddof=1)
    assert change.noise.within == pytest.approx(within) and change.noise.between == pytest.approx(between)
    assert change.se ** 2 == pytest.approx(between * (1 + 1 / 4) + within * (1 - 1 / 3))
    assert change.estimate == pytest.approx(math.log(10.4) - np.mean([g.mean() for g in logs]))
    assert "t against 4 baseline runs (12 rounds), run-to-run drift" in change.method
    assert 3 < change.df < 8  # Satterthwaite, between the between-run (3) and pooled (8) df
    # Runs that agree as well as their rounds do: no drift, the drift-free error.
    steady = gate_stats.log_change([[10.0, 10.2, 9.8], [10.05, 9.85, 10.1]], [10.0])
    h = 1 / 3
    assert steady.se ** 2 == pytest.approx(steady.noise.within * (1 + h / 2)) and steady.df == 4


def test_the_false_alarm_rate_holds_with_drift_only_when_the_baseline_measures_it() -> None:
    """Simulated A/A comparisons with 3% drift between runs and 1% between rounds:
    a baseline of five runs keeps the one-sided 5% test at about 5%; one run
    (which cannot see the drift) rejects far more often."""
    rng = np.random.default_rng(1)

    def run(rounds: int) -> list[float]:
        return list(np.exp(rng.normal(0, 0.03) + rng.normal(0, 0.01, rounds)))

    rejections = {1: 0, 5: 0}
    trials = 1500
    for _ in range(trials):
        new = run(1)
        for runs in rejections:
            change = gate_stats.log_change([run(3) for _ in range(runs)], new)
            rejections[runs] += gate_stats.p_worse(change.estimate, change.se, change.df) < 0.05
    assert 0.03 < rejections[5] / trials < 0.08
    assert rejections[1] / trials > 0.15


def test_holm_matches_the_textbook_example() -> None:
    # Holm (1979): sorted p 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1, then running maximum.
    assert gate_stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert gate_stats.holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])


# -- the three outcomes ----------------------------------------------------------------------
def test_significant_slowdown_beyond_tolerance_is_a_regression() -> None:
    result = judged(make([10.0, 10.1, 9.9, 10.05, 9.95]), make([11.0]))
    assert result.outcome is Outcome.REGRESSION and result.change == "worse"
    baseline_mean = math.exp(np.log([10, 10.1, 9.9, 10.05, 9.95]).mean())
    assert result.ci_low > 1.05 and result.ratio == pytest.approx(11.0 / baseline_mean)
    message = result.message()
    assert "tpot_p50 regression: 11 ms vs baseline" in message and "+10.0% (worse" in message
    assert "prediction interval from 5 baseline rounds" in message and "tolerance +5%" in message


def test_a_change_ruled_out_beyond_tolerance_is_no_regression() -> None:
    result = judged(make([10.0, 10.02, 9.98, 10.01]), make([10.01, 9.99, 10.0]))
    assert result.outcome is Outcome.NO_REGRESSION
    assert "a change beyond +5% is ruled out" in result.reason


def test_noisy_rounds_are_inconclusive_with_what_would_settle_it() -> None:
    base = make([10.0, 10.6, 9.5])
    result = judged(base, make([10.2]))
    assert result.outcome is Outcome.INCONCLUSIVE and result.settle
    # Following the advice at the same spread and change decides it.
    rounds = result.settle_rounds.current_rounds or result.settle_rounds.both_rounds
    assert rounds is not None and f"--repeats {rounds}" in result.settle
    change = gate_stats.log_change(base.round_values("tpot_p50"), [10.2])
    n_b = change.n_baseline if result.settle_rounds.current_rounds else rounds
    se = change.spread * math.sqrt(1 / n_b + 1 / rounds)
    bound = gate_stats.worse_bound(change.estimate, se, n_b + rounds - 2, 0.05)
    assert bound <= math.log(1.05)
    # One round fewer would not have done.
    se = change.spread * math.sqrt(1 / n_b + 1 / (rounds - 1))
    assert gate_stats.worse_bound(change.estimate, se, n_b + rounds - 3, 0.05) > math.log(1.05)


def test_a_one_run_baseline_counts_the_assumed_drift_of_both_runs() -> None:
    base, new = [10.0, 10.05, 9.95], [10.6]
    bare = gate_stats.log_change(base, new)
    drifting = gate_stats.log_change(base, new, assumed_drift=0.05)
    assert drifting.se == pytest.approx(math.sqrt(bare.se**2 + 2 * 0.05**2))
    # The assumed drift is known, not estimated: Satterthwaite's df with the round part the only estimated one.
    round_part = bare.se**2
    assert drifting.df == pytest.approx(drifting.se**4 / (round_part**2 / bare.df))
    assert drifting.df > 1000  # a steady server's rounds: the normal quantile
    # A new run 12% off a steady one-run baseline: a regression if runs never drift, and
    # inconclusive once they may (5%): more baseline runs would measure the drift.
    assert judged(make(base), make([11.2])).outcome is Outcome.REGRESSION
    result = judged(make(base), make([11.2]), drift=0.05)
    assert result.outcome is Outcome.INCONCLUSIVE and "more baseline runs (--baseline-append)" in result.settle
    assert "run-to-run drift assumed 5.0% (--baseline-drift)" in result.method
    # 6% off, within what a 5% drift of the new run alone explains: at the assumed drift no number
    # of runs settles it; the advice is to measure the drift, and how many runs would do if the
    # runs drift no more than their rounds vary.
    assert judged(make(base), make(new)).outcome is Outcome.REGRESSION
    result = judged(make(base), make(new), drift=0.05)
    assert result.outcome is Outcome.INCONCLUSIVE and result.settle_rounds.measure_drift
    runs = result.settle_rounds.baseline_runs
    assert runs is not None and f"{runs - 1} more baseline run" in result.settle
    assert "to measure the drift instead of assuming it" in result.settle
    assert "(5.0%, --baseline-drift)" in result.settle
    # Followed, on runs that agree as well as their rounds do, the advice decides it; one run fewer does not.
    from openaiperf.baselines import Round

    def runs_of(count: int) -> Baseline:
        rounds = [Round(run=f"r{i}", values={"tpot_p50": v}) for i in range(count) for v in base]
        return Baseline(case_id="c", hardware="cpu", metrics=make(base).metrics, rounds=rounds,
                        fingerprint=FINGERPRINT)

    assert judged(runs_of(runs), make(new), drift=0.05).outcome is Outcome.REGRESSION
    if runs > 2:
        assert judged(runs_of(runs - 1), make(new), drift=0.05).outcome is Outcome.INCONCLUSIVE
    # Where even a machine without drift would not tell, the advice says which spread stands in the way.
    hopeless = judged(make([10.0, 10.6, 9.5]), make([10.55]), drift=0.05)
    assert "a steadier machine" in hopeless.settle and "round-to-round spread of" in hopeless.settle
    # A 4x slowdown stays a regression at any plausible drift.
    assert judged(make(base), make([40.0]), drift=0.05).outcome is Outcome.REGRESSION


def test_a_hopelessly_noisy_metric_says_so() -> None:
    result = judged(make([10.0, 20.0, 5.0]), make([10.0]), tolerance=0.01)
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "steadier machine or a wider tolerance" in result.settle


def test_case_outcome_regression_beats_inconclusive_beats_no_regression() -> None:
    base = make([10.0, 10.1, 9.9, 10.0], ttft_p50=[50.0, 50.2, 49.8, 50.1], e2e_p50=[100.0, 130.0, 80.0, 100.0])
    steady = make([10.0, 10.05, 9.95], ttft_p50=[50.0, 50.1, 49.9], e2e_p50=[100.0, 101.0, 99.0])
    tolerances = {"tpot_p50": 0.05, "ttft_p50": 0.05, "e2e_p50": 0.05}
    assert compare_case(base, steady, tolerances, drift=0.0).outcome is Outcome.INCONCLUSIVE  # e2e is too noisy
    assert compare_case(base, steady, {"tpot_p50": 0.05, "ttft_p50": 0.05}, drift=0.0).outcome is Outcome.NO_REGRESSION
    slow = make([11.5, 11.6, 11.4], ttft_p50=[50.0, 50.1, 49.9], e2e_p50=[100.0, 101.0, 99.0])
    case = compare_case(base, slow, tolerances, drift=0.0)
    assert case.outcome is Outcome.REGRESSION and next(m.metric for m in case.metrics) == "tpot_p50"
    assert "1 regression, 1 inconclusive, 1 no regression" in case.summary()


def test_a_percentile_verdict_uses_that_percentile_per_round() -> None:
    # p50 15% better, p90 17% worse: each is judged on its own rounds.
    base = make([10.0, 10.1, 9.9], tpot_p90=[20.0, 20.2, 19.8])
    now = make([8.5, 8.6, 8.4], tpot_p90=[23.4, 23.5, 23.3])
    case = compare_case(base, now, {"tpot_p50": 0.05, "tpot_p90": 0.05}, drift=0.0)
    by_name = {m.metric: m for m in case.metrics}
    assert by_name["tpot_p90"].outcome is Outcome.REGRESSION
    assert by_name["tpot_p50"].outcome is Outcome.NO_REGRESSION and by_name["tpot_p50"].change == "better"


# -- typed directions --------------------------------------------------------------------------
def test_a_lower_is_better_metric_that_went_up_is_never_an_improvement() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        base = list(10 * np.exp(rng.normal(0, 0.05, 3)))
        now = list(10 * rng.uniform(1.001, 1.5) * np.exp(rng.normal(0, 0.01, int(rng.integers(1, 4)))))
        result = judged(make(base), make(now))
        if result.ratio > 1:
            assert result.change == "worse" and result.worse > 0
            assert result.outcome is not Outcome.NO_REGRESSION or result.ci_high <= 1.05


def test_higher_is_better_reads_a_drop_as_worse_and_a_rise_as_better() -> None:
    base = make([100.0, 101.0, 99.0], "output_tokens_per_s", "higher")
    drop = judged(base, make([85.0, 86.0, 84.0], "output_tokens_per_s", "higher"), metric="output_tokens_per_s")
    assert drop.outcome is Outcome.REGRESSION and drop.change == "worse" and drop.tolerance_text() == "-5%"
    rise = judged(base, make([130.0, 131.0, 129.0], "output_tokens_per_s", "higher"), metric="output_tokens_per_s")
    assert rise.outcome is Outcome.NO_REGRESSION and rise.change == "better"


def test_directions_are_typed_and_checked() -> None:
    assert Metric(1.0, "ms", "lower").better is Better.LOWER
    assert Metric(1.0, "ms", "lower").to_json()["better"] == "lower"
    with pytest.raises(ValueError, match="'down' is not a direction; accepted: 'lower', 'higher', 'none'"):
        Metric(1.0, "ms", "down")
    assert Better.HIGHER.worse_by(math.log(0.9)) > 0 and Better.LOWER.worse_by(math.log(0.9)) < 0
    conflicting = make([10.0, 10.0, 10.0], better="higher")
    result = compare_metric("tpot_p50", make([10.0, 10.0, 10.0]), conflicting, 0.05)
    assert result.outcome is Outcome.INCONCLUSIVE and "direction differs" in result.reason


# -- family-wise error and alpha -----------------------------------------------------------------
def test_holm_across_metrics_and_alpha_are_honoured() -> None:
    base = make([10.0, 10.3, 9.8, 10.1])
    now = make([10.0 * 1.09])
    alone = judged(base, now)
    assert alone.p_value < 0.05 and alone.outcome is Outcome.REGRESSION
    # The same metric among seven others that did not move: Holm multiplies its p by 8.
    others = {f"m{i}": [10.0, 10.3, 9.8, 10.1] for i in range(7)}
    case = compare_case(make([10.0, 10.3, 9.8, 10.1], **others),
                        make([10.9], **{name: [10.05] for name in others}),
                        {"tpot_p50": 0.05, **{name: 0.05 for name in others}}, drift=0.0)
    tpot = next(m for m in case.metrics if m.metric == "tpot_p50")
    assert tpot.p_holm == pytest.approx(min(1.0, 8 * tpot.p_value)) and tpot.p_holm > 0.05
    assert tpot.outcome is Outcome.INCONCLUSIVE and "not significantly (Holm p=" in tpot.reason
    strict = judged(base, now, alpha=alone.p_value / 2)
    assert strict.outcome is Outcome.INCONCLUSIVE


# -- configuration fingerprints -------------------------------------------------------------------
SYSTEM = {"hardware": {"cpu": {"model": "AMD EPYC 7B13", "cores": 2, "threads": 2}, "accelerators": []},
          "software": {"python": "3.11.9", "os": "Linux", "packages": {"torch": "2.13.0"}}}


def case_json(**overrides) -> CaseResult:
    case = {"id": "t-server-hf-m", "task": "t", "scenario": "server", "engine": "hf", "model": "m",
            "hardware": "cpu", "engine_options": {"batch_size": 4}, "scenario_options": {"qps_target": 2.0},
            "settings": {"samples": 8, "dtype": "float32", "subset_seed": None, "warmup_samples": 1,
                         "max_new_tokens": 16},
            "engine_info": {"transformers": "5.19.0", "torch": "2.13.0+cpu", "options": {"batch_size": 4}}}
    return CaseResult.model_validate(case | overrides)


def test_fingerprint_differences_name_each_part() -> None:
    before = configuration(case_json(), system=SYSTEM, hardware="cpu", device="cpu", openaiperf_version="0.1")
    after = configuration(case_json(scenario_options={"qps_target": 4.0}), system=SYSTEM, hardware="cpu",
                          device="cpu", openaiperf_version="0.2")
    found = differences(before, after)
    assert [d.text() for d in found if d.refuses] == [
        "scenario option qps_target (--qps-target): baseline 2.0, now 4.0"]
    assert [d.text() for d in found if not d.refuses] == ["openaiperf version: baseline 0.1, now 0.2"]
    other_cpu = dict(SYSTEM, hardware={"cpu": {"model": "Intel Xeon 8480", "cores": 2, "threads": 2}})
    moved = configuration(case_json(), system=other_cpu, hardware="cpu", device="cpu", openaiperf_version="0.1")
    assert [d.text() for d in differences(before, moved)] == [
        "cpu model: baseline AMD EPYC 7B13, now Intel Xeon 8480"]
    assert differences(before, before) == []
    assert differences(None, before)[0].refuses


def test_fingerprint_of_a_gpu_run_checks_the_gpu_and_notes_the_host() -> None:
    gpu = {"hardware": {"cpu": {"model": "x", "cores": 64, "threads": 128},
                        "accelerators": [{"name": "NVIDIA H100 80GB HBM3", "count": 8, "memory_gb": 79.6,
                                          "power_limits_w": [700.0] * 8}]},
           "software": {"driver": "550.54", "compute_backend": {"type": "cuda", "version": "12.4"}}}
    capped = json.loads(json.dumps(gpu))
    capped["hardware"]["accelerators"][0]["power_limits_w"] = [500.0] * 8
    capped["hardware"]["cpu"]["model"] = "y"
    a = configuration(case_json(), system=gpu, hardware="h100", device="cuda")
    b = configuration(case_json(), system=capped, hardware="h100", device="cuda")
    assert a.checked["gpu"] == "8x NVIDIA H100 80GB HBM3" and a.checked["cuda version"] == "12.4"
    texts = {d.text(): d.refuses for d in differences(a, b)}
    assert texts == {"gpu power cap W: baseline [700.0, 700.0, 700.0, 700.0, 700.0, 700.0, 700.0, 700.0], now "
                     "[500.0, 500.0, 500.0, 500.0, 500.0, 500.0, 500.0, 500.0]": True,
                     "host cpu model: baseline x, now y": False}


def test_fingerprint_never_holds_a_secret() -> None:
    case = case_json(engine="openai", engine_options={"endpoint": "https://user:sk-abcdefghijklmnopqrstu@host/v1",
                                                      "api_key_env": "MY_KEY"})
    text = configuration(case, system=SYSTEM, hardware="cpu", device="cpu").model_dump_json()
    assert "sk-abcdefghijklmnopqrstu" not in text and "user:" not in text and "MY_KEY" not in text


def test_power_cap_is_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from fake_pynvml import FakeNvml

    from openaiperf.hardware.probe.accelerators import probe_accelerators

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(gpus=2, power_limits_mw=(700_000, 450_000)))
    accelerators, software = probe_accelerators(False)
    assert accelerators[0]["count"] == 2 and accelerators[0]["power_limits_w"] == [700.0, 450.0]
    assert software["driver"] == "550.54"


# -- the gate and the store -------------------------------------------------------------------------
def test_store_round_trip_and_bad_files(tmp_path: Path) -> None:
    store = JsonBaselineStore(tmp_path)
    path = store.save(make([1.0, 2.0, 3.0]))
    assert path == tmp_path / "cpu" / "c.json"
    loaded = store.load("cpu", "c")
    assert loaded.rounds[2] == Round(values={"tpot_p50": 3.0}) and loaded.fingerprint == Fingerprint(**FINGERPRINT)
    assert store.load("cpu", "missing") is None
    with pytest.raises(BaselineError, match=r"has 2 round\(s\); a baseline needs at least 3 .*--repeats 3"):
        store.save(make([1.0, 2.0]))
    document = json.loads(path.read_text())
    for change, error in ((lambda d: d.update(schema_version=1), r"c\.json: field 'schema_version' is 1.*re-save"),
                          (lambda d: d.update(rounds=d["rounds"][:1]), r"field 'rounds' has 1 round\(s\)"),
                          (lambda d: d["metrics"]["tpot_p50"].update(better="down"),
                           r"field 'metrics.tpot_p50.better': 'down' is not a direction"),
                          (lambda d: d.pop("fingerprint"), "missing field 'fingerprint'")):
        broken = json.loads(json.dumps(document))
        change(broken)
        path.write_text(json.dumps(broken))
        with pytest.raises(BaselineError, match=error):
            read_baseline(path)


def test_a_round_keeps_its_run_and_round_trips_through_the_file(tmp_path: Path) -> None:
    """A round is a :class:`Round` (its values and its run), written as such: no metric
    name can collide with the run's id."""
    store = JsonBaselineStore(tmp_path)
    baseline = make([1.0, 2.0, 3.0], ttft_p50=[5.0, 6.0, 7.0]).tagged("run-a")
    baseline.rounds[1] = Round(run="run-a", values={"tpot_p50": 2.0, "ttft_p50": None})
    path = store.save(baseline)
    document = json.loads(path.read_text())
    assert document["schema_version"] == BASELINE_SCHEMA_VERSION == 3
    assert document["rounds"][1] == {"run": "run-a", "values": {"tpot_p50": 2.0, "ttft_p50": None}}
    loaded = store.load("cpu", "c")
    assert loaded.rounds == baseline.rounds
    assert loaded.run_ids == ["run-a"] and loaded.round_values("ttft_p50") == [5.0, 7.0]
    # a tagged round keeps its run; an untagged one takes the new run's
    assert [r.run for r in Baseline(case_id="c", hardware="cpu", metrics={},
                                    rounds=[loaded.rounds[0], Round(values={"tpot_p50": 4.0})]).tagged("b").rounds] \
        == ["run-a", "b"]
    with pytest.raises(BaselineError, match=r"rounds\[0\]\.values\.tpot_p50: Input should be a valid number"):
        document["rounds"][0]["values"]["tpot_p50"] = "fast"
        path.write_text(json.dumps(document))
        read_baseline(path)


def test_a_baseline_written_by_an_earlier_version_still_loads(tmp_path: Path) -> None:
    """Schema version 2 kept a round as metric -> value with its run's id under "_run"
    (rounds of a single result had none): such a file loads, and is compared as before."""
    old = {"schema": "openaiperf.baseline", "schema_version": 2, "case_id": "c", "hardware": "cpu",
           "created": "2026-11-01T00:00:00+00:00", "openaiperf_version": "0.9.0", "case": {}, "settings": {},
           "fingerprint": FINGERPRINT,
           "metrics": {"tpot_p50": {"value": 10.0, "unit": "ms", "better": "lower"}},
           "rounds": [{"_run": "r1", "tpot_p50": 10.0}, {"_run": "r1", "tpot_p50": 10.2},
                      {"_run": "r2", "tpot_p50": 9.9}, {"_run": "r2", "tpot_p50": 10.1}]}
    path = tmp_path / "cpu" / "c.json"
    path.parent.mkdir()
    path.write_text(json.dumps(old))
    loaded = JsonBaselineStore(tmp_path).load("cpu", "c")
    assert loaded.run_ids == ["r1", "r2"] and loaded.run_values("tpot_p50") == [[10.0, 10.2], [9.9, 10.1]]
    assert "_run" not in loaded.rounds[0].values
    untagged = {**old, "rounds": [{"tpot_p50": v} for v in (10.0, 10.2, 9.9)]}
    path.write_text(json.dumps(untagged))
    assert read_baseline(path).run_ids == [""]
    assert gate(make([10.1, 10.0]), GateSettings(compare_root=tmp_path)).outcome is not None
    # appending to it writes the current layout, the earlier runs kept
    gate(make([10.3, 10.2, 10.4]), GateSettings(save_root=tmp_path, append=True), run_id="r3")
    rewritten = json.loads(path.read_text())
    assert rewritten["schema_version"] == 3 and {r["run"] for r in rewritten["rounds"]} == {"earlier", "r3"}


def test_gate_refuses_another_configuration_unless_forced(tmp_path: Path) -> None:
    stored = {"checked": {"engine": "hf", "scenario option qps_target": 2.0}, "noted": {}}
    JsonBaselineStore(tmp_path).save(make([1.0, 1.01, 0.99], fingerprint=stored))
    now = {"checked": {"engine": "hf", "scenario option qps_target": 4.0}, "noted": {}}
    current = make([1.0, 1.0, 1.0], fingerprint=now)
    refused = gate(current, GateSettings(compare_root=tmp_path))
    assert refused.refused and refused.comparison is None
    assert "scenario option qps_target (--qps-target): baseline 2.0, now 4.0" in refused.failures[0]
    assert "--baseline-force" in refused.failures[0]
    forced = gate(current, GateSettings(compare_root=tmp_path, force=True))
    assert not forced.failures and forced.comparison is not None
    assert "qps_target (--qps-target): baseline 2.0, now 4.0" in forced.notes[0]
    missing = gate(current, GateSettings(compare_root=tmp_path / "none"))
    assert not missing.failures and "no baseline for c on cpu" in missing.notes[0]
    assert gate(current, GateSettings(compare_root=tmp_path / "none", required=True)).failures


def test_append_keeps_runs_apart_and_refuses_another_configuration(tmp_path: Path) -> None:
    from openaiperf.baselines import MAX_BASELINE_RUNS

    settings = GateSettings(save_root=tmp_path, append=True)
    for i in range(MAX_BASELINE_RUNS + 2):
        assert not gate(make([10.0 + i, 10.1 + i, 9.9 + i]), settings, run_id=f"run{i}").failures
    gate(make([20.0, 20.1, 19.9]), settings, run_id=f"run{MAX_BASELINE_RUNS + 1}")  # the same run again: replaced
    stored = JsonBaselineStore(tmp_path).load("cpu", "c")
    assert stored.run_ids == [f"run{i}" for i in range(2, MAX_BASELINE_RUNS + 2)]  # the last ten
    assert stored.run_values("tpot_p50")[-1] == [20.0, 20.1, 19.9]
    assert stored.run_values("tpot_p50")[0] == [12.0, 12.1, 11.9] and stored.rounds[0].run == "run2"
    other = make([1.0, 1.0, 1.0], fingerprint={"checked": {"engine": "vllm", "scenario": "offline"}, "noted": {}})
    refused = gate(other, settings, run_id="x")
    assert "not appended: the stored baseline's configuration differs (engine: baseline hf, now vllm)" in \
        refused.failures[0]
    assert gate(other, GateSettings(save_root=tmp_path), run_id="x").saved  # --baseline-save replaces it
    assert JsonBaselineStore(tmp_path).load("cpu", "c").run_ids == ["x"]
    # A comparison against several runs names them and their drift.
    JsonBaselineStore(tmp_path).save(appended_runs := make([10.0, 10.1, 9.9]).tagged("a"))
    gate(make([10.4, 10.5, 10.3]), settings, run_id="b")
    result = gate(make([10.2]), GateSettings(compare_root=tmp_path)).comparison.metrics[0]
    assert "t against 2 baseline runs (6 rounds)" in result.method and appended_runs.run_ids == ["a"]


def test_strict_fails_an_inconclusive_verdict(tmp_path: Path) -> None:
    JsonBaselineStore(tmp_path).save(make([10.0, 10.6, 9.5]))
    current = make([10.2])
    lenient = gate(current, GateSettings(compare_root=tmp_path))
    assert lenient.outcome is Outcome.INCONCLUSIVE and not lenient.failures
    assert "would settle it" in lenient.notes[-1]
    strict = gate(current, GateSettings(compare_root=tmp_path, strict=True))
    assert "--baseline-strict" in strict.failures[0] and "would settle it" in strict.failures[0]
    entry = lenient.to_result()
    assert entry.outcome is Outcome.INCONCLUSIVE and entry.settle


def test_saving_needs_three_rounds_at_start_up() -> None:
    def check(repeats: int = 1, **given: Any) -> None:
        check_settings(BaselineSettings.from_options(given.get), repeats)

    with pytest.raises(ConfigError, match=r"--baseline-save.*needs --repeats >= 3 \(got --repeats 1\)"):
        check(baseline_save="")
    check(3, baseline_save="")
    with pytest.raises(ConfigError, match=r"--baseline-append.*needs --repeats >= 3"):
        check(baseline_append="dir")
    with pytest.raises(ConfigError, match="one of --baseline-save .* and --baseline-append"):
        check(3, baseline_append="dir", baseline_save="")
    with pytest.raises(ConfigError, match="--baseline-alpha"):
        check(3, baseline_alpha="2")


def test_tolerances_defaults_task_file_and_command_line() -> None:
    from openaiperf.tasks import load_task_specs

    spec = load_task_specs()["summarization.xsum"]
    spec = spec.model_copy(update={"metrics": spec.metrics.model_copy(update={"performance": [
        spec.metrics.performance[0].model_copy(update={"tolerance": 0.2})]})})
    tolerances = resolve_tolerances(spec, parse_tolerances(["ttft_p90=0.03"]))
    assert tolerances["output_tokens_per_s"] == 0.2 and tolerances["ttft_p90"] == 0.03
    assert tolerances["tpot_p50"] == DEFAULT_TOLERANCES["tpot_p50"] == 0.05
    with pytest.raises(ConfigError, match="--tolerance.*METRIC=FRACTION.*'ttft=abc'"):
        parse_tolerances(["ttft=abc"])


# -- reports ---------------------------------------------------------------------------------------
def reported_document() -> RunResult:
    base = make([10.0, 10.1, 9.9, 10.0])
    regression = gate(make([12.0]), GateSettings(), passed=True)
    regression.comparison = compare_case(base, make([12.0]), {"tpot_p50": 0.05}, drift=0.0)
    inconclusive = gate(make([10.2]), GateSettings(), passed=True)
    inconclusive.comparison = compare_case(make([10.0, 10.6, 9.5]), make([10.2]), {"tpot_p50": 0.05}, drift=0.0)
    identity = {"task": "t", "scenario": "offline", "engine": "hf", "model": "m", "hardware": "cpu"}
    return RunResult(config={"hardware_profile": {"name": "cpu"}}, cases=[
        CaseResult(id="a", **identity, status="passed", baseline=inconclusive.to_result()),
        CaseResult(id="b", **identity, status="failed", failures=["performance regression: tpot_p50 ..."],
                   baseline=regression.to_result())])


def test_markdown_shows_outcomes_and_what_would_settle_it() -> None:
    from openaiperf.report.markdown import markdown_summary

    text = markdown_summary(reported_document())
    assert "1 regression, 1 inconclusive, 0 no regression" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line and "ms" in line]
    assert "`b`" in rows[0] and "+20.0% (worse)" in rows[0] and "| regression |" in rows[0]
    assert "`a`" in rows[1] and "| inconclusive |" in rows[1] and "would settle it:" in rows[1]
    assert "- 🟡 a: inconclusive (tpot_p50); would settle it:" in text
    assert "- across the run: 1 of 1 regressing metric(s) stay significant with Holm over all 2 tested metrics" in text


def test_console_and_html_show_the_verdict(tmp_path: Path) -> None:
    from openaiperf.report.console import render_table

    document = reported_document()
    table = render_table(document.cases)
    assert "vs baseline" in table and "inconclusive" in table
    assert "a: inconclusive (tpot_p50); would settle it:" in table
    from openaiperf.report.html import render_html
    from openaiperf.report.results import write_results

    write_results(tmp_path / "results.json", document)
    html = render_html(tmp_path)
    assert '<tr class="inconclusive">' in html and '<tr class="regression">' in html
    assert "would settle it:" in html
    from openaiperf.report.markdown import markdown_summary

    row = next(line for line in markdown_summary(document).splitlines() if "| inconclusive |" in line)
    assert "the smallest change it could have caught: +" in row and "would settle it:" in row


def test_allure_text_names_the_verdict() -> None:
    from openaiperf.report.allure import verdict_text

    text = verdict_text(reported_document().cases[0])
    assert text.startswith("baseline verdict: inconclusive\nwould settle it: ")
    assert "tpot_p50 inconclusive" in text


def test_throughput_vs_latency_has_a_point_per_case_and_joins_a_sweep() -> None:
    from openaiperf.report.figures import throughput_point, throughput_vs_latency

    def case(number: int, scenario: str, tokens_per_s: float, ttft: float, variant: str = "") -> tuple:
        metrics = {"output_tokens_per_s": MetricValue(value=tokens_per_s, unit="tokens/s", better="higher"),
                   "ttft_p50": MetricValue(value=ttft, unit="ms", better="lower"),
                   "ttft_p90": MetricValue(value=2 * ttft, unit="ms", better="lower")}
        base = f"t-{scenario}-vllm-m"
        result = CaseResult(id=f"{base}[{variant}]" if variant else base, base_id=base, variant=variant, task="t",
                            scenario=scenario, engine="vllm", model="m", hardware="cpu", metrics=metrics)
        return number, result

    assert throughput_vs_latency([]) is None
    assert throughput_point(*case(1, "offline", 0.0, 50)) is None  # no throughput: no point
    offline = throughput_point(*case(1, "offline", 100.0, 50))
    assert offline is not None and offline.latency == {"ttft": (50, 100), "tpot": (None, None)}
    one = throughput_vs_latency([offline])  # one offline case is enough
    assert one is not None and len(one.axes[0].collections) >= 2  # its p50 point and its p90 bar
    sweep = [throughput_point(*case(i + 2, "server", rps * 40, ttft, f"qps_target={rps}"))
             for i, (rps, ttft) in enumerate(((1, 50), (4, 80), (8, 400)))]
    figure = throughput_vs_latency([offline, *sweep])
    (line,) = figure.axes[0].lines  # the sweep's variants joined, in order of throughput
    assert list(line.get_xdata()) == [40, 160, 320] and list(line.get_ydata()) == [50, 80, 400]
    labels = sorted(text.get_text() for text in figure.axes[0].texts)
    assert labels == ["1", "2", "3", "4"]


def test_an_inconclusive_verdict_gives_the_smallest_change_it_could_have_caught() -> None:
    base = [10.0, 10.05, 9.95]
    result = judged(make(base), make([10.6, 10.65, 10.55]), drift=0.05)
    assert result.outcome is Outcome.INCONCLUSIVE and result.detectable is not None
    assert f"the smallest change it could have caught: +{100 * result.detectable:.1f}%" in result.message()
    # Every round that much slower (and a little more) is a regression; a little less is not.
    for factor, outcome in ((1.002, Outcome.REGRESSION), (0.995, Outcome.INCONCLUSIVE)):
        slowed = [v * (1 + result.detectable) * factor for v in base]
        assert judged(make(base), make(slowed), drift=0.05).outcome is outcome
    assert judged(make(base), make(base)).detectable is None  # decided: nothing to say
