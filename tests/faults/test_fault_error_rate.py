"""``--max-error-rate`` on a fixed-length synthetic task: a failed request counts once,
as an error (not also as a quality failure of the exact-output-tokens check), and
the failure count covers measured requests only (warmup failures are not counted).
The engine is a deterministic test engine that fails every fourth request it serves
(warmup included) and otherwise generates exactly the requested tokens."""

from __future__ import annotations

import json
import shutil

import pytest
from harness import REPO, run

FAILING_ENGINE = '''
import time

from fake_engine import FakeEngine

from openaiperf.testing.answers import fill_answer


class FailingEngine(FakeEngine):
    name = "failing"
    served = 0

    def run(self, requests, records, on_done):
        for request, record in zip(requests, records):
            FailingEngine.served += 1
            sent = record.scheduled or time.perf_counter()
            times = [sent + 0.02 + 0.005 * k for k in range(request.max_tokens)]
            fill_answer(record, times, sent=sent, input_tokens=30, text="x", done=sent + 0.02 + 0.005 * len(times))
            if FailingEngine.served % 4 == 0:
                record.fail("HTTP 500 Internal Server Error: injected")
            on_done(record)
'''

CONFTEST = """
from failing_engine import FailingEngine

from openaiperf.engines import engines

engines.register("failing", FailingEngine)
"""

MATRIX = """
suites:
  - tasks: [synthetic.random]
    scenarios: [offline]
    engines: [failing]
    models: [fake-tiny]
"""

MODELS = """
fake-tiny:
  source: {tokenizer}
  parameters: 1000000
  dtype: float32
  chat: false
"""


@pytest.fixture
def project(tmp_path, tokenizer):
    shutil.copy(REPO / "tests" / "plugin" / "fake_engine.py", tmp_path / "fake_engine.py")
    (tmp_path / "failing_engine.py").write_text(FAILING_ENGINE)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "matrix.yaml").write_text(MATRIX)
    (tmp_path / "models.yaml").write_text(MODELS.format(tokenizer=tokenizer))
    return tmp_path


def bench(project, *args: str):
    import sys

    return run(project, [sys.executable, "-m", "pytest", "--matrix", "matrix.yaml", "--hw", "cpu", "--model-file",
                         "models.yaml", "--report-dir", "out", "--no-monitor", "-p", "no:cacheprovider",
                         "--max-samples", "8", "--repeats", "3", "--warmup-samples", "4", *args])


def only_case(project) -> dict:
    (path,) = (project / "out").glob("*/results.json")
    (case,) = json.loads(path.read_text())["cases"]
    return case


def test_failed_requests_within_the_allowed_rate_do_not_fail_the_case(project):
    """28 requests served (4 warmup, then 3 rounds of 8): 7 fail, 1 of them in warmup; 6/24 = 25% <= 30%."""
    done = bench(project, "--max-error-rate", "0.3")
    assert done.returncode == 0, done.output
    case = only_case(project)
    assert case["status"] == "passed" and case["failures"] == []
    assert case["metrics"]["error_rate"]["value"] == pytest.approx(0.25)
    assert case["quality"]["checks"]["exact_output_tokens"]["passed"] is True
    done.assert_clean()


def test_the_failure_count_is_of_measured_requests(project):
    done = bench(project, "--max-error-rate", "0.1")
    assert done.returncode == 1, done.output
    case = only_case(project)
    assert case["status"] == "failed"
    (failure,) = case["failures"]
    assert failure.startswith("error rate 25.0% exceeds 10.0% (6 failed requests; first: HTTP 500")
    done.assert_clean()
