"""Command-line overrides of a case's engine and scenario options.

The matrix gives each case its ``engine_options`` and ``scenario_options``; the
online-scenario and engine options of the command line (``--qps-target``,
``--stream-count``, ``--endpoint``, ``--engine-option [ENGINE:]KEY=VALUE`` ...)
override them here, before the cases run, so they reach the engine's context
and the scenario's :class:`~openaiperf.scenarios.ScenarioConfig.options`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import yaml

from openaiperf.errors import ConfigError
from openaiperf.matrix import Case

ONLINE = ("server", "interactive")
#: option dest -> (scenario option key, scenarios it applies to; None: all)
SCENARIO_FLAGS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "stream_count": ("stream_count", ("multi_stream",)),
    "qps_target": ("qps_target", ONLINE),
    "burstiness": ("burstiness", ONLINE),
    "arrival_seed": ("seed", ONLINE),
    "latency_sla": ("latency_sla", ONLINE),
    "find_peak": ("find_peak", ONLINE),
    "min_duration": ("min_duration_s", None),
    "min_queries": ("min_queries", None),
}


def parse_engine_option(text: str) -> tuple[str | None, str, Any]:
    """``[ENGINE:]KEY=VALUE`` -> (engine or None for every engine, key, value);
    the value is read as YAML, so numbers and booleans keep their type."""
    head, sep, raw = text.partition("=")
    engine, colon, key = head.rpartition(":")
    if not sep or not key.strip():
        raise ConfigError(f"expected [ENGINE:]KEY=VALUE (e.g. vllm:max_model_len=1024), got {text!r}",
                          source="--engine-option")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return (engine.strip() or None) if colon else None, key.strip(), value


def apply_cli_options(cases: Sequence[Case], option: Callable[[str], Any]) -> list[Case]:
    """Cases with the command line's engine and scenario options applied."""
    engine_overrides = [parse_engine_option(text) for text in option("engine_option") or ()]
    endpoint, key_env = option("endpoint"), option("api_key_env")
    out = []
    for case in cases:
        engine_options = dict(case.engine_options)
        for engine, key, value in engine_overrides:
            if engine is None or engine == case.engine:
                engine_options[key] = value
        if case.engine == "openai":
            if endpoint:
                engine_options["endpoint"] = endpoint
            if key_env:
                engine_options["api_key_env"] = key_env
        scenario_options = dict(case.scenario_options)
        for dest, (key, scenarios) in SCENARIO_FLAGS.items():
            value = option(dest)
            if value is None or value is False or (scenarios is not None and case.scenario not in scenarios):
                continue
            scenario_options[key] = value
        out.append(replace(case, engine_options=engine_options, scenario_options=scenario_options))
    return out
