"""HTTP calls to the registry service, with retries and refusals that say what to do.

Connection errors, timeouts and 5xx answers are retried with exponential backoff
(``retries`` times; 0.5 s, 1 s, 2 s, ...). A 401 or 403 is not retried: the message says
whether the token is missing, unknown, revoked or lacks a scope, and where it came from;
it never holds the token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openaiperf.errors import ConfigError, OpenAIPerfError
from openaiperf.registry_client.settings import TOKEN_ENV, RegistrySettings

DEFAULT_RETRIES = 4
DEFAULT_BACKOFF_S = 0.5
DEFAULT_TIMEOUT_S = 120.0


class RegistryError(OpenAIPerfError):
    """The registry refused a request or could not be reached; ``status``: the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None, answer: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.answer = answer or {}


class RegistryClient:
    def __init__(self, settings: RegistrySettings, *, retries: int = DEFAULT_RETRIES,
                 backoff_s: float = DEFAULT_BACKOFF_S, timeout_s: float = DEFAULT_TIMEOUT_S,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.sleep = sleep

    def _headers(self, needs_token: bool) -> dict[str, str]:
        token = self.settings.token
        if token is None:
            if needs_token:
                raise ConfigError(f"no registry token: set ${TOKEN_ENV} or run `ob config --token ...` "
                                  "(a token comes from `ob registry token create`)", source="token")
            return {}
        return {"Authorization": f"Bearer {token.get_secret_value()}"}

    def request(self, method: str, path: str, *, needs_token: bool = True, accept: tuple[int, ...] = (),
                content_file: Path | None = None, **kwargs: Any) -> Any:
        """One request, retried on connection errors and 5xx; the httpx response."""
        try:
            import httpx
        except ImportError as exc:
            raise ConfigError(f"{exc}; install the registry extra: pip install 'openaiperf[registry]'",
                              source="ob") from None
        url = f"{self.settings.url}{path}"
        headers = {**self._headers(needs_token), **kwargs.pop("headers", {})}
        attempt = 0
        response: Any = None
        while True:
            try:
                with httpx.Client(timeout=self.timeout_s) as http:
                    if content_file is not None:
                        with content_file.open("rb") as body:
                            response = http.request(method, url, headers=headers, content=body, **kwargs)
                    else:
                        response = http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                problem = f"cannot reach the registry {self.settings.url} ({type(exc).__name__}: {exc})"
                response = None
            else:
                if response.status_code < 500:
                    break
                problem = f"the registry {self.settings.url} answered {response.status_code}"
            if attempt >= self.retries:
                raise RegistryError(f"{problem}; gave up after {attempt + 1} attempt(s)",
                                    status=response.status_code if response is not None else None)
            self.sleep(self.backoff_s * 2 ** attempt)
            attempt += 1
        if response.status_code in accept or response.is_success:
            return response
        raise self._refusal(response)

    def _refusal(self, response: Any) -> RegistryError:
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        detail = answer.get("detail") if isinstance(answer, dict) else None
        if not isinstance(detail, str):
            detail = str(detail or response.text[:300] or response.reason_phrase)
        status = response.status_code
        if status == 401:
            where = f" (the token from {self.settings.token_source})" if self.settings.token_source else ""
            return RegistryError(f"the registry refused the token{where}: {detail}", status, answer)
        if status == 403:
            return RegistryError(f"the registry refused: {detail}; ask for a token with that scope", status, answer)
        return RegistryError(f"the registry answered {status}: {detail}", status, answer)

    # -- the calls
    def submit(self, archive: Path, tags: list[str], description: str) -> dict[str, Any]:
        response = self.request("POST", "/api/v1/submissions", accept=(409,), content_file=archive,
                                params={"tags": ",".join(tags), "description": description},
                                headers={"Content-Type": "application/gzip"})
        answer: dict[str, Any] = response.json()
        return answer

    def tasks(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.request("GET", "/api/v1/tasks").json()
        return answer

    def task(self, name: str, version: str | None) -> dict[str, Any]:
        params = {"version": version} if version else {}
        answer: dict[str, Any] = self.request("GET", f"/api/v1/tasks/{name}", params=params).json()
        return answer

    def download(self, name: str, version: str, file_name: str, target: Path) -> None:
        response = self.request("GET", f"/api/v1/tasks/{name}/{version}/files/{file_name}")
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(response.content)
        tmp.replace(target)

    def publish(self, definition: Path, files: list[Path]) -> dict[str, Any]:
        handles = [("definition", (definition.name, definition.read_bytes(), "application/yaml"))]
        handles += [("files", (f.name, f.read_bytes(), "application/octet-stream")) for f in files]
        answer: dict[str, Any] = self.request("POST", "/api/v1/tasks", files=handles).json()
        return answer
