from __future__ import annotations

import csv
import logging
import time

import pytest
from fake_pynvml import NVML_ERROR_LIBRARY_NOT_FOUND, FakeNvml

from openaiperf.errors import ConfigError
from openaiperf.monitor import Monitor, ProcessSampler, Sampler, combine_summaries, create_samplers, write_timeline
from openaiperf.monitor.case import CaseMonitor
from openaiperf.monitor.nvml import NvmlSampler
from openaiperf.monitor.rocm import create_rocm_sampler
from openaiperf.monitor.util import SamplerUnavailable, integrate_power_j, parse_interval


def rows_from(sampler: NvmlSampler, fake: FakeNvml, steps: int, dt: float = 0.5) -> list[dict]:
    rows = []
    for i in range(steps):
        rows.append({"t": i * dt, **sampler.sample()})
        fake.advance(dt)
    return rows


def test_nvml_sampler_reads_every_field_per_gpu():
    fake = FakeNvml(gpus=2)
    sampler = NvmlSampler(fake)
    row = sampler.sample()
    assert row["gpu0_power_w"] == 300.0 and row["gpu1_power_w"] == 350.0  # mW -> W
    assert row["gpu1_memory_used_bytes"] == 11 * 2**30
    assert row["gpu0_sm_clock_mhz"] == 1980 and row["gpu0_mem_clock_mhz"] == 2619
    assert row["gpu0_throttle_reasons"] == 4 and row["gpu0_temperature_c"] == 60


def test_nvml_energy_from_counter():
    fake = FakeNvml(gpus=2)
    sampler = NvmlSampler(fake)
    rows = rows_from(sampler, fake, steps=5)  # counter advances 4 × 0.5 s between first and last reading
    summary = sampler.summarize(rows)
    assert summary["gpu0_energy_j"] == pytest.approx(300 * 2.0)
    assert summary["gpu1_energy_j"] == pytest.approx(350 * 2.0)
    assert summary["energy_j"] == pytest.approx(650 * 2.0)
    assert summary["gpu0_energy_source"] == "energy_counter"
    assert summary["peak_gpu_memory_used_bytes"] == 11 * 2**30
    assert summary["gpu0_throttle_reasons_seen"] == 4


def test_nvml_energy_falls_back_to_power_integration(caplog):
    fake = FakeNvml(gpus=1, no_energy=True)
    sampler = NvmlSampler(fake)
    with caplog.at_level(logging.WARNING, logger="openaiperf.monitor"):
        rows = rows_from(sampler, fake, steps=3)
    summary = sampler.summarize(rows)
    assert summary["gpu0_energy_source"] == "power_integration"
    assert summary["energy_j"] == pytest.approx(300 * 1.0)
    # refused once, warned once, not asked again
    assert fake.calls["energy"] == 1
    assert sum("energy_mj" in r.message for r in caplog.records) == 1


def test_nvml_no_power_permission_records_the_rest():
    fake = FakeNvml(gpus=1, no_energy=True, no_power_permission=True)
    sampler = NvmlSampler(fake)
    rows = rows_from(sampler, fake, steps=3)
    summary = sampler.summarize(rows)
    assert "energy_j" not in summary
    assert summary["gpu0_mean_util_percent"] == 80
    assert len(summary["gpu_warnings"]) == 2


def test_nvml_lost_gpu_keeps_earlier_readings(caplog):
    fake = FakeNvml(gpus=2)
    sampler = NvmlSampler(fake)
    rows = rows_from(sampler, fake, steps=3)
    fake.lost.add(1)
    with caplog.at_level(logging.WARNING, logger="openaiperf.monitor"):
        rows += [{"t": 1.5 + 0.5 * i, **sampler.sample()} for i in range(3)]
    assert "gpu1_power_w" not in rows[-1] and "gpu0_power_w" in rows[-1]
    assert len([r for r in caplog.records if "stopped answering" in r.message]) == 1
    summary = sampler.summarize(rows)
    assert summary["gpu1_energy_j"] == pytest.approx(350 * 1.0)  # up to its last reading


def test_nvml_missing_library_is_unavailable():
    with pytest.raises(SamplerUnavailable, match="NVML could not start"):
        NvmlSampler(FakeNvml(init_error=NVML_ERROR_LIBRARY_NOT_FOUND))


def test_nvml_honours_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    sampler = NvmlSampler(FakeNvml(gpus=2))
    assert list(sampler.handles) == [1]
    assert all(k.startswith("gpu1_") for k in sampler.sample())


def test_nvml_through_the_real_import_path(monkeypatch):
    """create_samplers imports ``pynvml``; the fake module stands in for the library."""
    fake = FakeNvml(gpus=1)
    monkeypatch.setitem(__import__("sys").modules, "pynvml", fake)
    samplers, missing = create_samplers(["gpu"])
    assert [s.name for s in samplers][:1] == ["nvml"] and not missing


def test_gpu_metrics_without_any_gpu_library_say_why(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pynvml", FakeNvml(init_error=NVML_ERROR_LIBRARY_NOT_FOUND))
    monkeypatch.setitem(__import__("sys").modules, "amdsmi", None)  # import fails
    monkeypatch.setenv("PATH", "/nonexistent")
    samplers, missing = create_samplers(["cpu", "gpu"])
    assert [s.name for s in samplers] == ["process"]
    assert "NVML could not start" in missing[0] and "rocm-smi" in missing[0]
    with pytest.raises(SamplerUnavailable):
        create_rocm_sampler()


def test_unknown_metric_group_is_rejected():
    with pytest.raises(ConfigError, match="--metrics"):
        create_samplers(["cpu", "disk"])


class ExplodingSampler(Sampler):
    name = "exploding"

    def __init__(self) -> None:
        self.calls = 0

    def sample(self):
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("device went away")
        return {"x": 1.0}

    def summarize(self, rows):
        return {"x_seen": sum(1 for r in rows if "x" in r)}


def test_monitor_drops_a_failing_sampler_and_keeps_going():
    exploding = ExplodingSampler()
    monitor = Monitor([ProcessSampler(), exploding], interval_s=0.01).start()
    time.sleep(0.1)
    summary = monitor.stop()
    assert summary["samples"] >= 3
    assert exploding not in monitor.samplers
    assert summary["monitor_warnings"] and "device went away" in summary["monitor_warnings"][0]
    assert summary["peak_process_rss_bytes"] > 0


def test_combine_summaries_of_rounds():
    combined = combine_summaries([
        {"peak_process_rss_bytes": 10, "mean_cpu_percent": 50.0, "energy_j": 3.0, "samples": 4, "gpu_warnings": ["a"]},
        {"peak_process_rss_bytes": 30, "mean_cpu_percent": 70.0, "energy_j": 5.0, "samples": 6,
         "gpu_warnings": ["a", "b"]},
    ])
    assert combined == {"peak_process_rss_bytes": 30, "mean_cpu_percent": 60.0, "energy_j": 8.0, "samples": 10,
                        "gpu_warnings": ["a", "b"]}


@pytest.mark.parametrize("in_process", [False, True], ids=["worker-process", "thread"])
def test_case_monitor_writes_timeline_with_rounds(tmp_path, in_process):
    monitor = CaseMonitor("case-a", tmp_path, interval_s=0.01, metrics=("cpu",), in_process=in_process)
    for index in range(2):
        monitor.start_round(index)
        sum(i * i for i in range(200_000))
        monitor.stop_round()
    summary = monitor.finish()
    assert summary["timeline_file"] == "monitor/case-a.csv"
    assert summary["rounds"] == 2 and summary["peak_process_rss_bytes"] > 0
    assert summary["sampled_in"] == ("thread" if in_process else "process")
    rows = list(csv.DictReader((tmp_path / "monitor" / "case-a.csv").open()))
    assert {r["round"] for r in rows} == {"0", "1"}
    assert {"t", "cpu_percent", "process_rss_bytes", "system_memory_used_bytes"} <= set(rows[0])


def test_case_monitor_off(tmp_path):
    monitor = CaseMonitor("case-a", tmp_path, enabled=False)
    monitor.start_round(0)
    assert monitor.stop_round() == {}
    assert monitor.finish() == {"monitor": "off (--no-monitor)"}
    assert not (tmp_path / "monitor").exists()


def test_timeline_union_of_columns(tmp_path):
    path = write_timeline(tmp_path / "t.csv", [{"t": 0, "a": 1}, {"t": 1, "b": 2}])
    assert path.read_text().splitlines() == ["t,a,b", "0,1,", "1,,2"]


def test_integrate_power():
    assert integrate_power_j([(0, 100), (1, 200), (3, 200)]) == pytest.approx(150 + 400)


@pytest.mark.parametrize("text,seconds", [("100ms", 0.1), ("1s", 1.0), ("0.5", 0.5), ("2", 2.0)])
def test_parse_interval(text, seconds):
    assert parse_interval(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["fast", "0", "-1s"])
def test_parse_interval_rejects(text):
    with pytest.raises(ConfigError, match="--interval"):
        parse_interval(text)


def test_worker_process_reads_the_parent_and_quits(tmp_path):
    import psutil

    from openaiperf.monitor.worker import MonitorProcess

    worker = MonitorProcess(0.01, ["cpu"])
    worker.start()
    time.sleep(0.1)
    rows, summary = worker.stop()
    assert len(rows) >= 2 and summary["samples"] == len(rows)
    # the parent's RSS, not the worker's own (a python with psutil only is far smaller than this test process)
    assert summary["peak_process_rss_bytes"] >= psutil.Process().memory_info().rss * 0.5
    worker.close()
    assert worker.proc.returncode == 0
