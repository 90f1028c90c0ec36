"""Validated specs loaded from YAML.

Every spec (task, scenario, engine, model, hardware profile) is a pydantic model
that validates itself when built; :func:`load_yaml_spec` turns pydantic's errors
into a :class:`~openaiperf.errors.ConfigError` naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from openaiperf.errors import ConfigError, validation_error

SpecT = TypeVar("SpecT", bound=BaseModel)


class Spec(BaseModel):
    """Base of every spec: unknown fields are errors (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file, naming the file (and line) when it is malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file does not exist", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read ({exc.strerror or exc})", source=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"malformed YAML{where}: {getattr(exc, 'problem', exc)}", source=str(path)) from None


def build_spec(model: type[SpecT], data: Any, *, source: str) -> SpecT:
    """Validate ``data`` as ``model``; errors name ``source`` and the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping, got {type(data).__name__}", source=source)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source=source, model=model) from None


def load_yaml_spec(model: type[SpecT], path: str | Path) -> SpecT:
    """Read ``path`` and validate it as ``model``."""
    return build_spec(model, read_yaml(path), source=str(path))
