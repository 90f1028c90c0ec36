"""The pytester project of the plugin tests: the suite's fixtures, a matrix of
two cheap cases, and the deterministic fake engine."""

from __future__ import annotations

from pathlib import Path

# Import matplotlib (and scipy) once, here: pytester's in-process runs drop the modules
# first imported inside them, and a half-reloaded matplotlib breaks.
import openaiperf.report.figures  # noqa: F401,E402
import scipy.stats  # noqa: F401,E402

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

PROJECT_CONFTEST = f"""
import sys
sys.path[:0] = [{str(REPO)!r}, {str(HERE)!r}]
from openaiperf.engines import BUILTIN_ENGINES
BUILTIN_ENGINES["fake"] = "fake_engine:FakeEngine"
pytest_plugins = ["fixtures.hardware", "fixtures.model", "fixtures.dataset", "fixtures.engine",
                  "fixtures.monitor", "fixtures.case"]
"""

MATRIX = """
suites:
  - name: fake
    tasks: [summarization.xsum]
    scenarios: [offline, single_stream]
    engines: [fake]
    models: [fake-tiny]
"""

MODELS = """
fake-tiny:
  source: test/fake-tiny
  parameters: 1000000
  dtype: float32
  chat: false
"""

TEST_FILE = """
def test_llm(bench_case, case_runner, benchmark):
    result = case_runner.run(benchmark)
    assert result.status == "passed", "\\n".join(result.failures)
"""


def bench_args(*extra: str) -> list[str]:
    return ["benchmarks", "--hw", "cpu", "--model-file", "models.yaml", "--max-samples", "8",
            "--warmup-samples", "0", "-p", "no:cacheprovider", *extra]
