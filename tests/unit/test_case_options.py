from __future__ import annotations

import pytest

from openaiperf.case_options import apply_cli_options
from openaiperf.errors import ConfigError
from openaiperf.matrix import Case
from openaiperf.options import parse_engine_option
from openaiperf.records import Request
from openaiperf.scenarios import ScenarioConfig
from openaiperf.scenarios.multi_stream import MultiStreamScenario
from openaiperf.scenarios.online import with_warmup
from openaiperf.scenarios.server import ServerScenario


def test_engine_option_parsing():
    assert parse_engine_option("vllm:max_model_len=1024") == ("vllm", "max_model_len", 1024)
    assert parse_engine_option("enforce_eager=true") == (None, "enforce_eager", True)
    with pytest.raises(ConfigError, match="--engine-option"):
        parse_engine_option("no-equals-sign")


def test_cli_overrides_reach_the_right_cases():
    values = {"endpoint": "http://h:1",
              "api_key_env": "MY_KEY", "stream_count": 8, "qps_target": 3.5, "burstiness": None,
              "arrival_seed": None, "latency_sla": "100,10", "find_peak": False, "min_duration": 5.0,
              "min_queries": None}
    cases = [Case("t", "server", "openai", "m", scenario_options={"qps_target": 2}),
             Case("t", "multi_stream", "vllm", "m")]
    server, multi = apply_cli_options(cases, values.get, ["vllm:dtype=float16", "kv_cache_dtype=auto"])
    assert server.engine_options == {"kv_cache_dtype": "auto", "endpoint": "http://h:1", "api_key_env": "MY_KEY"}
    assert server.scenario_options == {"qps_target": 3.5, "latency_sla": "100,10", "min_duration_s": 5.0}
    assert multi.engine_options == {"dtype": "float16", "kv_cache_dtype": "auto"}
    assert multi.scenario_options == {"stream_count": 8, "min_duration_s": 5.0}


@pytest.mark.parametrize("cls,options,flag", [(MultiStreamScenario, {"stream_count": 0}, "--stream-count"),
                                              (MultiStreamScenario, {"stream_count": "x"}, "--stream-count"),
                                              (ServerScenario, {"qps_target": -1}, "--qps-target"),
                                              (ServerScenario, {"latency_sla": "1"}, "--latency-sla")])
def test_bad_scenario_options_name_the_option(cls, options, flag):
    with pytest.raises(ConfigError, match=flag):
        cls(ScenarioConfig(options=options))


def test_warmup_requests_come_first_and_minimum_queries_are_met():
    reqs = [Request(id=f"r{i}", sample_id=f"s{i}", max_tokens=1, prompt="p") for i in range(3)]
    out = with_warmup(reqs, 2, min_queries=7)
    assert len(out) == 9 and [r.sample_id for r in out[:2]] == ["s0", "s1"]
    assert len({r.id for r in out}) == 9  # ids stay unique
    assert [r.sample_id for r in out[2:]] == ["s0", "s1", "s2", "s0", "s1", "s2", "s0"]
