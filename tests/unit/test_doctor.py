from __future__ import annotations

import json

import pytest

from openaiperf.cli import main
from openaiperf.doctor import check_tool, hardware_checks, software_checks, task_checks
from openaiperf.result import SystemInfo


def test_cpu_only_system_marks_gpu_profiles_unusable_with_a_fix():
    system = SystemInfo.model_validate({"hardware": {"accelerators": []}})
    checks = {c.name: c for c in hardware_checks(system)}
    assert checks["--hw auto"].ok and "'cpu'" in checks["--hw auto"].detail
    assert checks["cpu"].ok is True
    assert checks["h100"].ok is False and "no GPU found" in checks["h100"].detail
    assert "--hw cpu" in checks["h100"].fix


def test_h100_machine_marks_h100_usable():
    system = SystemInfo.model_validate({"hardware": {"accelerators": [{"name": "NVIDIA H100 80GB HBM3", "count": 8}]}})
    checks = {c.name: c for c in hardware_checks(system)}
    assert checks["h100"].ok is True and checks["--hw auto"].detail.startswith("picks 'h100'")
    assert checks["a100"].ok is False and "H100" in checks["a100"].detail


def test_missing_tool_is_reported_with_a_fix(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    check = check_tool("nsys", "NVIDIA Nsight Systems", "install Nsight Systems")
    assert check.ok is None and "not on PATH" in check.detail and check.fix


def test_task_check_loads_the_dataset_and_rejects_unknown_names():
    (ok,) = task_checks("summarization.xsum", try_load=True)
    assert ok.ok and "loads (2 samples read)" in ok.detail
    (bad,) = task_checks("nope")
    assert bad.ok is False and "summarization.xsum" in bad.detail


def test_ob_check_task_json(capsys):
    assert main(["check", "--task", "nope", "--json"]) == 1
    (check,) = json.loads(capsys.readouterr().out)
    assert check["name"] == "nope" and check["ok"] is False


def test_ob_monitor_live_writes_csv(tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert main(["monitor", "--live", "--metrics", "cpu", "--interval", "100ms", "--duration", "0.35",
                 "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "CPU %" in text and "summary:" in text
    lines = out.read_text().splitlines()
    assert lines[0].startswith("t,") and len(lines) >= 3


def test_every_builtin_task_is_checked_including_dataset_free_ones():
    checks = {c.name: c for c in task_checks()}  # used to raise KeyError: 'eval' on synthetic.random
    assert set(checks) >= {"summarization.xsum", "synthetic.random", "perplexity.corpus", "chat.sharegpt"}
    assert checks["synthetic.random"].ok and "no dataset" in checks["synthetic.random"].detail


@pytest.mark.parametrize("name", ["synthetic.random", "perplexity.corpus"])
def test_check_of_a_task_that_needs_the_model_checks_its_files_without_the_model(name):
    (check,) = task_checks(name, try_load=True)
    assert check.ok, check.detail
    assert "tokenizer" in check.detail


def test_the_openai_engine_is_checked_by_the_client_it_uses(monkeypatch):
    from openaiperf import doctor

    monkeypatch.setattr(doctor, "check_torch", lambda: doctor.Check("software", "torch", True, "skipped here"))
    names = [c.name for c in software_checks()]
    assert "aiohttp (openai engine)" in names and not any("httpx" in n for n in names)


def test_an_engine_registered_from_outside_is_checked_by_what_it_requires(monkeypatch):
    """The doctor asks the registry: a new engine needs no entry of its own there."""
    from openaiperf import doctor
    from openaiperf.doctor import engine_checks
    from openaiperf.engines import Engine, engines
    from openaiperf.registry import requirement

    class Needy(Engine):
        requires = (requirement("no-such-client-xyz>=2"),)

        def prepare(self): ...
        def run(self, requests, records, on_done): ...
        async def stream(self, request, record): ...
        def teardown(self): ...
        def info(self): return {}

    monkeypatch.setattr(doctor, "check_torch", lambda: doctor.Check("software", "torch", True, "skipped here"))
    state = engines.snapshot()
    engines.register("needy", Needy)
    try:
        software = {c.name: c for c in software_checks()}
        engine = {c.name: c for c in engine_checks()}
    finally:
        engines.restore(state)
    row = software["no-such-client-xyz (needy engine)"]
    assert row.ok is None and row.detail == "no-such-client-xyz is not installed"
    assert row.fix == "pip install 'no-such-client-xyz>=2'"
    assert engine["needy"].ok is False and engine["needy"].fix == "pip install 'no-such-client-xyz>=2'"
    assert engine["hf"].ok and "needy" not in {c.name for c in engine_checks()}


def test_ob_task_check_and_the_earlier_spelling(capsys):
    assert main(["task", "check", "summarization.xsum", "--json"]) == 0
    (check,) = json.loads(capsys.readouterr().out)
    assert check["ok"] and "loads (2 samples read)" in check["detail"]
    assert main(["check", "--task", "summarization.xsum", "--json"]) == 0
