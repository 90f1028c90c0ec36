"""``--profile nsys`` / ``--profile ncu``: re-run the pytest session under NVIDIA
Nsight Systems or Nsight Compute.

The plugin calls :func:`wrap_session` at configure time: when the tool is on
PATH it replaces the process with ``nsys profile ... python -m pytest <same
args>`` (an environment variable marks the child, so it does not wrap itself
again); when it is not, the run stops with a usage error saying so. Inside the
wrapped run every measured round is an NVTX range named after the case, so
``nsys stats --report nvtx_sum,cuda_gpu_kern_sum <report>.nsys-rep`` gives the
kernel table per case.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from openaiperf.redact import redact_argv

WRAPPED_ENV = "OPENAIPERF_PROFILE_WRAPPED"

TOOL_HELP = {
    "nsys": "install NVIDIA Nsight Systems (part of the CUDA toolkit, or https://developer.nvidia.com/nsight-systems)",
    "ncu": "install NVIDIA Nsight Compute (part of the CUDA toolkit, or https://developer.nvidia.com/nsight-compute)",
}


class ProfilerToolMissing(RuntimeError):
    pass


def tool_path(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ProfilerToolMissing(f"--profile {tool}: {tool} not found on PATH; {TOOL_HELP[tool]}, "
                                  f"or use --profile torch")
    return path


def wrap_command(tool: str, executable: str, output: Path, argv: Sequence[str]) -> list[str]:
    """The command line that runs ``python -m pytest argv`` under ``tool``, writing ``output``."""
    inner = [sys.executable, "-m", "pytest", *argv]
    if tool == "nsys":
        return [executable, "profile", "--trace=cuda,nvtx,osrt", "--sample=none", "--force-overwrite=true",
                "--output", str(output), *inner]
    if tool == "ncu":
        # Kernels inside the case rounds only (NVTX), a bounded number of them: ncu
        # replays each kernel several times, so profiling everything would take hours.
        return [executable, "--target-processes", "all", "--nvtx", "--nvtx-include", "regex:.*/",
                "--set", "basic", "--launch-count", "200", "--force-overwrite", "--export", str(output), *inner]
    raise ValueError(f"not an Nsight tool: {tool}")


def wrap_session(tool: str, argv: Sequence[str], report_dir: Path) -> None:
    """Replace this process by the wrapped run (never returns), unless already wrapped."""
    if os.environ.get(WRAPPED_ENV) == tool:
        return
    executable = tool_path(tool)
    report_dir.mkdir(parents=True, exist_ok=True)
    output = report_dir / f"{tool}-session"
    command = wrap_command(tool, executable, output, argv)

    print(f"openaiperf: re-running under {tool}: {' '.join(redact_argv(command))}", file=sys.stderr, flush=True)
    os.environ[WRAPPED_ENV] = tool
    os.execvp(command[0], command)


class NvtxCaseProfiler:
    """Inside a wrapped run: an NVTX range per measured round, named ``<case-id>/round<N>``."""

    def __init__(self, tool: str, case_id: str) -> None:
        self.tool = tool
        self.case_id = case_id
        self.notes: list[str] = []
        self.wrapped = os.environ.get(WRAPPED_ENV) == tool

    @contextlib.contextmanager
    def round(self, round_index: int) -> Iterator[None]:
        try:
            import torch

            nvtx = torch.cuda.nvtx if torch.cuda.is_available() else None
        except ImportError:
            nvtx = None
        if nvtx is None:
            yield
            return
        nvtx.range_push(f"{self.case_id}/round{round_index}")
        try:
            yield
        finally:
            nvtx.range_pop()

    def finish(self) -> dict[str, Any]:
        ext = ".nsys-rep" if self.tool == "nsys" else ".ncu-rep"
        return {
            "tool": self.tool,
            "wrapped": self.wrapped,
            "nvtx_range": f"{self.case_id}/round<N>",
            "report": f"{self.tool}-session{ext} (in the report folder)",
            "kernel_table": (
                f"nsys stats --report cuda_gpu_kern_sum --filter-nvtx {self.case_id}/round0 <report>"
                if self.tool == "nsys"
                else "ncu --import <report> --page raw"
            ),
        }
