"""Secrets as types: what a traceback shows of the endpoint, the key, the request
headers and the engine options is redacted, with every frame's arguments and locals
shown (pytest's ``--showlocals`` and long tracebacks), while the code that uses them
gets the real values."""

from __future__ import annotations

import base64
import urllib.request

import pytest

from openaiperf.engines.endpoint import auth_headers, endpoint_problem, list_models, split_credentials
from openaiperf.engines.openai import OpenAIOptions
from openaiperf.errors import EngineError
from openaiperf.redact import RedactedDict, RedactedHeaders, RedactedStr

KEY = "zz4plainKeyNoShape"
PASSWORD = "pw7plainPass"
ENDPOINT = f"http://alice:{PASSWORD}@127.0.0.1:9/v1"


def shown(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.getrepr(showlocals=True, funcargs=True, style="long"))


def test_the_types_hide_their_secret_in_repr_and_keep_it_as_values():
    url = RedactedStr(ENDPOINT)
    assert repr(url) == "'http://***@127.0.0.1:9/v1'" and f"{url}" == ENDPOINT and url == ENDPOINT
    headers = RedactedHeaders({"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert KEY not in repr(headers) and KEY not in repr({"h": headers}) and headers["Authorization"].endswith(KEY)
    options = RedactedDict({"server_args": f"--api-key {KEY}", "api_key": KEY, "endpoint": ENDPOINT})
    assert KEY not in repr(options) and PASSWORD not in repr(options) and options["api_key"] == KEY
    model = OpenAIOptions.model_validate({"endpoint": ENDPOINT})
    assert isinstance(model.endpoint, RedactedStr) and PASSWORD not in repr(model)


def test_headers_carry_the_key_or_the_url_credentials(monkeypatch):
    monkeypatch.setenv("OB_UNIT_KEY", KEY)
    url, credentials = split_credentials(ENDPOINT)
    assert url == "http://127.0.0.1:9/v1" and PASSWORD not in repr(credentials)
    assert auth_headers("OB_UNIT_KEY", None, credentials)["Authorization"] == f"Bearer {KEY}"
    basic = auth_headers("OB_UNIT_UNSET", None, credentials)["Authorization"]
    assert basic == "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


def test_a_failed_model_listing_shows_no_secret_in_its_traceback(monkeypatch):
    monkeypatch.setenv("OB_UNIT_KEY", KEY)
    url, credentials = split_credentials(ENDPOINT)
    with pytest.raises(EngineError) as excinfo:
        list_models("http://127.0.0.1:9", auth_headers("OB_UNIT_KEY", None, credentials), 2.0)
    text = shown(excinfo)
    assert "cannot list models at http://127.0.0.1:9/v1/models" in text and "Authorization" in text
    assert KEY not in text and excinfo.value.__cause__ is None and excinfo.value.__context__ is None


def test_an_http_error_of_the_library_is_not_chained(monkeypatch):
    """urllib's error holds the request (with its headers): it is not the raised error's context."""

    def refuse(request, timeout):
        raise urllib.request.HTTPError(request.full_url, 401, "Unauthorized", {}, None)

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(EngineError, match="HTTPError: HTTP Error 401: Unauthorized") as excinfo:
        list_models("http://127.0.0.1:9", RedactedHeaders({"Authorization": f"Bearer {KEY}"}), 2.0)
    assert KEY not in shown(excinfo) and excinfo.value.__context__ is None


@pytest.mark.parametrize("url,problem", [
    ("http://h:99999", "Port out of range"), ("http://h:x", "Port could not be cast"),
    ("ftp://h", "unsupported scheme 'ftp'"), ("h:8000", "unsupported scheme 'h'"), ("http://:1", "no host"),
    ("http://h:0", "port 0"),
])
def test_bad_endpoints_are_named_without_their_credentials(url, problem):
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    with_password = f"{scheme}://alice:{PASSWORD}@{rest}" if scheme else url
    found = endpoint_problem(with_password)
    assert found is not None and problem in found and PASSWORD not in found
    assert endpoint_problem("https://alice:pw@example.org:8443/v1") is None


def test_a_url_that_cannot_be_split_shows_no_password():
    """A metrics_url or endpoint that reached the engine unchecked: the parts of the URL
    (its password among them) stay in a frame that raises nothing."""
    from openaiperf.errors import ConfigError

    with pytest.raises(ConfigError, match=r"not a valid URL: http://\*\*\*@h:99999") as excinfo:
        split_credentials(RedactedStr(f"http://alice:{PASSWORD}@h:99999/metrics"))
    assert PASSWORD not in shown(excinfo)
