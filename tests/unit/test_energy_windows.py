"""Energy and mean power cover exactly the reported windows: a monitored round also
holds warmup requests (and find-peak trials), whose energy the reported tokens do
not pay for. The GPU is a fake of nvidia-ml-py (fake_pynvml) whose power is
constant and whose energy counter grows with real time, so the energy of any
window is known: power x its length (to the time a reading takes after its row's
timestamp: microseconds for the fake on an idle machine, but a sampling thread can be
held up for several milliseconds beside other busy tests: hence 5% on windows of
about 200 ms, still far from the whole round's energy, which is 2x the window's)."""

from __future__ import annotations

import time

import pytest
from fake_pynvml import FakeNvml

from fixtures.engines import ScriptedEngine, xsum_case_runner
from openaiperf.matrix import Case
from openaiperf.monitor.case import CaseMonitor
from openaiperf.monitor.nvml import NvmlSampler
from openaiperf.monitor.util import window_energy_j
from openaiperf.runner import RunSettings


class TimedFakeNvml(FakeNvml):
    """The fake GPUs' energy counters grow at their constant power with real time."""

    def __init__(self, gpus: int = 2) -> None:
        super().__init__(gpus)
        self.start = time.perf_counter()

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> float:
        return 1_000_000.0 + self.power_mw[handle] * (time.perf_counter() - self.start)  # mW x s = mJ


POWER_W = 300.0 + 350.0  # the fake's two GPUs


def test_window_energy_from_the_counter_interpolates_between_readings():
    rows = [{"t": t, "gpu0_energy_mj": 1000.0 * 100 * t, "gpu0_power_w": 100.0} for t in (0.0, 1.0, 2.0, 3.0)]
    out = window_energy_j([rows], [(0.5, 1.25), (2.0, 2.5)])
    assert out["gpu0_energy_j"] == pytest.approx(100 * (0.75 + 0.5))
    assert out["energy_j"] == out["gpu0_energy_j"] and out["gpu0_energy_source"] == "energy_counter"
    assert out["energy_window_s"] == pytest.approx(1.25)


def test_window_energy_from_power_integrates_only_the_window():
    # 100 W until t = 1, then 300 W: the window [0.5, 1.5] holds 0.5 s at 100 W, a ramp, and 300 W
    rows = [{"t": 0.0, "gpu0_power_w": 100.0}, {"t": 1.0, "gpu0_power_w": 100.0},
            {"t": 1.0001, "gpu0_power_w": 300.0}, {"t": 3.0, "gpu0_power_w": 300.0}]
    out = window_energy_j([rows], [(0.5, 1.5)])
    assert out["gpu0_energy_j"] == pytest.approx(0.5 * 100 + 0.5 * 300, rel=1e-3)
    assert out["gpu0_energy_source"] == "power_integration"
    assert window_energy_j([[{"t": 0.0, "cpu_percent": 5.0}]], [(0.0, 1.0)]) == {}


def test_case_monitor_energy_of_a_window_inside_a_round(tmp_path):
    monitor = CaseMonitor("c", tmp_path, interval_s=0.01, metrics=("cpu",), in_process=True)
    monitor._samplers = [NvmlSampler(TimedFakeNvml())]
    monitor.start_round(0)
    time.sleep(0.1)  # "warmup"
    start = time.perf_counter()
    time.sleep(0.2)
    end = time.perf_counter()
    time.sleep(0.1)  # the tail after the window
    monitor.stop_round()
    whole = monitor.finish()["energy_j"]
    window = monitor.window_energy([(start, end)])
    assert window["energy_j"] == pytest.approx(POWER_W * (end - start), rel=0.05)
    assert whole > window["energy_j"] * 1.5


def test_a_cases_energy_and_mean_power_exclude_its_warmup_requests(tmp_path):
    case = Case("summarization.xsum", "server", "scripted", "m", engine_options={},
                scenario_options={"qps_target": 40.0, "warmup_requests": 8})
    runner = xsum_case_runner(tmp_path, case, engine=ScriptedEngine(tokens=3, token_s=0.001),
                              settings=RunSettings(max_samples=8, warmup_samples=0, monitor=False,
                                                   stall_limit_ms=None))
    runner.monitor = CaseMonitor(case.id, tmp_path, interval_s=0.01, metrics=("cpu",), in_process=True)
    runner.monitor._samplers = [NvmlSampler(TimedFakeNvml())]
    runner.prepare()
    runner.measure_round(0)
    result = runner.finish()
    (run,) = runner.runs
    window = run.end - run.start
    assert result.metrics["energy"].value == pytest.approx(POWER_W * window, rel=0.05)
    assert result.metrics["mean_power"].value == pytest.approx(POWER_W, rel=0.05)
    tokens = result.metrics["output_tokens"].value
    assert result.metrics["energy_per_output_token"].value == pytest.approx(POWER_W * window / tokens, rel=0.05)
    # the monitored round also covered the 8 warmup requests (200 ms at 40 req/s)
    assert result.resources.monitored_energy_j > POWER_W * (window + 0.15)
    assert "warmup requests and find-peak trials excluded" in result.resources.energy_scope
