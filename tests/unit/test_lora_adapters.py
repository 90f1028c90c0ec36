"""Random LoRA adapters built from a base model's shapes (openaiperf.models.lora) and the
managed vLLM server's LoRA flags."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from safetensors.numpy import load_file, save_file

from openaiperf.engines import EngineContext
from openaiperf.engines.managed_server import server_command
from openaiperf.engines.openai import OpenAIEngine, OpenAIOptions
from openaiperf.errors import ConfigError
from openaiperf.models import get_model
from openaiperf.models.architecture import write_config_dir
from openaiperf.models.lora import LoraAdapterSpec, base_projections, build_adapter, build_adapters, lora_rank_bound


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAIPERF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def tiny_base(tmp_path):
    """A config-only folder (a random-weights model): 4 layers, hidden 256, 4 heads, 1 KV head, MLP 896."""
    spec = get_model("tiny-llama")
    assert spec.architecture is not None
    return write_config_dir(tmp_path / "tiny-llama", spec.architecture, "float32")


def test_an_adapter_is_written_in_peft_format_with_the_base_shapes(cache, tiny_base):
    spec = LoraAdapterSpec(name="a1", rank=4, target_modules=["q_proj", "v_proj", "down_proj"])
    folder = build_adapter(spec, tiny_base, base_name="tiny-llama")
    assert folder.is_relative_to(cache / "lora")
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4 and config["lora_alpha"] == 8.0
    assert config["target_modules"] == ["q_proj", "v_proj", "down_proj"]
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    assert len(tensors) == 4 * 3 * 2  # layers × targets × (A, B)
    q = "base_model.model.model.layers.3.self_attn.q_proj"
    v = "base_model.model.model.layers.0.self_attn.v_proj"
    down = "base_model.model.model.layers.2.mlp.down_proj"
    assert tensors[f"{q}.lora_A.weight"].shape == (4, 256) and tensors[f"{q}.lora_B.weight"].shape == (256, 4)
    assert tensors[f"{v}.lora_B.weight"].shape == (64, 4)  # one KV head of 64
    assert tensors[f"{down}.lora_A.weight"].shape == (4, 896)
    # A as PEFT initialises it; B non-zero, so the adapter changes the outputs
    assert np.abs(tensors[f"{q}.lora_A.weight"]).max() <= 1 / np.sqrt(256)
    assert tensors[f"{q}.lora_B.weight"].std() == pytest.approx(0.02, rel=0.2)


def test_adapters_are_reproducible_cached_and_differ_by_name(cache, tiny_base, tmp_path, monkeypatch):
    one = build_adapter(LoraAdapterSpec(name="a1", rank=8), tiny_base)
    stamp = (one / "adapter_model.safetensors").stat().st_mtime_ns
    assert build_adapter(LoraAdapterSpec(name="a1", rank=8), tiny_base) == one
    assert (one / "adapter_model.safetensors").stat().st_mtime_ns == stamp  # reused, not rewritten
    first = load_file(str(one / "adapter_model.safetensors"))
    monkeypatch.setenv("OPENAIPERF_CACHE_DIR", str(tmp_path / "elsewhere"))
    again = load_file(str(build_adapter(LoraAdapterSpec(name="a1", rank=8), tiny_base) / "adapter_model.safetensors"))
    other = load_file(str(build_adapter(LoraAdapterSpec(name="a2", rank=8), tiny_base) / "adapter_model.safetensors"))
    key = "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first[key], other[key])
    assert build_adapter(LoraAdapterSpec(name="a1", rank=16), tiny_base) != build_adapter(
        LoraAdapterSpec(name="a1", rank=8), tiny_base)


def test_projections_come_from_the_checkpoint_header(tmp_path):
    save_file({"model.layers.0.self_attn.q_proj.weight": np.zeros((6, 4), np.float32),
               "model.layers.0.attn.c_attn.weight": np.zeros((12, 4), np.float32),
               "model.layers.0.input_layernorm.weight": np.zeros(4, np.float32),
               "model.embed_tokens.weight": np.zeros((10, 4), np.float32)}, str(tmp_path / "model.safetensors"))
    assert base_projections(tmp_path) == {"model.layers.0.self_attn.q_proj": (6, 4),
                                          "model.layers.0.attn.c_attn": (12, 4)}


def test_an_unknown_target_module_is_refused_naming_the_field_and_the_accepted_ones(cache, tiny_base):
    with pytest.raises(ConfigError) as error:
        build_adapters([LoraAdapterSpec(name="a1"), LoraAdapterSpec(name="a2", target_modules=["c_attn"])], tiny_base)
    message = str(error.value)
    assert "lora_adapters[1].target_modules" in message and "c_attn" in message
    assert "down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj" in message


@pytest.mark.parametrize("bad, field", [({"name": "a1", "rank": 0}, "rank"), ({"name": "a1", "rank": -2}, "rank"),
                                        ({"name": "a/1"}, "name"), ({"name": "a1", "target_modules": []},
                                                                   "target_modules")])
def test_bad_adapter_options_name_the_field(bad, field):
    with pytest.raises(ValidationError) as error:
        OpenAIOptions(lora_adapters=[bad])
    assert f"lora_adapters.0.{field}" in str(error.value)


def test_repeated_names_and_an_endpoint_are_refused(cache, tiny_base):
    with pytest.raises(ConfigError, match=r"lora_adapters\[1\].name"):
        build_adapters([LoraAdapterSpec(name="a1"), LoraAdapterSpec(name="a1")], tiny_base)
    with pytest.raises(ConfigError, match=r"lora_adapters\[0\].name"):
        build_adapters([LoraAdapterSpec(name="tiny")], tiny_base, reserved=("tiny",))
    with pytest.raises(ValidationError, match="managed vLLM server"):
        OpenAIOptions(endpoint="http://127.0.0.1:1", lora_adapters=[{"name": "a1"}])


def test_the_managed_server_loads_the_adapters(cache, tiny_base):
    engine = OpenAIEngine(EngineContext(model=get_model("tiny-llama"), weights=str(tiny_base), hardware=None,
                                        dtype="float32",
                                        options={"lora_adapters": [{"name": "a1", "rank": 8},
                                                                   {"name": "a2", "rank": 16}]}))
    engine.model_name = "tiny-llama"
    args = engine.lora_server_args()
    assert args["enable_lora"] is True and args["max_lora_rank"] == 16 and args["max_loras"] == 2
    command = server_command(str(tiny_base), "tiny-llama", "127.0.0.1", 8000, args)
    at = command.index("--lora-modules")
    assert [word.split("=")[0] for word in command[at + 1:at + 3]] == ["a1", "a2"]
    assert all((cache / "lora").glob(word.split("=")[1].split("/")[-1]) for word in command[at + 1:at + 3])
    assert "--enable-lora" in command and command[command.index("--max-lora-rank") + 1] == "16"


def test_the_rank_bound_is_one_vllm_takes():
    assert [lora_rank_bound(r) for r in ([4], [8], [8, 9], [300])] == [8, 8, 16, 320]
    with pytest.raises(ConfigError, match="rank"):
        lora_rank_bound([1024])


def test_adapters_are_asked_for_on_the_command_line():
    from openaiperf.options import parse_engine_option

    engine, key, value = parse_engine_option("openai:lora_adapters=[{name: a1, rank: 8}, {name: a2, rank: 16}]")
    options = OpenAIOptions.model_validate({key: value})
    assert engine == "openai" and [(s.name, s.rank) for s in options.lora_adapters] == [("a1", 8), ("a2", 16)]
