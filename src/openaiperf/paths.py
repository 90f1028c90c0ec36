"""Paths built from data: a case id, a run id, a hardware profile or task name, a
file a results.json names. Such data may come from a file someone else made (a CI
artifact, a shared run folder), so a name is checked before it becomes a path:
:func:`name_in` takes a plain name (one path component) and :func:`path_in` a
relative path, and both refuse anything that would resolve outside its folder,
with an error naming the field."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from openaiperf.errors import ConfigError

#: characters never in a name that becomes a path component
_NOT_IN_NAMES = frozenset("/\\\0")


def safe_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one path component, or None when it can."""
    if not isinstance(name, str) or not name:
        return "an empty name"
    if name in (".", ".."):
        return f"{name!r} names a folder, not a file"
    if any(ch in _NOT_IN_NAMES or ord(ch) < 32 for ch in name):
        return "a path separator or control character in a name"
    return None


def _refuse(field: str, value: str, why: str, source: str | None) -> ConfigError:
    return ConfigError(f"refused {value!r}: {why}; expected a plain name that stays inside its folder",
                       source=source, field=field)


def name_in(folder: Path, name: str, *, field: str, suffix: str = "", source: str | None = None) -> Path:
    """``folder / (name + suffix)``, where ``name`` comes from data (``field`` says which):
    refused unless it is one path component that stays inside ``folder``."""
    problem = safe_name_problem(name)
    if problem:
        raise _refuse(field, name, problem, source)
    path = Path(folder) / f"{name}{suffix}"
    if not _inside(Path(folder), path):
        raise _refuse(field, name, "it resolves outside its folder", source)
    return path


def path_in(folder: Path, relative: str, *, field: str, source: str | None = None) -> Path:
    """``folder / relative`` for a relative path read from data (subfolders allowed):
    refused when absolute, when it climbs out (``..``) or when it resolves outside."""
    parts = PurePosixPath(str(relative).replace("\\", "/"))
    if not str(relative) or parts.is_absolute() or ".." in parts.parts or "\0" in str(relative):
        raise _refuse(field, str(relative), "an absolute path or one that climbs out of its folder", source)
    path = Path(folder) / parts
    if not _inside(Path(folder), path):
        raise _refuse(field, str(relative), "it resolves outside its folder", source)
    return path


def _inside(folder: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
