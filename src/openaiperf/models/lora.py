"""LoRA adapters with random weights, built from a base model's architecture.

A LoRA adapter adds ``(alpha / rank) × B A`` to a projection's weight W
(``out × in``): A is ``rank × in``, B is ``out × rank``. What an adapter costs a
server (loading it, batching requests of several adapters, the extra matrix
products) depends on the shapes, not on the values, so an adapter with random
values measures LoRA serving without downloading a trained one.

:func:`build_adapter` writes one in the PEFT format that vLLM's
``--lora-modules name=path`` (and PEFT itself) load: ``adapter_config.json``
(``peft_type: LORA``, ``r``, ``lora_alpha``, ``target_modules``) and
``adapter_model.safetensors`` with, for every targeted projection of every layer,
``base_model.model.<module>.lora_A.weight`` and ``....lora_B.weight``. A follows
PEFT's initialisation (uniform in ±1/√in); B, which PEFT starts at zero so
that a new adapter changes nothing, is drawn from N(0, ``init_std``²) instead,
so that each adapter changes the model's outputs as a trained one does (and a
test can tell the adapters' answers apart).

The projections and their shapes are read from the base checkpoint's
safetensors headers (``model.safetensors`` or the files its index names; the
header only, no tensor is loaded), or for a random-weights model (a folder with
its ``config.json`` alone) from the architecture's numbers. Adapters are seeded
by their name and ``seed`` and cached by every parameter and the base's shapes
under the user cache (``$OPENAIPERF_CACHE_DIR/lora/``), never in the project.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from openaiperf.errors import ConfigError
from openaiperf.registry import Options

#: what PEFT and vLLM target when an adapter names no modules: the attention projections
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
#: a projection of a decoder layer: ``<...>.layers.<i>.<...>.<name>.weight`` with two dimensions
_LAYER_WEIGHT = re.compile(r"^(?P<module>.*\.layers\.\d+\..*?(?P<name>[A-Za-z0-9_]+))\.weight$")


class LoraAdapterSpec(Options):
    """One random adapter (engine option ``lora_adapters: [{name: a1, rank: 8}, ...]``)."""

    #: the served model name requests give to use it (``--lora-split NAME:WEIGHT``)
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    rank: int = Field(default=8, gt=0)
    #: the scale is alpha / rank; default: 2 × rank
    alpha: float | None = Field(default=None, gt=0)
    #: projections of every layer the adapter changes (names in the base checkpoint, e.g. q_proj)
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_TARGET_MODULES), min_length=1)
    #: the standard deviation of B's values (PEFT starts B at 0; non-zero, the adapter changes outputs)
    init_std: float = Field(default=0.02, ge=0)
    seed: int = 0

    @field_validator("target_modules")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"target_modules has repeated names: {value}")
        return value

    @property
    def scale_alpha(self) -> float:
        return self.alpha if self.alpha is not None else 2.0 * self.rank


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor name -> dtype, shape, offsets), read alone."""
    with path.open("rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header: dict[str, Any] = json.loads(handle.read(size))
    header.pop("__metadata__", None)
    return header


def base_projections(model_dir: str | Path) -> dict[str, tuple[int, int]]:
    """Every projection of the base model's decoder layers a LoRA adapter can target:
    full module path (``model.layers.0.self_attn.q_proj``) -> (out, in)."""
    directory = Path(model_dir)
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        paths = [directory / name for name in files]
    else:
        paths = sorted(directory.glob("*.safetensors"))
    if paths:
        projections: dict[str, tuple[int, int]] = {}
        for path in paths:
            for key, tensor in safetensors_header(path).items():
                match = _LAYER_WEIGHT.match(key)
                if match and len(tensor.get("shape", ())) == 2:
                    out, inp = tensor["shape"]
                    projections[match["module"]] = (int(out), int(inp))
        return projections
    config = directory / "config.json"
    if not config.is_file():
        raise ConfigError(f"{directory} has neither safetensors weights nor a config.json to build LoRA adapters on",
                          source="engine options", field="lora_adapters")
    return config_projections(json.loads(config.read_text(encoding="utf-8")))


def config_projections(config: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """The projections of a Llama-family ``config.json`` (llama, qwen2, mistral): q, k, v, o and the gated MLP."""
    from openaiperf.models.architecture import Architecture

    fields = {k: v for k, v in config.items() if k in Architecture.model_fields}
    arch = Architecture.model_validate({**fields, "rope_theta": fields.get("rope_theta", 10000.0)})
    hidden, q_out = arch.hidden_size, arch.num_attention_heads * arch.head_size
    kv_out, mlp = arch.num_key_value_heads * arch.head_size, arch.intermediate_size
    shapes = {"self_attn.q_proj": (q_out, hidden), "self_attn.k_proj": (kv_out, hidden),
              "self_attn.v_proj": (kv_out, hidden), "self_attn.o_proj": (hidden, q_out),
              "mlp.gate_proj": (mlp, hidden), "mlp.up_proj": (mlp, hidden), "mlp.down_proj": (hidden, mlp)}
    return {f"model.layers.{layer}.{name}": shape
            for layer in range(arch.num_hidden_layers) for name, shape in shapes.items()}


def module_names(projections: dict[str, tuple[int, int]]) -> list[str]:
    """The short names adapters target (``q_proj``...), sorted."""
    return sorted({path.rsplit(".", 1)[-1] for path in projections})


def check_targets(spec: LoraAdapterSpec, projections: dict[str, tuple[int, int]], field: str) -> None:
    """A clear error for a target module the base model does not have, naming the accepted ones."""
    known = module_names(projections)
    unknown = [name for name in spec.target_modules if name not in known]
    if unknown:
        raise ConfigError(f"unknown target module(s) {unknown} for this model; accepted: {', '.join(known)}",
                          source="engine options", field=field)


def adapter_fingerprint(spec: LoraAdapterSpec, projections: dict[str, tuple[int, int]]) -> str:
    """A short hash of everything an adapter's files follow from: its parameters and the base's shapes."""
    text = json.dumps({"spec": spec.model_dump(), "alpha": spec.scale_alpha,
                       "base": sorted(projections.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def adapter_tensors(spec: LoraAdapterSpec, projections: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """The adapter's tensors in PEFT's names (float32), seeded by its name and seed."""
    entropy = int.from_bytes(hashlib.sha256(f"{spec.name}\0{spec.seed}".encode()).digest()[:8], "little")
    rng = np.random.default_rng(entropy)
    targets = set(spec.target_modules)
    tensors: dict[str, np.ndarray] = {}
    for path in sorted(projections, key=_natural):
        if path.rsplit(".", 1)[-1] not in targets:
            continue
        out, inp = projections[path]
        bound = 1.0 / np.sqrt(inp)
        prefix = f"base_model.model.{path}"
        tensors[f"{prefix}.lora_A.weight"] = rng.uniform(-bound, bound, (spec.rank, inp)).astype(np.float32)
        tensors[f"{prefix}.lora_B.weight"] = rng.normal(0.0, spec.init_std, (out, spec.rank)).astype(np.float32)
    return tensors


def adapter_config(spec: LoraAdapterSpec, base: str) -> dict[str, Any]:
    """PEFT's ``adapter_config.json`` for the adapter."""
    return {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base, "r": spec.rank,
            "lora_alpha": spec.scale_alpha, "target_modules": list(spec.target_modules), "lora_dropout": 0.0,
            "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "modules_to_save": None,
            "use_rslora": False, "use_dora": False, "init_lora_weights": True}


def lora_cache_root() -> Path:
    from openaiperf.models.embedded import cache_root

    return cache_root() / "lora"


def build_adapter(spec: LoraAdapterSpec, model_dir: str | Path, *, base_name: str | None = None,
                  projections: dict[str, tuple[int, int]] | None = None, field: str = "lora_adapters") -> Path:
    """The adapter's folder in the cache, written once per parameters (atomically: a
    folder renamed into place), reused after; a target module the base model lacks is
    refused naming ``field`` and the accepted modules."""
    from safetensors.numpy import save_file

    projections = base_projections(model_dir) if projections is None else projections
    check_targets(spec, projections, f"{field}.target_modules")
    directory = lora_cache_root() / f"{spec.name}-r{spec.rank}-{adapter_fingerprint(spec, projections)}"
    if (directory / "adapter_model.safetensors").is_file() and (directory / "adapter_config.json").is_file():
        return directory
    staging = directory.with_name(directory.name + f".tmp{np.random.default_rng().integers(1 << 30)}")
    staging.mkdir(parents=True)
    save_file(adapter_tensors(spec, projections), str(staging / "adapter_model.safetensors"),
              metadata={"format": "pt"})
    (staging / "adapter_config.json").write_text(
        json.dumps(adapter_config(spec, base_name or str(model_dir)), indent=2), encoding="utf-8")
    try:
        staging.replace(directory)
    except OSError:  # another process wrote the same adapter first: identical files, keep theirs
        for path in staging.iterdir():
            path.unlink()
        staging.rmdir()
    return directory


def build_adapters(specs: list[LoraAdapterSpec], model_dir: str | Path, *, base_name: str | None = None,
                   reserved: tuple[str, ...] = ()) -> dict[str, Path]:
    """Every adapter's folder by name; names must be distinct and differ from ``reserved``
    (the base model's served name)."""
    seen: set[str] = set()
    for index, spec in enumerate(specs):
        if spec.name in seen or spec.name in reserved:
            raise ConfigError(f"adapter name {spec.name!r} is used twice (or is the base model's served name)",
                              source="engine options", field=f"lora_adapters[{index}].name")
        seen.add(spec.name)
    projections = base_projections(model_dir) if specs else {}
    return {spec.name: build_adapter(spec, model_dir, base_name=base_name, projections=projections,
                                     field=f"lora_adapters[{index}]")
            for index, spec in enumerate(specs)}


def lora_rank_bound(ranks: list[int]) -> int:
    """vLLM's ``--max-lora-rank`` for these ranks: the smallest value it accepts that holds the largest."""
    allowed = (1, 8, 16, 32, 64, 128, 256, 320, 512)
    top = max(ranks)
    for value in allowed:
        if value >= top:
            return value
    raise ConfigError(f"rank {top} is above vLLM's largest --max-lora-rank ({allowed[-1]})",
                      source="engine options", field="lora_adapters.rank")


def _natural(path: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in path.split("."))
