"""Where the history store is: ``--history URL``, else ``$OPENAIPERF_HISTORY``,
else a SQLite file under the user data directory
(``~/.local/share/openaiperf/history.sqlite`` on Linux, platformdirs' rule elsewhere).

A URL is any SQLAlchemy URL (``sqlite:////abs/path.sqlite``,
``postgresql+psycopg://user:pass@host:5432/db``); a bare path is a SQLite file.
``postgresql://`` and ``postgres://`` mean psycopg 3, the driver the ``postgres``
extra installs. Displayed URLs never show a password (:func:`display_url`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from openaiperf.errors import ConfigError
from openaiperf.redact import redact_text

ENV_VAR = "OPENAIPERF_HISTORY"
#: ``$OPENAIPERF_HISTORY=off`` (or ``--history off``) turns the store off, like ``--no-history``
OFF_WORDS = ("off", "none", "no", "0", "false")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def default_store_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("openaiperf", appauthor=False)) / "history.sqlite"


def normalize_url(value: str, *, source: str = "--history") -> str:
    """A SQLAlchemy URL from what the user gave (a URL or a SQLite file path)."""
    text = value.strip()
    if not text:
        raise ConfigError("empty history URL; expected e.g. sqlite:////path/history.sqlite, "
                          "postgresql://user@host/db or a file path", source=source)
    if not _SCHEME.match(text):
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    scheme, rest = text.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if not (scheme == "sqlite" or scheme.startswith(("sqlite+", "postgresql+"))):
        raise ConfigError(f"unsupported history URL scheme {scheme!r}; expected sqlite:/// or postgresql://",
                          source=source)
    return text


def resolve_url(option: str | None = None, *, disabled: bool = False) -> str | None:
    """The store's URL, or None when the history is off (``--no-history``, ``off``)."""
    if disabled:
        return None
    source, value = ("--history", option) if option else (f"${ENV_VAR}", os.environ.get(ENV_VAR))
    if value is None or not value.strip():
        return f"sqlite:///{default_store_path()}"
    if value.strip().lower() in OFF_WORDS:
        return None
    return normalize_url(value, source=source)


def display_url(url: str) -> str:
    """The URL with any password hidden, fit for logs and warnings."""
    try:
        from sqlalchemy.engine import make_url

        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not parseable: redact it as text
        shown = url
    return redact_text(shown)
