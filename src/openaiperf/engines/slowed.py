"""A test wrapper around the hf engine that sleeps a fraction of every decoding
step's time, to inject a known per-token slowdown (how the regression gate is
validated: ``benchmarks/scripts/gate_false_alarm.py``, ``tests/e2e``). Not a
built-in engine: it replaces ``hf`` in a run that loads this module as a pytest
plugin (``pytest -p openaiperf.engines.slowed ...``), so case ids and the
configuration a baseline checks stay those of ``hf``."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from openaiperf.engines import EngineContext
from openaiperf.engines.hf import HFEngine, HFOptions
from openaiperf.records import Record, Request

ENV_VAR = "OPENAIPERF_SLOWDOWN"


class SlowedHFEngine(HFEngine):
    """:class:`HFEngine` whose every generated token after the first takes
    ``1 + slowdown`` times as long: after each decoding step it sleeps ``slowdown``
    × that step's duration. The prefill (first token) is not slowed, so TTFT stays
    and TPOT/ITL grow by the fraction: a *per-token* slowdown. The fraction comes
    from the engine option ``slowdown`` or ``$OPENAIPERF_SLOWDOWN`` (default 0.15)
    and may be changed between rounds (``engine.slowdown = 0``)."""

    name: ClassVar[str] = "hf"

    class Options(HFOptions):
        #: the per-token slowdown fraction (default: $OPENAIPERF_SLOWDOWN, else 0.15)
        slowdown: float | None = Field(default=None, ge=0)

    def __init__(self, context: EngineContext) -> None:
        options = dict(context.options)
        given = options.pop("slowdown", None)
        self.slowdown = float(given if given is not None else os.environ.get(ENV_VAR, "0.15"))
        super().__init__(EngineContext(**{**context.__dict__, "options": options}))

    def _generate(self, requests: Sequence[Request], records: Sequence[Record], on_step=None) -> list[list[int]]:
        last: list[float | None] = [None]

        def slow_step(now: float, value: Any) -> None:
            if on_step is not None:
                on_step(now, value)
            # The first step is the prefill: it sets the clock and is not slowed.
            if self.slowdown > 0 and last[0] is not None:
                time.sleep(self.slowdown * (now - last[0]))
            last[0] = time.perf_counter()

        return super()._generate(requests, records, on_step=slow_step)

    def info(self) -> dict[str, Any]:
        return super().info() | {"injected_slowdown": self.slowdown}


def pytest_configure(config: Any) -> None:
    """As a pytest plugin (``-p openaiperf.engines.slowed``): serve ``hf`` cases
    with :class:`SlowedHFEngine` (the fraction from ``$OPENAIPERF_SLOWDOWN``)."""
    from openaiperf.engines import engines

    engines.register("hf", SlowedHFEngine, replace=True)
