"""The user registry folder: tasks registered with ``ob task register`` and
engines registered with ``ob backend register`` live here, outside the package.

``$OPENAIPERF_HOME`` if set, else ``~/.config/openaiperf``.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_home() -> Path:
    explicit = os.environ.get("OPENAIPERF_HOME")
    return Path(explicit).expanduser() if explicit else Path.home() / ".config" / "openaiperf"


def user_tasks_dir() -> Path:
    return user_home() / "tasks"


def user_engines_file() -> Path:
    return user_home() / "engines.yaml"
