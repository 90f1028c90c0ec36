"""Profiling a case: a PyTorch profiler trace, or the whole run under Nsight.

``--profile torch`` runs each case's first measured round under the PyTorch
profiler (:mod:`.torch_profiler`): a Chrome trace JSON and a top-ops/kernels table
per case. ``--profile nsys`` / ``--profile ncu`` re-run the whole pytest session
under Nsight Systems / Nsight Compute (:mod:`.nsight`), with an NVTX range per
case round so that the report can be cut by case.

A case profiler implements :class:`CaseProfiler`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from openaiperf.errors import ConfigError
from openaiperf.profiling.nsight import NvtxCaseProfiler
from openaiperf.profiling.torch_profiler import TorchCaseProfiler

if TYPE_CHECKING:
    from openaiperf.result import CaseResult

PROFILE_MODES = ("torch", "nsys", "ncu")


class CaseProfiler(Protocol):
    notes: list[str]

    def round(self, round_index: int) -> AbstractContextManager[None]:
        """Wraps one measured round."""

    def finish(self) -> dict[str, Any]:
        """What goes into the case result's ``profile`` (files, top-ops table)."""


class NoProfiler:
    notes: list[str] = []

    def round(self, round_index: int) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def finish(self) -> dict[str, Any]:
        return {}


def create_case_profiler(mode: str | None, case_id: str, run_dir: Path) -> CaseProfiler:
    if not mode:
        return NoProfiler()
    if mode == "torch":
        return TorchCaseProfiler(case_id, run_dir)
    if mode in ("nsys", "ncu"):
        return NvtxCaseProfiler(mode, case_id)

    raise ConfigError(f"unknown profile mode {mode!r}; expected one of {', '.join(PROFILE_MODES)}",
                      source="--profile")


def render_top_ops(results: Sequence[CaseResult], limit: int = 5) -> str:
    """The top ops/kernels of each profiled case, for the terminal summary."""
    lines = []
    for result in results:
        profile = result.profile
        if profile is None or not profile.top_ops:
            continue
        key = profile.sorted_by or "self_cpu_ms"
        lines.append(f"top ops of {result.id} (by {key}; trace: {profile.trace_file}):")
        for op in profile.top_ops[:limit]:
            lines.append(f"  {getattr(op, key):10.2f} ms  {op.calls:6d} calls  {op.name}")
    return "\n".join(lines)
