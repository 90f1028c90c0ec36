"""Checks that need a real NVIDIA GPU (``pytest tests/gpu -m gpu``); skipped without CUDA.

- the NVML sampler's timeline during a bf16 GEMM loop: utilisation rises, memory is
  used, power is read and the energy counter advances;
- the calibration GEMM and copy as fractions of the hardware profile's datasheet peak
  (a bf16 GEMM of 8192³ saturates an H100/H200: expect about 0.6-0.9 of the dense
  datasheet figure; a copy about 0.8-0.95 of the HBM bandwidth);
- the tiny random-weights Llama built directly on the GPU, its step timestamps taken
  after the tokens reached the host.
"""

from __future__ import annotations

import time

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none)")]


def test_the_nvml_timeline_sees_a_gemm_loop() -> None:
    pytest.importorskip("pynvml")
    from openaiperf.monitor import Monitor
    from openaiperf.monitor.nvml import NvmlSampler

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    with Monitor([NvmlSampler()], interval_s=0.05) as monitor:
        stop = time.perf_counter() + 2.0
        while time.perf_counter() < stop:
            for _ in range(10):
                a @ a
            torch.cuda.synchronize()
    rows = monitor.rows
    assert len(rows) >= 10
    assert max(r.get("gpu0_util_percent", 0) for r in rows) > 50
    assert max(r.get("gpu0_memory_used_bytes", 0) for r in rows) > 8192 * 8192 * 2
    assert max(r.get("gpu0_power_w", 0) for r in rows) > 0
    energy = [r["gpu0_energy_mj"] for r in rows if "gpu0_energy_mj" in r]
    assert energy and energy[-1] > energy[0]


@pytest.mark.parametrize("profile_name", ["h100", "h200"])
def test_the_calibration_reaches_a_plausible_fraction_of_the_datasheet(profile_name: str) -> None:
    from openaiperf.hardware import load_profile
    from openaiperf.hardware.calibration import calibrate, describe

    name = torch.cuda.get_device_name(0)
    if profile_name.upper() not in name.upper():
        pytest.skip(f"this GPU is a {name}")
    profile = load_profile(profile_name)
    result = calibrate(profile, None)
    print(describe(result, profile_name))
    assert result["dtype"] == "bfloat16" and result["gemm_n"] == 8192
    assert 0.3 < result["gemm_fraction"] < 1.0  # below 100% of a true peak; far below 0.3 means a wrong profile
    assert 0.3 < result["copy_fraction"] < 1.0


def test_the_tiny_random_llama_is_built_on_the_gpu_and_timed_after_its_tokens() -> None:
    from openaiperf.engines.hf import HFEngine
    from openaiperf.models import load_registry, resolve_weights
    from openaiperf.records import Record, Request
    from openaiperf.testing.contexts import engine_context

    spec = load_registry()["tiny-llama"]
    engine = HFEngine(engine_context({"batch_size": 2}, model=spec, weights=resolve_weights(spec), dtype="bfloat16",
                                     hardware="h100"))
    engine.prepare()
    try:
        assert all(p.device.type == "cuda" and p.dtype == torch.bfloat16 for p in engine.model.parameters())
        requests = [Request(id=f"r{i}", sample_id=f"r{i}", prompt_token_ids=list(range(10, 74)), max_tokens=8,
                            ignore_eos=True) for i in range(2)]
        records = [Record(request_id=r.id, sample_id=r.id) for r in requests]
        engine.run(requests, records, lambda record: None)
        for record in records:
            assert record.ok and record.output_tokens == 8 and record.input_tokens == 64
            assert record.first_token is not None and record.done is not None and record.done >= record.first_token
    finally:
        engine.teardown()
