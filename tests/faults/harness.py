"""What every fault test does: run the suite (or an ``ob`` command) in a subprocess
against the scripted server on loopback, inject the fault, then check the exit code,
the message, what is on disk, and that no process of the run is left and no canary
secret appears in anything the run wrote or printed.

Every run is given the same canaries: an API key in ``$OB_FAULT_API_KEY``
(``--api-key-env``) and ``user:password`` credentials in the ``--endpoint`` URL. They
have no well-known key shape, so only the typed path (never a plain string a traceback
could show) keeps them out; the basic-auth header's base64 form is a canary too. Runs
show their locals in tracebacks (``--showlocals``, long tracebacks): the worst case.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
KEY_ENV = "OB_FAULT_API_KEY"
API_KEY = "qz7canaryApiKey4410"
USER = "canaryuser"
PASSWORD = "pw9canaryPass3318"
CANARIES = (API_KEY, PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
#: the marker each run's processes inherit, to find any left behind
MARKER_ENV = "OB_FAULT_RUN"

MODELS = """
stub:
  source: {tokenizer}
  parameters: 1000000
  dtype: float32
  chat: true
"""

MATRIX = """
suites:
  - tasks: [summarization.xsum]
    scenarios: [offline]
    engines: [openai]
    models: [stub]
"""


def with_credentials(url: str) -> str:
    """``http://host:port`` -> ``http://USER:PASSWORD@host:port/v1``."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{USER}:{PASSWORD}@{rest}/v1"


@dataclass
class Run:
    """A finished run: its exit code, what it printed, and its folder."""

    returncode: int
    output: str
    folder: Path
    marker: str

    def run_dirs(self, report_dir: str = "out") -> list[Path]:
        root = self.folder / report_dir
        return sorted(p for p in root.iterdir() if p.is_dir() and (p / "results.json").exists()) \
            if root.is_dir() else []

    def results(self, report_dir: str = "out") -> dict:
        (run_dir,) = self.run_dirs(report_dir)
        return json.loads((run_dir / "results.json").read_text())

    def case(self, report_dir: str = "out") -> dict:
        (case,) = self.results(report_dir)["cases"]
        return case

    def records(self, report_dir: str = "out") -> list[dict]:
        (run_dir,) = self.run_dirs(report_dir)
        case = self.case(report_dir)
        path = run_dir / case["records_file"]
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def assert_clean(self, *inputs: Path) -> None:
        """No process of this run left, no canary in its folder or output (``inputs``: files the
        test wrote with the canaries in them on purpose, left out of the search)."""
        assert left_processes(self.marker) == []
        assert_no_canary(self.output, [self.folder], skip=inputs)


def project(folder: Path, tokenizer: Path, matrix: str = MATRIX) -> Path:
    (folder / "models.yaml").write_text(MODELS.format(tokenizer=tokenizer))
    (folder / "matrix.yaml").write_text(matrix)
    return folder


def environment(folder: Path, marker: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), KEY_ENV: API_KEY, MARKER_ENV: marker,
           "OPENAIPERF_HISTORY": f"sqlite:///{folder / 'history.sqlite'}", "COLUMNS": "200"}
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                 "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)
    return env | extra


def bench_argv(endpoint: str | None, *args: str, report_dir: str = "out", outputs: str | None = None) -> list[str]:
    """The suite's command line with every report turned on (JUnit, Allure and the benchmark
    JSON in ``outputs``, default the report folder) and the canaries given."""
    outputs = outputs or report_dir
    argv = [sys.executable, "-m", "pytest", "--matrix", "matrix.yaml", "--hw", "cpu", "--model-file", "models.yaml",
            "--report-dir", report_dir, "--no-monitor", "-p", "no:cacheprovider", "--max-samples", "4",
            "--warmup-samples", "0", "--api-key-env", KEY_ENV, "--junitxml", f"{outputs}/junit.xml",
            "--alluredir", f"{outputs}/allure", "--benchmark-json", f"{outputs}/bench.json",
            "--showlocals", "--tb=long", "-rA"]
    if endpoint is not None:
        argv += ["--endpoint", endpoint]
    return argv + list(args)


def run(folder: Path, argv: Sequence[str], *, timeout_s: float = 120, env: dict[str, str] | None = None) -> Run:
    marker = uuid.uuid4().hex
    done = subprocess.run(list(argv), cwd=folder, env=environment(folder, marker) | (env or {}),
                          capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    return Run(done.returncode, done.stdout + done.stderr, folder, marker)


def interrupted(folder: Path, argv: Sequence[str], ready: Callable[[], bool], *, timeout_s: float = 120) -> Run:
    """Start a run, and press Ctrl-C (SIGINT) once ``ready()`` says the fault is in place."""
    marker = uuid.uuid4().hex
    process = subprocess.Popen(list(argv), cwd=folder, env=environment(folder, marker), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert process.poll() is None, f"the run ended before the interrupt: {process.communicate()[0]}"
        assert time.monotonic() < deadline, "the run never got ready to be interrupted"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=timeout_s)
    return Run(process.returncode, output, folder, marker)


def ob(folder: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 120) -> Run:
    return run(folder, [sys.executable, "-m", "openaiperf.cli", *args], env=env, timeout_s=timeout_s)


def left_processes(marker: str) -> list[str]:
    """Processes still running that a run with ``marker`` started (they inherit its environment)."""
    left = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if process.pid != os.getpid() and process.environ().get(MARKER_ENV) == marker:
                left.append(f"{process.pid}: {' '.join(process.info['cmdline'] or [])}")
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return left


def readable_bytes(path: Path) -> Iterable[tuple[str, bytes]]:
    """A file's bytes, and each member's of an archive (``ob pack``)."""
    data = path.read_bytes()
    yield str(path), data
    if path.name.endswith((".tgz", ".tar.gz", ".tar")):
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive.getmembers():
                handle = archive.extractfile(member)
                if handle is not None:
                    yield f"{path}:{member.name}", handle.read()


def assert_no_canary(output: str, roots: Iterable[Path], skip: Iterable[Path] = ()) -> None:
    found = [f"terminal output: {c}" for c in CANARIES if c in output]
    skipped = {p.resolve() for p in skip}
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            if path.resolve() in skipped:
                continue
            for name, data in readable_bytes(path):
                found += [f"{name}: {c}" for c in CANARIES if c.encode() in data]
    assert found == [], found
