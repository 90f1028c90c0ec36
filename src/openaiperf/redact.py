"""Keeping secrets out of reports and logs.

Anything the suite writes that may echo what a user typed or configured (the
command line, engine options, server flags, endpoint URLs, environment) goes
through :func:`redact` first. What counts as a secret:

- the value of a flag or key whose name says it is one (``--api-key X``,
  ``--api-key=X``, ``api_key: X``, ``hf_token``, ``password``, ``secret``,
  ``authorization``, ``credentials``...);
- credentials inside a URL (``https://user:pass@host`` -> ``https://***@host``)
  and secret-named query parameters (``?token=...``);
- bearer tokens and well-known key shapes (``sk-...``, ``hf_...``, ``ghp_...``,
  ``xoxb-...``, AWS access key ids) wherever they appear in a string.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

MASK = "***"

#: name parts that mark a secret wherever they appear in a key or flag name
_SECRET_PARTS = {"password", "passwd", "secret", "credential", "credentials", "authorization", "auth", "apikey"}
#: consecutive parts that do (``api_key``, ``access_key``), and a trailing ``token`` (``hf_token``, not ``max_tokens``)
_SECRET_PAIRS = {("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key")}
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
_QUERY_SECRET = re.compile(r"(?P<key>[?&][^=&\s]*(?:api[-_]?key|token|secret|passw(?:or)?d|sig|auth)[^=&\s]*=)"
                           r"(?P<value>[^&\s#]+)", re.IGNORECASE)
_BEARER = re.compile(r"(?P<scheme>\b(?:Bearer|Basic|Token)\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)
_KEY_SHAPES = re.compile(r"\b(?:sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|"
                         r"xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|obt_[A-Za-z0-9_-]{20,})")
#: ``--flag=value`` / ``key=value`` / ``key: value`` inside free text (the key is checked by name). Nested
#: assignments are each checked: a value ends at ``=``, and one that is itself ``name=...`` or
#: ``engine:name=...`` is not taken as a value (``--engine-option=server_args=--api-key=X``, ``fake:api_key=X``)
_INLINE_ASSIGNMENT = re.compile(r"(?P<key>(?<![A-Za-z0-9_.-])(?:--)?[A-Za-z][A-Za-z0-9_.-]*\s*[=:]\s*)"
                                r"(?P<value>(?!(?:--)?[A-Za-z][A-Za-z0-9_.-]*\s*=|[A-Za-z][A-Za-z0-9_.-]*:[A-Za-z][A-Za-z0-9_.-]*=)"
                                r"[^\s,;'\"}=]+)")
#: ``--flag VALUE`` (flag and value as separate words) inside free text, also right after ``=``, a quote
#: or a bracket (``server_args=--api-key X``, ``'--api-key X'``)
_INLINE_FLAG = re.compile(r"(?P<key>(?<![\w-])--[A-Za-z][A-Za-z0-9_-]*\s+)(?P<value>(?!-)[^\s'\",;})\]]+)")


def is_secret_name(name: str) -> bool:
    """Whether a key or flag name says its value is a secret (``api_key``, ``--hf-token``,
    ``password``...); ``max_tokens`` or ``token_count`` are not."""
    parts = [p for p in re.split(r"[^a-z0-9]+", str(name).lower()) if p]
    if not parts:
        return False
    if any(p in _SECRET_PARTS for p in parts) or parts[-1] == "token":
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(parts))


def _mask_if_secret(match: re.Match[str]) -> str:
    key = match["key"]
    return f"{key}{MASK}" if is_secret_name(key.strip(" =:\t")) else match[0]


def redact_text(text: str) -> str:
    """``text`` with every secret it shows replaced by ``***``."""
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m['scheme']}{MASK}", text)
    text = _INLINE_FLAG.sub(_mask_if_secret, text)
    text = _INLINE_ASSIGNMENT.sub(_mask_if_secret, text)
    return _KEY_SHAPES.sub(MASK, text)


def redact_argv(argv: Sequence[Any]) -> list[str]:
    """A command line with the values of secret flags masked: ``--api-key X`` and
    ``--api-key=X`` both become ``--api-key ***``-style; other words are redacted as text."""
    out: list[str] = []
    hide_next = False
    for raw in argv:
        word = str(raw)
        if hide_next and not word.startswith("-"):
            out.append(MASK)
            hide_next = False
            continue
        hide_next = False
        if word.startswith("-"):
            flag, sep, _ = word.partition("=")
            if is_secret_name(flag.lstrip("-")):
                if sep:
                    out.append(f"{flag}={MASK}")
                else:
                    out.append(word)
                    hide_next = True
                continue
        out.append(redact_text(word))
    return out


def redact(value: Any) -> Any:
    """A copy of ``value`` (dicts, lists, tuples, strings) with secrets masked: values
    under secret-named keys, and secrets inside any string."""
    if isinstance(value, dict):
        return {k: (MASK if is_secret_name(str(k)) and isinstance(v, (str, int, float)) and v not in ("", None)
                    and not _names_a_variable(str(k)) else redact(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value] if all(isinstance(v, str) for v in value) else None
        if items and any(v.startswith("--") for v in items):
            return redact_argv(items)
        return type(value)(redact(v) for v in value) if isinstance(value, tuple) else [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _names_a_variable(key: str) -> bool:
    """``api_key_env`` names the environment variable that holds the key, not the key itself."""
    return key.lower().endswith(("_env", "-env", "_var", "_file", "_path"))


class RedactedStr(str):
    """A string that holds a secret (an endpoint URL with ``user:pass@``): used as a
    string everywhere, but its ``repr`` (what tracebacks, ``--showlocals``, pydantic
    and container reprs show) is redacted. ``str()`` and f-strings give the value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact_text(str.__str__(self)))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(cls, core_schema.str_schema())


class RedactedHeaders(dict[str, str]):
    """HTTP request headers that may carry ``Authorization``: a dict whose ``repr``
    masks every secret-named header, so a traceback that shows a function's arguments
    or locals never shows the key."""

    def __repr__(self) -> str:
        return repr({k: (MASK if is_secret_name(k) else v) for k, v in self.items()})

    def copy(self) -> RedactedHeaders:
        return RedactedHeaders(self)


class RedactedDict(dict[str, Any]):
    """Options that may hold secrets (an engine's ``server_args``, ``api_key``, an endpoint):
    a dict whose ``repr`` is :func:`redact`'s copy, so tracebacks never show them."""

    def __repr__(self) -> str:
        return repr(redact(dict(self)))
