"""benchmarks/scripts/soak.py: a few seconds of it, so that the script cannot rot, and its
judgement of leaks on made-up samples (a leak must fail it)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scripts" / "soak.py"


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("ob_soak_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_a_short_soak_with_every_fault_passes_its_checks(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--minutes", "0.1", "--window-s", "2", "--rate", "20",
                           "--fault-every", "3", "--faults", "429,500,cut,stall,malformed,error", "--stall-ms", "100",
                           "--json", str(tmp_path / "soak.json")],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    import json

    report = json.loads((tmp_path / "soak.json").read_text())
    checks = report["checks"]
    assert set(checks) == {"one record each", "failures = faults", "server saw each once", "rss flat", "fds flat",
                           "threads flat", "no leaked tasks", "no leaked connections"}
    assert all(check["held"] for check in checks.values()), checks
    # every fault of the cycle was injected, and each failing one failed its request
    for fault in ("429", "500", "cut", "stall", "malformed", "error"):
        assert f"'{fault}': " in checks["failures = faults"]["seen"].split(";")[0]
    assert len(report["samples"]) >= 2


def samples(soak, rss, fds=None, connections=None, tasks=None):
    n = len(rss)
    return [soak.Sample(elapsed_s=30.0 * i, requests=100 * i, rss_mib=rss[i], fds=(fds or [9] * n)[i], threads=1,
                        connections=(connections or [0] * n)[i], leaked_tasks=(tasks or [0] * n)[i])
            for i in range(n)]


def test_flat_samples_pass(soak):
    checks = soak.judge(samples(soak, [70.0, 90.0, 90.5, 91.0, 90.2]), warm_s=60.0, rss_bound_mib=8.0)
    assert all(held for held, _ in checks.values()), checks  # growth before the first minute is not counted


@pytest.mark.parametrize("change,failed", [
    ({"rss": [70.0, 90.0, 90.0, 95.0, 99.0]}, "rss flat"),
    ({"fds": [9, 9, 9, 10, 11]}, "fds flat"),
    ({"connections": [0, 0, 0, 1, 0]}, "no leaked connections"),
    ({"tasks": [0, 0, 2, 0, 0]}, "no leaked tasks"),
])
def test_a_leak_fails_the_soak(soak, change, failed):
    rss = change.pop("rss", [70.0, 90.0, 90.0, 90.0, 90.0])
    checks = soak.judge(samples(soak, rss, **change), warm_s=60.0, rss_bound_mib=8.0)
    assert [name for name, (held, _) in checks.items() if not held] == [failed]


def test_a_lost_or_doubled_record_fails_the_soak(soak, tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text('{"request_id": "a", "error": null}\n{"request_id": "a", "error": null}\n'
                    '{"request_id": "b", "error": "HTTP 429 Too Many Requests"}\n')
    checks = soak.check_records(path, ["a", "b", "c"], {"requests": 3, "faults": {"429": 1, "stall": 1}})
    assert not checks["one record each"][0] and "1 missing, 1 twice" in checks["one record each"][1]
    assert checks["failures = faults"][0] and checks["server saw each once"][0]
