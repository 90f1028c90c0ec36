"""The registry service on loopback for the tests: a real uvicorn server in a thread on
127.0.0.1 over a history store (SQLite in the test's folder, or the real PostgreSQL the
history tests start), with tokens of each scope; and run archives made the way users
make them: a run folder from :mod:`fixtures.results`, packed by ``ob pack``."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fixtures import pgserver
from fixtures.results import SYSTEM, full_run, measured_case
from openaiperf.cli import main as ob
from openaiperf.history.store import HistoryStore
from openaiperf.registry_service.service import RegistryService
from openaiperf.report.results import write_results
from openaiperf.result import RunResult

#: why the service cannot run here (its extra is missing), for the test modules' skip
MISSING_EXTRA = next((f"{name} is not installed (pip install 'openaiperf[registry]')" for name in
                      ("fastapi", "uvicorn", "httpx", "multipart") if importlib.util.find_spec(name) is None), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Registry:
    url: str
    service: RegistryService
    tokens: dict[str, str] = field(default_factory=dict)  # scope (or "revoked") -> token
    token_ids: dict[str, int] = field(default_factory=dict)


@dataclass
class LoopbackServer:
    server: Any  # uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def serve(service: RegistryService | Any, *, public_read: bool = False) -> tuple[str, LoopbackServer]:
    """The service's app (or any ASGI app) on a free loopback port."""
    import uvicorn

    from openaiperf.registry_service.app import create_app

    port = free_port()
    app = create_app(service, public_read=public_read) if isinstance(service, RegistryService) else service
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="registry-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the registry test server did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", LoopbackServer(server, thread)


def start_registry(store_url: str, data_dir: Path, *, max_archive_bytes: int = 8 << 20,
                   public_read: bool = False) -> tuple[Registry, LoopbackServer, HistoryStore]:
    store = HistoryStore(store_url).open()
    service = RegistryService(store, data_dir, max_archive_bytes=max_archive_bytes)
    url, server = serve(service, public_read=public_read)
    registry = Registry(url=url, service=service)
    for scopes in ("read", "submit", "publish", "admin", "read,submit"):
        info, token = service.create_token(f"test {scopes}", scopes.split(","), None)
        registry.tokens[scopes], registry.token_ids[scopes] = token, info.id
    info, token = service.create_token("revoked submitter", ["submit", "read"], None)
    service.revoke_token(info.id, None)
    registry.tokens["revoked"], registry.token_ids["revoked"] = token, info.id
    return registry, server, store


@pytest.fixture(scope="session")
def postgres() -> Iterator[pgserver.PostgresServer]:
    reason = pgserver.missing_reason()
    if reason:
        pytest.skip(reason)
    server = pgserver.start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """The service over SQLite, tokens of every scope, on loopback."""
    registry, server, store = start_registry(f"sqlite:///{tmp_path / 'history.sqlite'}", tmp_path / "data")
    try:
        yield registry
    finally:
        server.stop()
        store.close()


def make_run(root: Path, name: str, created: str, *, ttft_ms: float = 20.0, full: bool = False,
             commit: str = "0123456789abcdef0123456789abcdef01234567") -> Path:
    """A run folder ``root/name`` with results.json, records and run-meta.json."""
    import json

    run_dir = root / name
    run_dir.mkdir(parents=True)
    if full:
        run = full_run(run_dir)
        run.created = created
    else:
        cases = [measured_case(run_dir, "summarization.xsum-offline-hf-m", ttft_ms=ttft_ms, rounds=2),
                 measured_case(run_dir, "summarization.xsum-offline-vllm-m", ttft_ms=ttft_ms / 2, rounds=2)]
        run = RunResult(created=created, system=SYSTEM, config={"hardware_profile": {"name": "cpu",
                                                                                      "device": "cpu"}},
                        cases=cases)
    write_results(run_dir / "results.json", run)
    (run_dir / "run-meta.json").write_text(json.dumps({"git_commit": commit, "git_branch": "main",
                                                       "host": "runner-1"}))
    return run_dir


def pack(run_dir: Path, output: Path) -> Path:
    assert ob(["pack", "--run", str(run_dir), "--output", str(output)]) == 0
    return output
