from __future__ import annotations

import json

import pytest

from openaiperf.errors import ConfigError
from openaiperf.profiling import NoProfiler, create_case_profiler, render_top_ops
from openaiperf.result import CaseProfile, CaseResult


def test_torch_case_profiler_writes_trace_and_table(tmp_path):
    torch = pytest.importorskip("torch")
    profiler = create_case_profiler("torch", "case-a", tmp_path)
    a = torch.randn(64, 64)
    with profiler.round(0):
        for _ in range(3):
            torch.mm(a, a)
    with profiler.round(1):  # later rounds are not profiled
        torch.mm(a, a)
    profile = profiler.finish()
    assert profile["tool"] == "torch" and profile["round"] == 0
    names = [op["name"] for op in profile["top_ops"]]
    assert "aten::mm" in names
    mm = next(op for op in profile["top_ops"] if op["name"] == "aten::mm")
    assert mm["calls"] == 3 and mm["self_cpu_ms"] > 0
    assert json.loads((tmp_path / profile["trace_file"]).read_text())["traceEvents"]
    assert (tmp_path / profile["table_file"]).read_text().startswith("name,calls,")
    assert "profiler's overhead" in profiler.notes[0]
    result = CaseResult(id="case-a", task="t", scenario="offline", engine="hf", model="m", hardware="cpu",
                        profile=CaseProfile.model_validate(profile))
    text = render_top_ops([result])
    assert "top ops of case-a" in text and "aten::mm" in text


def test_no_profiler_and_unknown_mode(tmp_path):
    assert isinstance(create_case_profiler(None, "c", tmp_path), NoProfiler)
    with pytest.raises(ConfigError, match="--profile"):
        create_case_profiler("vtune", "c", tmp_path)


def test_nvtx_profiler_outside_a_wrapped_run(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAIPERF_PROFILE_WRAPPED", raising=False)
    profiler = create_case_profiler("nsys", "case-a", tmp_path)
    with profiler.round(0):  # no CUDA here: the NVTX range is skipped, the round still runs
        pass
    info = profiler.finish()
    assert info["tool"] == "nsys" and info["wrapped"] is False and "case-a/round0" in info["kernel_table"]
