"""What each request's body carries beyond the prompt: the task file's ``input_profile.request_body``
(every request, as it is) and a thinking budget per sample (``input_profile.thinking_budget``).

A reasoning model thinks for as long as it is let: a dataset whose samples need different
depths of thought (an easy and a hard question) gives each its own budget in a column, sent
where the server reads it (``field``: ``max_thinking_tokens``, vLLM's ``thinking_token_budget``,
a chat template's ``chat_template_kwargs.thinking_budget``). The task's ``request_body`` is the
default: a sample without a value is sent it unchanged, and a budget under a nested object
(``chat_template_kwargs``) keeps the object's other keys (``enable_thinking``).

A value must be a whole count of tokens >= 0 (``256``, ``"256"`` from a CSV); anything else is
refused when the samples are loaded (and, for a local file, when the suite is collected), naming
the file, the column and the sample.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

from openaiperf.errors import ConfigError
from openaiperf.records import Request, Workload, is_sessions
from openaiperf.tasks import Sample, ThinkingBudgetSpec

ACCEPTED = "a whole count of tokens >= 0 (e.g. 256), or empty for the task's default"


def budget_value(value: Any, *, source: str, column: str, sample: str) -> int | None:
    """The budget ``value`` (from the dataset) as a count; None for no value (empty, null)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    count: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif isinstance(value, float) and value.is_integer():
        count = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        count = int(value.strip())
    if count is None or count < 0:
        raise ConfigError(f"sample {sample!r} has thinking budget {value!r}; expected {ACCEPTED}",
                          source=source, field=f"column {column!r} (input_profile.thinking_budget.column)")
    return count


def check_budget_rows(rows: Sequence[dict[str, Any]], spec: ThinkingBudgetSpec, *, source: str,
                      id_field: str = "id") -> None:
    """Every row's budget is a count or empty (rows as read from the file)."""
    for number, row in enumerate(rows, 1):
        budget_value(row.get(spec.column), source=source, column=spec.column,
                     sample=str(row.get(id_field, f"row {number}")))


def with_field(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at the dotted ``path`` (nested objects made or kept)."""
    out = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = out
    for name in parents:
        child = node.get(name)
        if not isinstance(child, dict):
            child = node[name] = {}
        node = child
    node[last] = value
    return out


def request_bodies(requests: Workload, samples: Sequence[Sample], request_body: dict[str, Any],
                   budget: ThinkingBudgetSpec | None, *, source: str) -> Workload:
    """The requests with their bodies: ``request_body`` for every one, the sample's budget (when
    ``budget`` names a column and the sample has a value) at ``budget.field`` over it. Sessions
    carry no body of their own (a multi-turn task's turns): refused, naming the field."""
    if not request_body and budget is None:
        return requests
    if is_sessions(requests):
        raise ConfigError("a multi-turn task's sessions carry no request body of their own; drop it for this task",
                          source=source,
                          field="input_profile.thinking_budget" if budget else "input_profile.request_body")
    by_id = {sample.id: sample for sample in samples}
    out: list[Request] = []
    for request in requests:
        body = {**(request.body or {}), **request_body}
        sample = by_id.get(request.sample_id)
        if budget is not None and sample is not None:
            value = budget_value(sample.fields.get(budget.column), source=source, column=budget.column,
                                 sample=sample.id)
            if value is not None:
                body = with_field(body, budget.field, value)
        out.append(dataclasses.replace(request, body=body))
    return out
