"""Which registry to talk to and with which token.

The URL: ``--registry URL``, else ``$OPENAIPERF_REGISTRY_URL``, else ``registry.url`` in
``~/.openaiperf/config.yaml``. The token: ``$OPENAIPERF_TOKEN``, else ``registry.auth_token``
in that file (the layout the implementation guide shows; ``ob config`` writes it, readable
by its owner only). The token is held as a :class:`pydantic.SecretStr`: it prints as
``**********``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr

from openaiperf.errors import ConfigError

URL_ENV = "OPENAIPERF_REGISTRY_URL"
TOKEN_ENV = "OPENAIPERF_TOKEN"


def config_path() -> Path:
    return Path.home() / ".openaiperf" / "config.yaml"


class RegistrySettings(BaseModel):
    url: str
    token: SecretStr | None = None
    #: where the URL came from, for messages (--registry, $OPENAIPERF_REGISTRY_URL, the config file)
    url_source: str = ""
    token_source: str = ""


def read_config(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=str(path)) from None
    registry = data.get("registry") if isinstance(data, dict) else None
    if registry is not None and not isinstance(registry, dict):
        raise ConfigError("'registry' must be a mapping with url and auth_token", source=str(path), field="registry")
    return dict(registry or {})


def check_url(url: str, source: str) -> str:
    text = url.strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise ConfigError(f"expected an http:// or https:// URL, got {text!r}", source=source)
    return text


def resolve(registry: str | None = None) -> RegistrySettings:
    """The registry and token to use; a ConfigError when no registry is named."""
    config = read_config()
    shown = str(config_path())
    if registry:
        url, url_source = registry, "--registry"
    elif os.environ.get(URL_ENV, "").strip():
        url, url_source = os.environ[URL_ENV], f"${URL_ENV}"
    elif config.get("url"):
        url, url_source = str(config["url"]), shown
    else:
        raise ConfigError(f"no registry: pass --registry URL, set ${URL_ENV}, or run "
                          "`ob config --registry-url URL`", source="registry")
    token: str | None = None
    token_source = ""
    if os.environ.get(TOKEN_ENV, "").strip():
        token, token_source = os.environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"
    elif config.get("auth_token"):
        token, token_source = str(config["auth_token"]).strip(), shown
    return RegistrySettings(url=check_url(url, url_source), token=SecretStr(token) if token else None,
                            url_source=url_source, token_source=token_source)


def write_config(url: str | None, token: SecretStr | None, path: Path | None = None) -> Path:
    """Write (or update) the config file, readable by its owner only."""
    path = path or config_path()
    registry = read_config(path)
    if url is not None:
        registry["url"] = check_url(url, "--registry-url")
    if token is not None:
        registry["auth_token"] = token.get_secret_value()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data: dict[str, Any] = {}
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        data = loaded if isinstance(loaded, dict) else {}
    data["registry"] = registry
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    os.chmod(path, 0o600)
    return path
