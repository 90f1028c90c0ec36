"""A run's settings that every case reads (from the command line or ``ob run``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from openaiperf.monitor.stalls import STALL_LIMIT_MS, STALL_RETRIES


def new_salt() -> str:
    """A run's salt: 8 random hex digits (``--salt`` gives one to reproduce a run's prompts)."""
    import secrets

    return secrets.token_hex(4)


@dataclass
class RunSettings:
    max_samples: int | None = None
    repeats: int = 1
    subset_seed: int | None = None
    warmup_samples: int | None = None
    max_error_rate: float = 0.0
    monitor_interval_s: float = 0.1
    monitor: bool = True
    profile: str | None = None  # torch | nsys | ncu (nsys/ncu wrap the whole run)
    #: a round whose client stalled this long (ms; and a tenth of its latencies) is measured again (None: never)
    stall_limit_ms: float | None = STALL_LIMIT_MS
    #: how many times a round is measured again at most
    stall_retries: int = STALL_RETRIES
    #: the run's salt: every prompt's salt derives from it, the case, the round and the attempt
    salt: str = field(default_factory=new_salt)
    #: a cold workload (no sharing declared) whose server-side prefix-cache hit rate exceeds this is INVALID
    max_cold_hit_rate: float = 0.05
