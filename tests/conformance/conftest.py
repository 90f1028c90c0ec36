"""Fixtures of the conformance tests: a word-level client tokenizer (one token
per word of the scripted server's text) and a helper that runs requests through
a real ``openai`` engine against a scripted server."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every conformance test holds measured times to the script within milliseconds: marked
    ``timing``, so that make test runs them one at a time, not beside other tests on two workers."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.timing)


@pytest.fixture(scope="session")
def word_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from openaiperf.testing.word_tokenizer import write_word_tokenizer

    return write_word_tokenizer(tmp_path_factory.mktemp("word-tokenizer"))
