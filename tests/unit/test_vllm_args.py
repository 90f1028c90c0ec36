"""vLLM's settings are declared once (VLLMServerArgs) for the in-process engine and the managed
server, and every option's help states the default its declaration holds."""

from __future__ import annotations

import json
import re

import pytest

from openaiperf.baselines.compare import ALPHA, DRIFT
from openaiperf.engines.managed_server import ManagedServer
from openaiperf.engines.openai import OpenAIOptions
from openaiperf.engines.vllm import VLLMOptions
from openaiperf.engines.vllm_args import VLLMServerArgs
from openaiperf.options import options


def test_both_engines_take_the_one_declaration_of_vllms_settings() -> None:
    for model in (VLLMOptions, OpenAIOptions):
        assert issubclass(model, VLLMServerArgs)
        for name, field in VLLMServerArgs.model_fields.items():
            assert model.model_fields[name].default == field.default, (model.__name__, name)


@pytest.mark.parametrize(("cpu", "eager", "utilization"), [(True, True, 0.5), (False, False, 0.9)])
def test_device_defaults_are_settled_once(cpu: bool, eager: bool, utilization: float) -> None:
    vllm_kwargs = VLLMOptions().resolved(cpu=cpu, dtype="float32").engine_kwargs()
    managed_kwargs = OpenAIOptions().resolved(cpu=cpu, dtype="float32").engine_kwargs()
    assert vllm_kwargs == managed_kwargs
    assert vllm_kwargs["enforce_eager"] is eager
    assert vllm_kwargs["gpu_memory_utilization"] == utilization
    assert vllm_kwargs["dtype"] == "float32"
    assert "offline_api" not in vllm_kwargs and "endpoint" not in managed_kwargs
    assert "quantization" not in vllm_kwargs  # not set: vLLM's own choice


def test_given_values_win_over_device_defaults() -> None:
    args = VLLMServerArgs(enforce_eager=False, gpu_memory_utilization=0.3, dtype="bfloat16")
    kwargs = args.resolved(cpu=True, dtype="float32").engine_kwargs()
    assert (kwargs["enforce_eager"], kwargs["gpu_memory_utilization"], kwargs["dtype"]) == (False, 0.3, "bfloat16")


def test_managed_server_command_carries_the_declared_defaults(tmp_path) -> None:
    command = ManagedServer("/m", "m", log_dir=tmp_path).command
    assert command[command.index("--max-model-len") + 1] == str(VLLMServerArgs().max_model_len)
    assert "--no-enable-prefix-caching" in command


def test_a_pooling_server_gets_its_runner_convert_and_json_overrides(tmp_path) -> None:
    args = VLLMServerArgs(runner="pooling", convert="classify", hf_overrides={"num_labels": 1})
    command = ManagedServer("/m", "m", log_dir=tmp_path, args=args.resolved(cpu=True).engine_kwargs()).command
    assert command[command.index("--runner") + 1] == "pooling"
    assert command[command.index("--convert") + 1] == "classify"
    assert json.loads(command[command.index("--hf-overrides") + 1]) == {"num_labels": 1}
    # not set: vLLM's own choice, no flag
    assert "--runner" not in ManagedServer("/m", "m", log_dir=tmp_path).command


def test_option_help_states_the_declared_default_once() -> None:
    by_flag = {option.flag: option for option in options()}
    assert by_flag["--baseline-alpha"].default == ALPHA
    assert by_flag["--baseline-drift"].default == DRIFT
    for option in by_flag.values():
        shown = option.kwargs()["help"]
        assert len(re.findall(r"\(default", shown)) <= 1, option.flag
        stated = re.search(r"\(default ([0-9.]+) ?(?:ms)?[);]", shown)
        if stated and option.target is None:  # a number the help states is the one the option holds
            assert option.default is not None, option.flag
            assert float(stated.group(1)) == float(str(option.default).removesuffix("ms")), option.flag
