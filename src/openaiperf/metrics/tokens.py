"""Token counts: the engine's (server ``usage``) against the client tokenizer's.

The engine's count is the one metrics use; when the client's tokenizer counts
the same output text differently, the report says by how much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from openaiperf.metrics import Metric, MetricSet
from openaiperf.records import Record


@dataclass
class TokenMismatch:
    metrics: MetricSet
    note: str | None


def token_count_mismatch(records: Sequence[Record]) -> TokenMismatch | None:
    """None when no record has a client count; else totals and a note if they differ."""
    pairs = [(r.output_tokens or 0, r.client_output_tokens) for r in records
             if r.ok and r.client_output_tokens is not None]
    if not pairs:
        return None
    engine = sum(e for e, _ in pairs)
    client = sum(c for _, c in pairs)
    differing = sum(1 for e, c in pairs if e != c)
    relative = (client - engine) / engine if engine else None
    metrics = {
        "client_output_tokens": Metric(float(client), "tokens", "none"),
        "token_count_mismatch": Metric(relative, "fraction", "none"),
    }
    note = None
    if differing:
        note = (f"token counts: the engine (server usage) counted {engine} output tokens, the client tokenizer "
                f"{client} ({relative:+.1%}); {differing} of {len(pairs)} requests differ. Metrics use the engine's.")
    return TokenMismatch(metrics, note)
