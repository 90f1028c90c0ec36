"""Bad input on the command line or in a file given to it: refused at start-up with
one clear line naming the option or file and what is accepted (pytest's usage
error, exit 4), before any run folder, request or process exists."""

from __future__ import annotations

import pytest
from harness import bench_argv, run, with_credentials

BAD_TASK = """
name: towns.summary
kind: summarization
datasets:
  eval: {source: towns.csv, format: csv
"""


@pytest.mark.parametrize("args,message", [
    (["--task", "summarization.nope"], "--task: unknown task 'summarization.nope'; known: "),
    (["--scenario", "offlne"], "--scenario: unknown scenario 'offlne'; known: "),
    (["--max-samples", "0"], "--max-samples: expected an integer >= 1, got 0"),
    (["--max-error-rate", "2"], "--max-error-rate: expected a number in [0, 1], got 2.0"),
    (["--engine-option", "openai:no_such_option=1"], "engine openai has no option 'no_such_option'"),
    (["--task-file", "bad.yaml"], "bad.yaml: malformed YAML at line 6, column 1: expected ',' or '}'"),
], ids=["unknown-task", "unknown-scenario", "bad-max-samples", "bad-error-rate", "unknown-engine-option",
        "malformed-task-yaml"])
def test_bad_input_is_refused_at_start_up(folder, server, args, message):
    (folder / "bad.yaml").write_text(BAD_TASK)
    done = run(folder, bench_argv(with_credentials(server.url), *args))
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.output
    assert message in done.output
    assert not (folder / "out").exists() or done.run_dirs() == []
    assert "Traceback" not in done.output
    done.assert_clean()


@pytest.mark.parametrize("endpoint,message", [
    ("http://127.0.0.1:99999", "not a valid URL (Port out of range 0-65535): http://***@127.0.0.1:99999/v1"),
    ("http://127.0.0.1:port", "not a valid URL (Port could not be cast to integer value as 'port')"),
    ("ftp://127.0.0.1:21", "unsupported scheme 'ftp' in ftp://***@127.0.0.1:21/v1; expected http:// or https://"),
    ("http://:8000", "no host in http://***@:8000/v1"),
], ids=["port-out-of-range", "port-not-a-number", "scheme", "no-host"])
def test_a_bad_endpoint_is_refused_at_start_up(folder, endpoint, message):
    done = run(folder, bench_argv(with_credentials(endpoint)))
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.output
    assert f"--endpoint: {message}" in done.output and "Traceback" not in done.output
    assert done.run_dirs() == []
    done.assert_clean()


def test_an_unusable_report_dir_is_refused_at_start_up(folder, server):
    (folder / "afile").write_text("not a folder")
    done = run(folder, bench_argv(with_credentials(server.url), report_dir="afile/out", outputs="out"))
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.output
    assert "--report-dir: cannot write runs under afile/out" in done.output and "is a file, not a folder" in done.output
    assert "NotADirectoryError" not in done.output and "Traceback" not in done.output
    done.assert_clean()
