"""A throwaway PostgreSQL server on loopback for the history tests: ``initdb`` into a
temporary folder, ``pg_ctl start`` on a free port with password authentication over
TCP, one database; stopped and deleted afterwards.

Uses the binaries of Debian's ``postgresql`` package (``/usr/lib/postgresql/<v>/bin``,
installed by ``scripts/install.sh`` where apt-get can be used) or ``initdb``/``pg_ctl``
on PATH. ``initdb`` refuses to run as root: as root the server runs as the
``postgres`` user (or ``nobody``). :func:`missing_reason` says why no server can be
started here, for the skip.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER = "openaiperf"
PASSWORD = "history-test-pw"
DATABASE = "openaiperf"


def bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def run_as() -> str | None:
    """The unprivileged user to run the server as when we are root (None: ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


def missing_reason() -> str | None:
    if bin_dir() is None:
        return ("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql package "
                "(scripts/install.sh does where apt-get can be used)")
    if os.geteuid() == 0 and run_as() is None:
        return "running as root and no unprivileged user (postgres, nobody) to run initdb as"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root and runuser is missing, so initdb cannot run as an unprivileged user"
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed (pip install 'openaiperf[postgres]')"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    root: Path
    port: int
    user: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = DATABASE, *, password: bool = True) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str) -> str:
        """A fresh empty database on the server; its URL (with the password)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, cwd=self.root,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
        return done

    def start(self) -> None:
        binaries = bin_dir()
        assert binaries is not None
        password_file = self.root / "pw"
        password_file.write_text(PASSWORD + "\n")
        (self.root / "sock").mkdir()
        if self.user:
            uid = pwd.getpwnam(self.user).pw_uid
            for path in (self.root, password_file, self.root / "sock"):
                os.chown(path, uid, -1)
        self._run(str(binaries / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={password_file}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        options = (f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=20 -c shared_buffers=16MB")
        self._run(str(binaries / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")
        self._run(str(binaries / "createdb"), "-h", str(self.root / "sock"), "-p", str(self.port), "-U", USER,
                  DATABASE)

    def stop(self) -> None:
        binaries = bin_dir()
        try:
            if binaries is not None and (self.data / "postmaster.pid").exists():
                self._run(str(binaries / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        try:
            return (self.root / "log").read_text(errors="replace")
        except OSError:
            return ""


def start_server() -> PostgresServer:
    root = Path(tempfile.mkdtemp(prefix="openaiperf-pg-"))
    server = PostgresServer(root=root, port=free_port(), user=run_as())
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    return server
