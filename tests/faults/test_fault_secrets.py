"""Secrets: the API key (``--api-key-env``) and ``user:password`` in ``--endpoint``
never reach the terminal, JUnit, Allure, the benchmark JSON, the reports or the
history, even in a traceback that shows every function's locals; ``ob run`` prints
its pytest command redacted."""

from __future__ import annotations

from harness import API_KEY, KEY_ENV, PASSWORD, bench_argv, ob, run, with_credentials


def test_an_unreachable_endpoint_at_start_up_shows_no_secret(folder):
    done = run(folder, bench_argv(with_credentials("http://127.0.0.1:9")))
    assert done.returncode == 1, done.output
    assert "cannot list models at http://127.0.0.1:9/v1/models" in done.output
    case = done.case()
    assert case["status"] == "error" and case["valid"] is False
    assert (folder / "out" / "junit.xml").exists() and list((folder / "out" / "allure").glob("*-result.json"))
    done.assert_clean()


def test_a_failing_request_with_a_key_shows_no_secret(folder, server):
    """The key as a bearer token (it wins over the URL's credentials) on every request of a run
    whose requests all fail with HTTP 500."""
    done = run(folder, bench_argv(with_credentials(server.url), "--engine-option", "openai:served_model=stub-http-500"))
    assert done.returncode == 1, done.output
    assert all("HTTP 500" in r["error"] for r in done.records()) and len(done.records()) == 4
    done.assert_clean()


def test_a_bad_port_in_the_endpoint_is_refused_at_start_up_without_the_password(folder):
    done = run(folder, bench_argv(with_credentials("http://127.0.0.1:99999")))
    assert done.returncode == 4, done.output
    assert "--endpoint: not a valid URL (Port out of range 0-65535): http://***@127.0.0.1:99999/v1" in done.output
    assert not (folder / "out").exists() or done.run_dirs() == []
    done.assert_clean()


def test_ob_run_prints_its_command_redacted(folder):
    done = ob(folder, "run", "--benchmarks", "matrix.yaml", "--hw", "cpu", "--model-file", "models.yaml",
              "--endpoint", with_credentials("http://127.0.0.1:9"), "--api-key-env", KEY_ENV,
              "--report-dir", "out", "--no-monitor", "--", "--engine-option", f"openai:server_args=--api-key {API_KEY}",
              "-p", "no:cacheprovider", "--showlocals")
    assert "pytest matrix.yaml " in done.output and "--endpoint=http://***@127.0.0.1:9/v1" in done.output
    assert PASSWORD not in done.output
    done.assert_clean()


def test_credentials_in_the_matrix_file_show_no_secret(folder):
    """The endpoint given in the matrix's engine options rather than on the command line."""
    matrix = folder / "matrix.yaml"
    matrix.write_text(matrix.read_text() + "    engine_options:\n      openai:\n"
                      f"        endpoint: {with_credentials('http://127.0.0.1:9')}\n"
                      f"        server_args: --api-key {API_KEY}\n")
    done = run(folder, bench_argv(None))
    assert done.returncode == 1, done.output
    assert done.case()["status"] == "error" and "cannot list models at http://127.0.0.1:9/v1/models" in done.output
    done.assert_clean(folder / "matrix.yaml")  # the one file that holds them on purpose is skipped below
