"""Published tasks (``ob task publish``, ``ob fetch``), tokens (``ob registry token``),
the client's configuration, retries and secrecy, on the loopback service."""

from __future__ import annotations

import pytest

from tests.registry.conftest import MISSING_EXTRA

if MISSING_EXTRA:
    pytest.skip(MISSING_EXTRA, allow_module_level=True)

import shutil
import stat
from pathlib import Path

import httpx
import yaml
from pydantic import SecretStr

from openaiperf.checksums import sha256_file
from openaiperf.cli import main as ob
from openaiperf.registry_client.client import RegistryClient, RegistryError
from openaiperf.registry_client.settings import RegistrySettings, resolve
from openaiperf.registry_service import tokens
from openaiperf.tasks import builtin_task_files, load_task_spec
from tests.registry.conftest import Registry, free_port, serve

XSUM = Path(builtin_task_files()["summarization.xsum"])
XSUM_DATA = XSUM.parent.parent / "data" / "xsum_mini.csv"


def team_task(folder: Path, *, sha256: str | None = None) -> Path:
    """A task of the team's own: the built-in XSum definition with a local CSV beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(XSUM.read_text())
    data["name"], data["version"] = "team.summaries", "1.2.0"
    data["datasets"]["eval"]["source"] = "data/summaries.csv"
    data["datasets"]["eval"]["sha256"] = sha256 or sha256_file(XSUM_DATA)
    (folder / "data").mkdir(exist_ok=True)
    shutil.copyfile(XSUM_DATA, folder / "data" / "summaries.csv")
    path = folder / "team.summaries.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def use(registry: Registry, monkeypatch: pytest.MonkeyPatch, scope: str) -> None:
    monkeypatch.setenv("OPENAIPERF_REGISTRY_URL", registry.url)
    monkeypatch.setenv("OPENAIPERF_TOKEN", registry.tokens[scope])


def test_publish_then_fetch_a_task_with_its_data(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    definition = team_task(tmp_path / "src")
    use(registry, monkeypatch, "submit")
    assert ob(["task", "publish", str(definition), "--retries", "0"]) == 2  # a submit token may not publish
    assert "this needs 'publish'" in capsys.readouterr().err
    use(registry, monkeypatch, "publish")
    assert ob(["task", "publish", str(definition), "--retries", "0"]) == 0
    assert "published task team.summaries 1.2.0 with 1 data file(s)" in capsys.readouterr().out
    assert ob(["task", "publish", str(definition), "--retries", "0"]) == 2
    assert "is published already; publish a new version" in capsys.readouterr().err
    use(registry, monkeypatch, "read")
    assert ob(["fetch", "--list"]) == 0
    assert "team.summaries" in capsys.readouterr().out
    out = tmp_path / "fetched"
    assert ob(["fetch", "team.summaries", "--version", "1.2.0", "--with-dataset", "--output-dir", str(out)]) == 0
    assert "sha256 ok" in capsys.readouterr().out
    assert sha256_file(out / "summaries.csv") == sha256_file(XSUM_DATA)
    spec = load_task_spec(out / "team.summaries.yaml")  # the fetched definition finds its data beside it
    assert spec.name == "team.summaries" and spec.datasets["eval"].source == "summaries.csv"
    assert ob(["fetch", "team.summaries", "--version", "9.9.9", "--output-dir", str(out)]) == 2
    assert "its versions: 1.2.0" in capsys.readouterr().err
    page = httpx.get(f"{registry.url}/tasks", headers={"Authorization": f"Bearer {registry.tokens['read']}"})
    assert "team.summaries" in page.text and sha256_file(XSUM_DATA)[:12] in page.text
    row = registry.service.task("team.summaries")
    assert row.token_id == registry.token_ids["publish"] and row.files[0]["sha256"] == sha256_file(XSUM_DATA)


def test_a_task_whose_data_does_not_match_its_checksum_is_refused(registry: Registry, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    definition = team_task(tmp_path / "src", sha256="0" * 64)
    use(registry, monkeypatch, "publish")
    assert ob(["task", "publish", str(definition), "--retries", "0"]) == 2
    assert "summaries.csv has sha256" in capsys.readouterr().err
    assert registry.service.tasks() == []
    # a file name that would climb out of the task's folder is refused by the service itself
    publisher = {"Authorization": f"Bearer {registry.tokens['publish']}"}
    answer = httpx.post(f"{registry.url}/api/v1/tasks", headers=publisher,
                        files=[("definition", ("t.yaml", definition.read_bytes())),
                               ("files", ("..", b"x"))])
    assert answer.status_code == 422


def test_token_commands_store_only_a_hash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from openaiperf.history.models import RegistryTokenRow
    from openaiperf.history.store import HistoryStore

    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    assert ob(["registry", "token", "create", "--scopes", "read,submit", "--name", "runner-1", "--history", url]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith(tokens.PREFIX)
    assert ob(["registry", "token", "create", "--scopes", "read,deploy", "--history", url]) == 2
    assert "unknown or missing scope(s) deploy; accepted: read, submit, publish, admin" in capsys.readouterr().err
    with HistoryStore(url) as store, Session(store.engine) as session:
        row = session.scalars(select(RegistryTokenRow)).one()
        assert row.token_sha256 == tokens.hash_token(token) and token not in repr(row.__dict__)
        info = tokens.lookup(session, token)
        assert info is not None and info.allows("submit") and not info.allows("publish")
    assert ob(["registry", "token", "list", "--history", url]) == 0
    listing = capsys.readouterr().out
    assert "runner-1" in listing and "active" in listing and token not in listing
    assert ob(["registry", "token", "revoke", "1", "--history", url]) == 0
    with HistoryStore(url) as store, Session(store.engine) as session:
        info = tokens.lookup(session, token)
        assert info is not None and info.revoked and not info.allows("read")
    assert ob(["registry", "token", "revoke", "7", "--history", url]) == 2


def test_admin_tokens_over_http(registry: Registry) -> None:
    admin = {"Authorization": f"Bearer {registry.tokens['admin']}"}
    made = httpx.post(f"{registry.url}/api/v1/tokens", headers=admin, json={"name": "runner-9", "scopes": ["submit"]})
    assert made.status_code == 201 and made.json()["token"].startswith(tokens.PREFIX)
    made_id = made.json()["id"]
    # not an admin: refused
    assert httpx.delete(f"{registry.url}/api/v1/tokens/{made_id}",
                        headers={"Authorization": f"Bearer {registry.tokens['submit']}"}).status_code == 403
    revoked = httpx.delete(f"{registry.url}/api/v1/tokens/{made_id}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked"] and revoked.json()["token"] is None
    from openaiperf.history.models import RegistryTokenRow

    with registry.service.session() as session:
        row = session.get(RegistryTokenRow, made_id)
        assert row is not None and row.created_by == row.revoked_by == registry.token_ids["admin"]


def test_reading_needs_a_read_token(registry: Registry) -> None:
    assert httpx.get(f"{registry.url}/").status_code == 401
    assert httpx.get(f"{registry.url}/api/v1/tasks").status_code == 401
    assert httpx.get(f"{registry.url}/api/v1/tasks",
                     headers={"Authorization": f"Bearer {registry.tokens['read']}"}).status_code == 200
    # a browser signs in once; the cookie carries the token from then on
    with httpx.Client(base_url=registry.url) as browser:
        assert browser.post("/login", data={"token": registry.tokens["submit"]}).status_code == 401
        assert browser.post("/login", data={"token": registry.tokens["read"]}).status_code == 303
        assert browser.get("/").status_code == 200
    # the cookie of a stronger token still only reads: a page cannot write with it
    with httpx.Client(base_url=registry.url) as browser:
        assert browser.post("/login", data={"token": registry.tokens["admin"]}).status_code == 303
        made = browser.post("/api/v1/tokens", json={"name": "x", "scopes": ["admin"]})
        assert made.status_code == 403 and "the sign-in cookie only reads" in made.json()["detail"]
    assert httpx.get(f"{registry.url}/openapi.json").json()["paths"]["/api/v1/submissions"]["post"]


def test_config_file_and_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OPENAIPERF_REGISTRY_URL", raising=False)
    monkeypatch.delenv("OPENAIPERF_TOKEN", raising=False)
    with pytest.raises(Exception, match="no registry: pass --registry URL"):
        resolve()
    assert ob(["config", "--registry-url", "http://registry.team:8765/", "--token", "obt_secretvalue1234567890"]) == 0
    path = tmp_path / ".openaiperf" / "config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {"registry": {"url": "http://registry.team:8765",
                                                             "auth_token": "obt_secretvalue1234567890"}}
    assert "obt_secretvalue" not in capsys.readouterr().out
    settings = resolve()
    assert settings.url == "http://registry.team:8765" and settings.token is not None
    assert "obt_secretvalue" not in repr(settings) and "obt_secretvalue" not in str(settings)
    monkeypatch.setenv("OPENAIPERF_REGISTRY_URL", "http://other:1")
    monkeypatch.setenv("OPENAIPERF_TOKEN", "obt_fromtheenvironment123456")
    settings = resolve()
    assert settings.url == "http://other:1" and settings.token_source == "$OPENAIPERF_TOKEN"
    assert resolve("https://given").url == "https://given"
    with pytest.raises(Exception, match="expected an http:// or https:// URL"):
        resolve("ftp://x")


def test_connection_errors_are_retried_with_backoff(tmp_path: Path) -> None:
    """Nothing listens on the port: every attempt is a connection error."""
    waits: list[float] = []
    client = RegistryClient(RegistrySettings(url=f"http://127.0.0.1:{free_port()}", token=SecretStr("obt_x" * 8)),
                            retries=3, sleep=waits.append)
    archive = tmp_path / "a.tgz"
    archive.write_bytes(b"x")
    with pytest.raises(RegistryError, match="cannot reach the registry .* gave up after 4 attempt") as caught:
        client.submit(archive, [], "")
    assert waits == [0.5, 1.0, 2.0]
    assert "obt_x" not in str(caught.value)


def test_5xx_answers_are_retried_then_the_answer_is_read(tmp_path: Path) -> None:
    """A stand-in registry (scripted: 503 twice, then the submission's answer) shows the
    client retrying server errors and sending the whole archive each time."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    seen: list[bytes] = []

    async def submissions(request: Request) -> JSONResponse:
        seen.append(await request.body())
        if len(seen) < 3:
            return JSONResponse({"detail": "busy"}, status_code=503)
        return JSONResponse({"id": 7, "run_id": 3, "run_url": "/runs/3", "duplicate": False}, status_code=201)

    url, server = serve(Starlette(routes=[Route("/api/v1/submissions", submissions, methods=["POST"])]))
    try:
        waits: list[float] = []
        client = RegistryClient(RegistrySettings(url=url, token=SecretStr("obt_" + "y" * 43)), retries=4,
                                sleep=waits.append)
        archive = tmp_path / "a.tgz"
        archive.write_bytes(b"archive bytes")
        assert client.submit(archive, ["a"], "d")["id"] == 7
        assert waits == [0.5, 1.0] and seen == [b"archive bytes"] * 3
    finally:
        server.stop()
