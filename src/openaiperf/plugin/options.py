"""The plugin's options: every one declared once, as a field of a settings model
(:mod:`openaiperf.settings`) or of a registered class's ``Options``, made into options
by :mod:`openaiperf.options` (``ob run`` offers the same), added here to pytest's
"OpenAIPerf" group; the session reads them back as typed settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from openaiperf.errors import OpenAIPerfError
from openaiperf.options import add_options, check_values


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("openaiperf", "OpenAIPerf LLM benchmarks")
    add_options(group.addoption)


def check_options(option: Callable[[str], Any]) -> None:
    """Every given value in range and well-formed, at start-up: a usage error names the option."""
    try:
        check_values(option)
    except OpenAIPerfError as exc:
        raise pytest.UsageError(str(exc)) from None
