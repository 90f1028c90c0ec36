"""Running one case: warmup, measured rounds, metrics, gates.

The pytest layer (plugin, fixtures, ``benchmarks/``) only wires things together;
everything a case does lives here so that it can be called without pytest too.

The parts, one role each: :mod:`~openaiperf.runner.settings` (the run's settings),
:mod:`~openaiperf.runner.skip` (why a case cannot run here),
:mod:`~openaiperf.runner.state` (what a case holds), :mod:`~openaiperf.runner.rounds`
(one measured pass), :mod:`~openaiperf.runner.stall_retry` (measuring a stalled round
again), :mod:`~openaiperf.runner.assembly` (metrics and energy into the result),
:mod:`~openaiperf.runner.invariance` (batch invariance), :mod:`~openaiperf.runner.gates`
(pass, fail, validity) and :mod:`~openaiperf.runner.phases` (the runner itself).
"""

from __future__ import annotations

from openaiperf.result import CaseResult
from openaiperf.runner.phases import CaseRunner
from openaiperf.runner.rounds import collector_held_still, rounds_of
from openaiperf.runner.settings import RunSettings, new_salt
from openaiperf.runner.skip import case_skip_reason
from openaiperf.runner.state import round_tag

__all__ = ["CaseResult", "CaseRunner", "RunSettings", "case_skip_reason", "collector_held_still", "new_salt",
           "round_tag", "rounds_of"]
