"""The conformance tests' markers and the one-case project of the gate and A/B tests
(the scripted server and the word tokenizer they use are the repository's shared fixtures,
``fixtures/servers.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every conformance test holds measured times to the script within milliseconds: marked
    ``timing``, so that make test runs them one at a time, not beside other tests on two workers.

    A failed one is measured again, twice at most (pytest-rerunfailures): the virtual machines
    these tests run on stall now and then for 100-300 ms (the hypervisor takes the CPUs: 4% steal
    time on this 2-core VM), which no millisecond tolerance absorbs. A wrong measurement fails
    every attempt; a stall does not come back at the same moment. Only the test is run again: a
    module-scoped run (the plugin conformance run) is measured once."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.timing)
            item.add_marker(pytest.mark.flaky(reruns=2))


STEADY_CHAT_MATRIX = """
suites:
  - name: steady-chat
    tasks: [summarization.xsum]
    scenarios: [offline]
    engines: [openai]
    models: [steady-chat]
"""


@pytest.fixture
def project(tmp_path: Path, word_tokenizer: Path) -> Path:
    """A folder holding a one-case suite (XSum, offline, ``openai``) for a chat model
    ``steady-chat`` whose client tokenizer is the word tokenizer: the case the gate's and the
    A/B comparison's conformance tests run against scripted servers."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "matrix.yaml").write_text(STEADY_CHAT_MATRIX)
    (tmp_path / "models.yaml").write_text(f"steady-chat:\n  source: {word_tokenizer}\n  parameters: 1000000\n"
                                          "  dtype: float32\n  chat: true\n")
    return tmp_path
