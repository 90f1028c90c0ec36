"""LoRA traffic against the scripted server: requests spread over adapters by weight
(each naming its adapter as the model), and latency reported per adapter recovers
each adapter's scripted TTFT."""

from __future__ import annotations

import pytest

from openaiperf.errors import ConfigError
from openaiperf.records import Request
from openaiperf.scenarios import create_scenario, scenario_config
from openaiperf.scenarios.server import parse_lora_split
from openaiperf.testing.scripted_server import Script, start_scripted_server
from tests.conformance.test_engine_conformance import engine
from tests.conformance.truth import close_start

SCRIPT = {"tokens": 4, "ttft_ms": 20.0, "gap_ms": 2.0, "adapter_ttft_ms": "sql=30,chat=80"}


@pytest.fixture(scope="module")
def server():
    with start_scripted_server(Script()) as handle:
        yield handle


def test_each_adapter_gets_its_share_and_its_own_latency(server):
    server.reset()
    requests = [Request(id=f"q{i}", sample_id=f"s{i}", max_tokens=8, messages=[{"role": "user", "content": f"{i}"}])
                for i in range(20)]
    s = create_scenario("server", scenario_config(
        {"warmup_requests": 0, "qps_target": 20.0, "min_queries": 200, "latency_sla": "100000,100000",
         "lora_split": "sql:3,chat:1"}, source="test"))
    e = engine(server, SCRIPT)
    try:
        run = s.run(e, requests, lambda r: None)
    finally:
        e.teardown()
    table = run.settings["adapters"]
    assert table["sql"]["requests"] + table["chat"]["requests"] == 200
    # a binomial share of 200 draws: 0.75 within 3 standard errors (0.031)
    assert table["sql"]["share"] == pytest.approx(0.75, abs=0.093)
    received = [r["model"] for r in server.stats()["received"]]
    assert set(received) <= {"sql", "chat", "stub"} and received.count("sql") >= table["sql"]["requests"]
    assert close_start(table["sql"]["ttft_p50_ms"], 0.030), table["sql"]
    assert close_start(table["chat"]["ttft_p50_ms"], 0.080), table["chat"]


@pytest.mark.parametrize("text", ["", "a:0", "a:x", "a:1,a:2", ":1"])
def test_a_bad_split_is_refused_naming_the_option(text):
    with pytest.raises(ConfigError, match="--lora-split"):
        parse_lora_split(text)
