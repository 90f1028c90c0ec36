"""Errors that reach the user: each names the file, field or option at fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError


class OpenAIPerfError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(OpenAIPerfError):
    """A spec file, option or value is wrong.

    The message names where (file, field or option) and what was expected.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.message = message
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


# -- validation errors ------------------------------------------------------------------------
#: the longest value an error message quotes (a whole mapping would drown the message)
QUOTED_INPUT_CHARS = 80


def field_path(loc: tuple[int | str, ...] | list[int | str], prefix: str = "") -> str:
    """``("suites", 0, "models")`` -> ``suites[0].models`` (``prefix`` before it)."""
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f"{'.' if out else ''}{part}"
    return out or "(top level)"


def _quoted(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= QUOTED_INPUT_CHARS else text[:QUOTED_INPUT_CHARS - 3] + "..."


def _field_flag(model: type[BaseModel] | None, loc: Sequence[int | str]) -> str | None:
    if model is None or not loc or not isinstance(loc[0], str) or loc[0] not in model.model_fields:
        return None
    extra = model.model_fields[loc[0]].json_schema_extra
    flag = extra.get("flag") if isinstance(extra, dict) else None
    return str(flag) if flag else None


def _error_message(error: Mapping[str, Any], model: type[BaseModel] | None) -> str:
    kind, loc = error["type"], error["loc"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        known = ""
        if model is not None and len(loc) == 1:
            known = f"; known: {', '.join(sorted(model.model_fields)) or '(none)'}"
        return f"unknown field (check its spelling){known}"
    if kind in ("value_error", "assertion_error"):
        return str((error.get("ctx") or {}).get("error", error["msg"]))
    # pydantic's message states what is accepted (a type, a bound, the literal values)
    return f"{error['msg']}, got {_quoted(error.get('input'))}"


def _located(error: Mapping[str, Any], model: type[BaseModel] | None, prefix: str) -> str:
    flag = _field_flag(model, error["loc"])
    where = field_path(error["loc"], prefix)
    return f"{where} ({flag})" if flag else where


def _more(exc: ValidationError, shown: int) -> str:
    more = exc.error_count() - shown
    return f" (and {more} more error{'s' if more > 1 else ''})" if more > 0 else ""


def describe_validation(exc: ValidationError, *, model: type[BaseModel] | None = None, prefix: str = "",
                        limit: int = 1, fields: bool = True) -> str:
    """The one wording of a pydantic ValidationError: ``FIELD: MESSAGE`` for each of the
    first ``limit`` errors (``; ``-joined, then how many more), where FIELD is the dotted
    path (``suites[0].models``, after ``prefix``) and its command-line flag where ``model``'s
    field declares one (``qps_target (--qps-target)``), and MESSAGE says what is accepted
    and what was given. ``fields=False`` leaves the field out (the caller names it)."""
    errors = exc.errors()[:limit]
    lines = [f"{_located(error, model, prefix)}: {_error_message(error, model)}" if fields
             else _error_message(error, model) for error in errors]
    return "; ".join(lines) + _more(exc, len(errors))


def validation_error(exc: ValidationError, *, source: str | None = None, model: type[BaseModel] | None = None,
                     prefix: str = "", limit: int = 1, lead: str = "") -> ConfigError:
    """A ConfigError of ``exc`` worded by :func:`describe_validation`, naming ``source`` (the
    file, or the file and where in it) and, for one error shown, the field (``.field``);
    ``lead`` is said first (what was being read)."""
    if limit == 1 and not lead:
        first = exc.errors()[0]
        return ConfigError(_error_message(first, model) + _more(exc, 1), source=source,
                           field=_located(first, model, prefix))
    text = describe_validation(exc, model=model, prefix=prefix, limit=limit)
    return ConfigError(f"{lead}: {text}" if lead else text, source=source)
