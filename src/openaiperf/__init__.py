"""OpenAIPerf: a pytest-driven benchmark suite for LLM inference."""

from __future__ import annotations

__version__ = "0.1.0"
