"""``interactive``: the server scenario with streaming and the tighter SLA of
MLPerf's interactive variant (p99 TTFT 450 ms, p99 TPOT 40 ms), unless
``--latency-sla`` says otherwise. The task's ``sla`` defaults (written for the
server scenario) do not apply here."""

from __future__ import annotations

from typing import ClassVar

from openaiperf.loadgen.slo import INTERACTIVE_SLA, SLA
from openaiperf.scenarios.server import ServerScenario


class InteractiveScenario(ServerScenario):
    name: ClassVar[str] = "interactive"
    default_sla: ClassVar[SLA] = INTERACTIVE_SLA
