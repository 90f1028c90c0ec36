"""A test wrapper around the hf engine that sleeps a fraction of every decoding
step's time, to inject a known slowdown (how the regression gate is validated:
``benchmarks/scripts/gate_false_alarm.py``, ``tests/e2e``). Not registered as a
built-in engine; tests register it under the name they need."""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar, Sequence

from openaiperf.engines import EngineContext
from openaiperf.engines.hf import HFEngine
from openaiperf.records import Record, Request

ENV_VAR = "OPENAIPERF_SLOWDOWN"


class SlowedHFEngine(HFEngine):
    """:class:`HFEngine` whose every generated token takes ``1 + slowdown`` times as
    long: after each step it sleeps ``slowdown`` × that step's duration. The
    fraction comes from the engine option ``slowdown`` or ``$OPENAIPERF_SLOWDOWN``
    (default 0.15) and may be changed between rounds (``engine.slowdown = 0``)."""

    name: ClassVar[str] = "hf"

    def __init__(self, context: EngineContext) -> None:
        options = dict(context.options)
        self.slowdown = float(options.pop("slowdown", os.environ.get(ENV_VAR, 0.15)))
        super().__init__(EngineContext(**{**context.__dict__, "options": options}))

    def _generate(self, requests: Sequence[Request], records: Sequence[Record], on_step=None) -> list[list[int]]:
        last = [time.perf_counter()]

        def slow_step(now: float, value: Any) -> None:
            if on_step is not None:
                on_step(now, value)
            if self.slowdown > 0:
                time.sleep(self.slowdown * (now - last[0]))
            last[0] = time.perf_counter()

        return super()._generate(requests, records, on_step=slow_step)

    def info(self) -> dict[str, Any]:
        return super().info() | {"injected_slowdown": self.slowdown}
