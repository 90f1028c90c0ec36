"""MFU and MBU against the right peak: the engine's compute dtype and quantization,
its weights' and KV cache's stored precision, and every device it spans. Values
are hand-computed from the H100 datasheet figures in hardware_profiles/h100.yaml
(bf16 989.5, fp8 1979, int8 1979 TFLOP/s; 3,350 GB/s)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.engines import xsum_case_runner
from openaiperf.matrix import Case
from openaiperf.metrics.precision import effective_precision, load_quantization_config
from openaiperf.records import Record
from openaiperf.runner import CaseRunner
from openaiperf.scenarios import ScenarioRun
from openaiperf.testing.answers import fill_answer


@pytest.mark.parametrize("options,quant_config,expected", [
    ({}, None, ("bf16", 2.0, 2.0, 1)),
    ({"dtype": "float16"}, None, ("fp16", 2.0, 2.0, 1)),  # the engine option over the case's dtype
    ({"dtype": "auto"}, None, ("bf16", 2.0, 2.0, 1)),
    ({"quantization": "fp8"}, None, ("fp8", 1.0, 2.0, 1)),  # W8A8 fp8: fp8 peak; KV stays bf16
    ({"quantization": "fp8", "kv_cache_dtype": "fp8"}, None, ("fp8", 1.0, 1.0, 1)),
    ({"quantization": "w8a8"}, None, ("int8", 1.0, 2.0, 1)),
    ({"quantization": "awq"}, None, ("bf16", 0.5, 2.0, 1)),  # weight-only: computes in bf16
    ({"quantization": "gptq"}, {"quant_method": "gptq", "bits": 8}, ("bf16", 1.0, 2.0, 1)),
    ({"quantization": "bitsandbytes"}, None, ("bf16", 0.5, 2.0, 1)),
    ({"quantization": "int4"}, None, ("bf16", 0.5, 2.0, 1)),
    ({}, {"quant_method": "awq", "bits": 4}, ("bf16", 0.5, 2.0, 1)),  # quantized checkpoint, no option
    ({}, {"quant_method": "compressed-tensors", "config_groups": {"g": {
        "weights": {"num_bits": 8, "type": "int"}, "input_activations": {"num_bits": 8, "type": "int"}}}},
     ("int8", 1.0, 2.0, 1)),
    ({}, {"quant_method": "compressed-tensors", "config_groups": {"g": {
        "weights": {"num_bits": 8, "type": "float"}, "input_activations": {"num_bits": 8, "type": "float"}}}},
     ("fp8", 1.0, 2.0, 1)),
    ({}, {"quant_method": "compressed-tensors", "config_groups": {"g": {
        "weights": {"num_bits": 4, "type": "int"}, "input_activations": None}}}, ("bf16", 0.5, 2.0, 1)),
    ({"tensor_parallel_size": 4}, None, ("bf16", 2.0, 2.0, 4)),
    ({"tensor_parallel_size": 4, "pipeline_parallel_size": 2}, None, ("bf16", 2.0, 2.0, 8)),
])
def test_effective_precision(options, quant_config, expected):
    precision = effective_precision("bfloat16", options, quant_config)
    assert (precision.compute_dtype, precision.weight_bytes_per_parameter, precision.kv_bytes_per_value,
            precision.devices) == expected


def test_quantization_config_is_read_from_the_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": {"quant_method": "awq", "bits": 4}}))
    assert load_quantization_config(tmp_path) == {"quant_method": "awq", "bits": 4}
    assert load_quantization_config(tmp_path / "nothing") is None and load_quantization_config(None) is None


PARAMETERS = 8_000_000_000


def runner(tmp_path: Path, **engine_options) -> CaseRunner:
    case = Case("summarization.xsum", "offline", "scripted", "m8b", engine_options=engine_options)
    return xsum_case_runner(tmp_path, case, parameters=PARAMETERS, dtype="bfloat16")


def one_second_of_work() -> tuple[list[Record], list[ScenarioRun]]:
    """Two requests, 100 prompt + 11 generated tokens each, 0.1 s per decode step, in 1 s."""
    records = []
    for i in range(2):
        record = Record(request_id=f"r{i}", sample_id=f"s{i}", scheduled=0.0)
        records.append(fill_answer(record, [k * 0.1 for k in range(11)], sent=0.0, input_tokens=100, done=1.0))
    return records, [ScenarioRun(records=records, start=0.0, end=1.0)]


@pytest.mark.parametrize("options,peak_tflops,devices", [
    ({}, 989.5, 1),
    ({"tensor_parallel_size": 2}, 989.5, 2),
    ({"tensor_parallel_size": 4, "pipeline_parallel_size": 2}, 989.5, 8),
    ({"quantization": "fp8"}, 1979.0, 1),
    ({"quantization": "w8a8", "tensor_parallel_size": 2}, 1979.0, 2),
    ({"quantization": "awq"}, 989.5, 1),
])
def test_mfu_divides_by_the_peak_of_every_device_in_the_compute_dtype(tmp_path, options, peak_tflops, devices):
    records, runs = one_second_of_work()
    metrics = runner(tmp_path, **options).compute_metrics(records, runs)
    flops = 2 * PARAMETERS * (2 * 100 + 2 * 11)  # 2 x parameters x processed tokens, in 1 s
    assert metrics["mfu"].value == pytest.approx(flops / (peak_tflops * 1e12 * devices))


def test_mbu_uses_stored_weight_bytes_kv_dtype_and_every_device(tmp_path):
    records, runs = one_second_of_work()
    # no KV geometry here (no config.json): bytes per step = the weights; step 0.1 s
    bf16 = runner(tmp_path).compute_metrics(records, runs)["mbu"].value
    assert bf16 == pytest.approx(PARAMETERS * 2 / 0.1 / 3350e9)
    int4 = runner(tmp_path, quantization="awq", tensor_parallel_size=2).compute_metrics(records, runs)["mbu"].value
    assert int4 == pytest.approx(PARAMETERS * 0.5 / 0.1 / (2 * 3350e9))


def test_the_result_says_which_peak_dtype_and_devices_were_used(tmp_path):
    basis = runner(tmp_path, quantization="fp8", tensor_parallel_size=2).efficiency_basis
    assert basis.compute_dtype == "fp8" and basis.devices == 2
    assert basis.peak_flops_per_device == pytest.approx(1979e12)
    assert basis.peak_flops == pytest.approx(2 * 1979e12)
    assert basis.peak_source == "hardware profile 'h100': datasheet peak_tflops.fp8"
    assert basis.bandwidth_bytes_per_s == pytest.approx(2 * 3350e9)
