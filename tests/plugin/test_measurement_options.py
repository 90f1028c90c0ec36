"""The plugin's monitoring/profiling/sweep options, run as a real pytest session
on the repository's own benchmarks (collection only: no model is loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ("pytester",)

REPO = Path(__file__).resolve().parents[2]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(str(REPO / "benchmarks"), "--rootdir", str(REPO),
                                         "-p", "no:cacheprovider", "--hw", "cpu", *args)


def test_sweep_expands_cases_with_readable_ids(pytester):
    result = run(pytester, "--collect-only", "-q", "-k", "summarization and offline and smollm2",
                 "--sweep", "batch_size:1,2;max_tokens:50,100")
    result.stdout.fnmatch_lines([
        "*summarization.xsum-offline-hf-smollm2-135m[[]batch_size=1,max_tokens=50[]]*",
        "*summarization.xsum-offline-hf-smollm2-135m[[]batch_size=2,max_tokens=100[]]*",
    ])
    assert result.stdout.str().count("offline-hf-smollm2-135m[") == 4


def test_preset_quick(pytester):
    result = run(
        pytester, "--collect-only", "-q", "-k", "summarization and single_stream and smollm2", "--preset", "quick"
    )
    assert result.stdout.str().count("single_stream-hf-smollm2-135m[") == 4


def test_unknown_preset_is_a_usage_error(pytester):
    result = run(pytester, "--collect-only", "--preset", "fastest")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--preset*unknown preset 'fastest'*quick*"])


def test_bad_sweep_is_a_usage_error(pytester):
    result = run(pytester, "--collect-only", "--sweep", "batch_size=1,2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sweep*KEY:V1,V2*"])


@pytest.mark.parametrize("tool", ["nsys", "ncu"])
def test_nsight_missing_says_so(pytester, monkeypatch, tool):
    import shutil

    if shutil.which(tool):
        pytest.skip(f"{tool} is installed here; this checks the message when it is not")
    result = run(pytester, "--collect-only", "--profile", tool)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--profile {tool}: {tool} not found on PATH*"])


def test_nsight_wrap_command_shape():
    from openaiperf.profiling.nsight import wrap_command

    command = wrap_command("nsys", "/usr/bin/nsys", Path("/r/nsys-session"), ["benchmarks", "-k", "x"])
    assert command[:2] == ["/usr/bin/nsys", "profile"] and "--trace=cuda,nvtx,osrt" in command
    assert command[-5:] == ["-m", "pytest", "benchmarks", "-k", "x"]
    assert command[command.index("--output") + 1] == "/r/nsys-session"
    ncu = wrap_command("ncu", "ncu", Path("/r/ncu-session"), ["benchmarks"])
    assert "--nvtx" in ncu and ncu[ncu.index("--export") + 1] == "/r/ncu-session"


def test_bad_monitor_interval_is_a_usage_error(pytester):
    result = run(pytester, "--collect-only", "--monitor-interval", "often")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--monitor-interval*expected a duration*"])


def test_preset_quality_selects_the_xsum_quality_cases_and_the_command_line_wins(pytester):
    result = run(pytester, "--collect-only", "-q", "--preset", "quality", "-m", "not skip")
    ids = [line for line in result.stdout.lines if "::test_llm[" in line]
    assert sorted(i.split("[")[1].rstrip("]") for i in ids if "smollm2" in i) == [
        "summarization.xsum-offline-hf-smollm2-135m", "summarization.xsum-single_stream-hf-smollm2-135m"]
    assert all("summarization.xsum-" in i and "-hf-" in i for i in ids)
    result = run(pytester, "--collect-only", "-q", "--preset", "quality", "--scenario", "offline")
    ids = [line for line in result.stdout.lines if "::test_llm[" in line]
    assert ids and all("-offline-hf-" in i for i in ids)
