"""An OpenAI-compatible server's address and credentials, for the ``openai`` engine.

Secrets never sit in a plain string that a traceback can show: the endpoint URL
(which may hold ``user:pass@``) is a :class:`~openaiperf.redact.RedactedStr`
from the option parser on, the credentials split out of it and the API key read
from the environment are :class:`pydantic.SecretStr`, and request headers are
:class:`~openaiperf.redact.RedactedHeaders`. An error raised here names the URL
without its credentials and is raised ``from None``: the exceptions of the HTTP
libraries carry the request (headers and URL) and are not chained.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.parse

from pydantic import SecretStr

from openaiperf.errors import ConfigError, EngineError
from openaiperf.redact import RedactedHeaders, RedactedStr, redact_text

SCHEMES = ("http", "https")


def endpoint_problem(url: str) -> str | None:
    """What is wrong with an endpoint URL (scheme, host, port), or None; the message
    shows the URL with its credentials masked."""
    shown = redact_text(str(url))
    try:
        parts = urllib.parse.urlsplit(str(url))
        scheme, host, port = parts.scheme, parts.hostname, parts.port
    except ValueError as exc:  # a port that is not a number, or out of range; a bad IPv6 address
        return f"not a valid URL ({exc}): {shown}; expected http(s)://HOST[:PORT][/v1]"
    if scheme not in SCHEMES:
        return (f"unsupported scheme {scheme!r} in {shown}; expected http:// or https:// "
                "(e.g. http://127.0.0.1:8000/v1)")
    if not host:
        return f"no host in {shown}; expected http(s)://HOST[:PORT][/v1]"
    if port == 0:
        return f"port 0 in {shown}; expected a port in 1-65535"
    return None


def split_credentials(url: str) -> tuple[str, SecretStr | None]:
    """``http://user:pass@host:port/path`` -> (``http://host:port/path``, ``user:pass`` as a secret).
    Give it the :class:`RedactedStr` itself (not ``str()`` of it): a traceback shows this argument."""
    split = _split_credentials(url)
    if split is None:
        raise ConfigError(f"not a valid URL: {redact_text(str(url))}; expected http(s)://HOST[:PORT][/v1]",
                          source="endpoint")
    return split


def _split_credentials(url: str) -> tuple[str, SecretStr | None] | None:
    # Its locals hold the URL's parts (the password among them): nothing is raised from here.
    try:
        parts = urllib.parse.urlsplit(str(url))
        if parts.username is None and parts.password is None:
            return str(url), None
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port else "")
        bare = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        return bare, SecretStr(urllib.parse.unquote(parts.username or "") + ":" +
                               urllib.parse.unquote(parts.password or ""))
    except ValueError:
        return None


def base_url(url: str) -> str:
    """The server's root URL (an endpoint may be given with or without ``/v1``)."""
    return str(url).rstrip("/").removesuffix("/v1")


def api_key(api_key_env: str | None) -> SecretStr | None:
    """The API key in ``$api_key_env``, as a secret (None when unset or empty)."""
    value = os.environ.get(api_key_env or "")
    return SecretStr(value) if value else None


def auth_headers(api_key_env: str | None, server_key: SecretStr | None,
                 credentials: SecretStr | None) -> RedactedHeaders:
    """Request headers: the key from ``$api_key_env`` (else the managed server's own
    key) as a bearer token, else the URL's ``user:pass`` as basic auth."""
    headers = RedactedHeaders({"Content-Type": "application/json"})
    key = api_key(api_key_env) or server_key
    if key is not None:
        headers["Authorization"] = "Bearer " + key.get_secret_value()
    elif credentials is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.get_secret_value().encode()).decode()
    return headers


def http_failure(exc: BaseException) -> str:
    """An HTTP library's exception as a message without the request's headers or
    credentials: its class and text, redacted (aiohttp's carry the request info)."""
    return redact_text(f"{type(exc).__name__}: {exc}")


def list_models(root: str, headers: RedactedHeaders, timeout_s: float) -> list[str]:
    """The model ids a server's ``/v1/models`` lists (an error names the URL, never its credentials)."""
    import urllib.request

    failure: str | None = None
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{root}/v1/models", headers=headers),
                                    timeout=timeout_s) as response:
            models = json.loads(response.read()).get("data") or []
    except Exception as exc:
        failure = http_failure(exc)
    if failure is not None:
        # raised outside the handler: the library's exception (with the request) is not kept
        raise EngineError(f"cannot list models at {redact_text(root)}/v1/models ({failure}); "
                          "set the served_model engine option")
    return [str(model["id"]) for model in models]


__all__ = ["RedactedStr", "api_key", "auth_headers", "base_url", "endpoint_problem", "http_failure", "list_models",
           "split_credentials"]
