from __future__ import annotations

import json

import pytest

from openaiperf.metrics.efficiency import (
    KVGeometry,
    decode_stats,
    energy_metrics,
    kv_geometry_from_config,
    load_kv_geometry,
    mbu,
)
from openaiperf.records import Record


def record(first: float, done: float, inp: int, out: int) -> Record:
    r = Record(request_id="r", sample_id="s", round=0)
    r.scheduled = r.sent = 0.0
    r.first_token, r.done = first, done
    r.input_tokens, r.output_tokens = inp, out
    return r


LLAMA3_8B = {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096}


def test_kv_geometry_from_config():
    kv = kv_geometry_from_config(LLAMA3_8B)
    assert kv == KVGeometry(layers=32, kv_heads=8, head_dim=128)
    assert kv.bytes_per_token(2) == 32 * 2 * 8 * 128 * 2  # 128 KiB per token in bf16
    assert kv_geometry_from_config({"num_hidden_layers": 2, "num_attention_heads": 4, "head_dim": 64}).kv_heads == 4
    assert kv_geometry_from_config({"vocab_size": 10}) is None


def test_load_kv_geometry(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA3_8B))
    assert load_kv_geometry(tmp_path).head_dim == 128
    assert load_kv_geometry(tmp_path / "missing") is None and load_kv_geometry("meta-llama/x") is None


def test_decode_stats_batch_and_step():
    # two sequences decoding side by side for 1 s, 11 tokens each -> 0.1 s per step, batch 2
    stats = decode_stats([record(0.5, 1.5, 100, 11), record(0.5, 1.5, 300, 11)])
    assert stats["step_s"] == pytest.approx(0.1)
    assert stats["batch"] == pytest.approx(2.0)
    assert stats["context_tokens"] == pytest.approx(200 + 5.5)


def test_mbu_counts_weights_and_kv_cache():
    kv = KVGeometry(layers=2, kv_heads=2, head_dim=4)  # 32 values per token
    records = [record(0.0, 1.0, 10, 11)]  # one sequence, step 0.1 s, context 15.5 tokens
    metrics = mbu(records, weight_bytes=1000.0, kv=kv, dtype_bytes=2, bandwidth_bytes_per_s=1e5)
    per_step = 1000 + 32 * 2 * 15.5
    assert metrics["decode_bandwidth"].value == pytest.approx(per_step / 0.1 / 1e9)
    assert metrics["mbu"].value == pytest.approx(per_step / 0.1 / 1e5)
    without_bandwidth = mbu(records, 1000.0, kv, 2, None)
    assert without_bandwidth["mbu"].value is None and without_bandwidth["decode_bandwidth"].value is not None


def test_mbu_without_decode_records():
    assert mbu([record(0.0, 1.0, 10, 1)], 1000.0, None, 2, 1e9)["mbu"].value is None


def test_energy_metrics():
    metrics = energy_metrics({"energy_j": 500.0}, output_tokens=1000, seconds=2.0)
    assert metrics["energy_per_output_token"].value == pytest.approx(0.5)
    assert metrics["output_tokens_per_s_per_w"].value == pytest.approx(2.0)  # (1000/2 s) / (500 J/2 s)
    assert metrics["mean_power"].value == pytest.approx(250.0)
    none = energy_metrics({"peak_process_rss_bytes": 1}, output_tokens=1000, seconds=2.0)
    assert all(m.value is None for m in none.values())


def test_utilisation_against_the_runs_calibration_is_added_to_every_case():
    from openaiperf.metrics import Better
    from openaiperf.metrics.efficiency import calibrated_utilisation
    from openaiperf.result import CaseResult, MetricValue

    def case(id_: str, **metrics: float) -> CaseResult:
        result = CaseResult.model_validate({"id": id_, "task": "t", "scenario": "offline", "engine": "hf",
                                            "model": "m", "hardware": "cpu"})
        result.metrics = {k: MetricValue(value=v, unit="", better=Better.HIGHER) for k, v in metrics.items()}
        return result

    measured = case("c", achieved_tflops=0.05, prefill_tflops=0.1, decode_tflops=0.02, decode_bandwidth=10.0)
    calibration = case("calibration-cpu")
    calibration.calibration = {"gemm_tflops": 0.2, "copy_gbs": 20.0}
    calibrated_utilisation([measured, calibration])
    values = {k: m.value for k, m in measured.metrics.items() if k.endswith("_calibrated")}
    assert values == pytest.approx({"mfu_calibrated": 0.25, "prefill_mfu_calibrated": 0.5,
                                    "decode_mfu_calibrated": 0.1, "mbu_calibrated": 0.5})


def test_utilisation_above_100_percent_makes_the_case_invalid_naming_the_figure(tmp_path):
    from fixtures.engines import xsum_case_runner
    from openaiperf.matrix import Case
    from openaiperf.metrics import Better
    from openaiperf.result import CaseResult, EfficiencyBasis, MetricValue

    result = CaseResult.model_validate({"id": "c", "task": "t", "scenario": "offline", "engine": "hf",
                                        "model": "m", "hardware": "cpu"})
    result.metrics = {"mfu": MetricValue(value=1.03, unit="fraction", better=Better.HIGHER),
                      "decode_mfu": MetricValue(value=0.4, unit="fraction", better=Better.HIGHER)}
    result.settings.efficiency = EfficiencyBasis(compute_dtype="fp32", activation_dtype="fp32",
                                                 weight_bytes_per_parameter=4, kv_bytes_per_value=4, devices=1,
                                                 peak_source="estimated: 2 cores")
    xsum_case_runner(tmp_path, Case("summarization.xsum", "offline", "scripted", "m")).check_utilisation(result)
    assert result.validity["utilisation_at_most_100_percent"] is False
    assert any("mfu 103.0% above 100%" in note and "estimated: 2 cores" in note for note in result.notes)
