"""Fixtures of the fault-and-secrets suite: a scripted server (the stand-in
OpenAI-compatible server whose behaviour each request's script sets), a word
tokenizer for its model, and a project folder per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import project

from openaiperf.testing.scripted_server import Script, ScriptedServer, start_scripted_server


@pytest.fixture(scope="package")
def server() -> Iterator[ScriptedServer]:
    with start_scripted_server(Script(tokens=6, ttft_ms=2.0, gap_ms=1.0), slow_s=60.0) as running:
        yield running


@pytest.fixture(scope="package")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from openaiperf.testing.word_tokenizer import write_word_tokenizer

    return write_word_tokenizer(tmp_path_factory.mktemp("word-tokenizer"))


@pytest.fixture
def folder(tmp_path: Path, tokenizer: Path) -> Path:
    return project(tmp_path, tokenizer)
