"""The pytester project of the plugin tests, laid out as a user's would be: a
``benchmarks/matrix.yaml`` of two cheap cases, a models file, the deterministic
test engine in a module of the project, and a ``conftest.py`` that registers it
through the engine registry's public API."""

from __future__ import annotations

from pathlib import Path

import scipy.stats  # noqa: F401,E402

# Import matplotlib (and scipy) once, here: pytester's in-process runs drop the modules
# first imported inside them, and a half-reloaded matplotlib breaks.
import openaiperf.report.figures  # noqa: F401,E402

HERE = Path(__file__).resolve().parent

#: the test engine's source, written into the project as ``fake_engine.py``
FAKE_ENGINE = (HERE / "fake_engine.py").read_text(encoding="utf-8")

PROJECT_CONFTEST = """
from fake_engine import FakeEngine

from openaiperf.engines import engines

engines.register("fake", FakeEngine)
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
  parameters: 1000  # the fake engine answers at once: a larger model would read MFU above 100% (INVALID)
  dtype: float32
  chat: false
"""


def bench_args(*extra: str) -> list[str]:
    # The fake engine's times are synthetic: its runs do not drift, so a one-run baseline assumes none.
    return ["benchmarks", "--hw", "cpu", "--model-file", "models.yaml", "--max-samples", "8",
            "--warmup-samples", "0", "--baseline-drift", "0", "-p", "no:cacheprovider", *extra]
