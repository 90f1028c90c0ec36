"""Errors that reach the user: each names the file, field or option at fault."""

from __future__ import annotations


class OpenAIPerfError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(OpenAIPerfError):
    """A spec file, option or value is wrong.

    The message names where (file, field or option) and what was expected.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class UnknownNameError(ConfigError):
    """A name (task, engine, model, hardware profile, ...) that no registry knows."""

    def __init__(self, kind: str, name: str, known: list[str], *, source: str | None = None):
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        super().__init__(
            f"unknown {kind} {name!r}; known {kind}s: {', '.join(self.known) or '(none)'}",
            source=source,
        )


class EngineError(OpenAIPerfError):
    """An engine failed while serving a case."""
