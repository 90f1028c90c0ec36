"""A deterministic test engine for plugin tests (not a real model: it exists so
pytester runs of the plugin take milliseconds). Token times are synthetic:
TTFT and TPOT with a small seeded jitter, scaled by ``1 + $FAKE_SLOWDOWN``; the
jitter's seed comes from ``$FAKE_SEED`` so two "runs" differ like real noise, and
its size from ``$FAKE_JITTER`` (relative standard deviation per token, default 0.02).
``$FAKE_SLOW_ROUNDS`` (measured rounds, 0-based, comma-separated) slows only those
rounds: one round a hiccup inflated. The engine options ``slowdown`` and ``seed`` do the
same for one engine (the B side of an interleaved A/B: ``--ab-engine-option fake:slowdown=0.1``)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from openaiperf.testing.answers import fill_answer

TTFT_S = 0.020
TPOT_S = 0.005
TOKENS = 12
JITTER = 0.02


class FakeEngine:
    name: ClassVar[str] = "fake"
    concurrent: ClassVar[bool] = True

    def __init__(self, context: Any) -> None:
        self.context = context
        self.calls = 0

    def prepare(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def info(self) -> dict[str, Any]:
        return {"engine": self.name, "deterministic": True}

    def _fill(self, index: int, record: Any) -> None:
        slowed = os.environ.get("FAKE_SLOW_ROUNDS")  # only these measured rounds (0-based): a hiccup
        slow = slowed is None or (not record.warmup and str(record.round) in slowed.split(","))
        slowdown = 1.0 + (float(os.environ.get("FAKE_SLOWDOWN", "0")) if slow else 0.0)
        slowdown *= 1.0 + float(self.context.options.get("slowdown", 0.0))
        seed = int(self.context.options.get("seed", os.environ.get("FAKE_SEED", "0")))
        rng = np.random.default_rng([seed, self.calls, index])
        jitter = float(os.environ.get("FAKE_JITTER", JITTER))
        # Sent when scheduled: every time is synthetic, none depends on how busy the machine is.
        sent = record.scheduled or time.perf_counter()
        times = [sent + TTFT_S * slowdown * (1 + jitter * rng.standard_normal())]
        for _ in range(TOKENS - 1):
            times.append(times[-1] + TPOT_S * slowdown * max(0.05, 1 + jitter * rng.standard_normal()))
        fill_answer(record, times, sent=sent, input_tokens=30, text="the cat sat on the mat")

    def run(self, requests: Sequence[Any], records: Sequence[Any], on_done: Any) -> None:
        self.calls += 1
        for index, record in enumerate(records):
            self._fill(index, record)
            on_done(record)

    async def stream(self, request: Any, record: Any) -> None:
        self.calls += 1
        self._fill(0, record)
