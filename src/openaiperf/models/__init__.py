"""The model registry: which models the suite knows and how their weights are provisioned.

``models.yaml`` beside this file lists them; ``--model-file`` adds entries from a
user's YAML of the same shape. A model's ``source`` is a Hugging Face hub id, a
local path, or ``embedded:<distribution>/<file>`` for a GGUF shipped inside a
Python package (the default SmolLM2, see :mod:`openaiperf.models.embedded`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from openaiperf.errors import ConfigError, UnknownNameError
from openaiperf.specs import Spec, build_spec, read_yaml

REGISTRY_FILE = Path(__file__).with_name("models.yaml")

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "fp8": 1, "int8": 1, "int4": 0.5}


class ModelSpec(Spec):
    """One registry entry."""

    name: str
    source: str = Field(min_length=1)
    tokenizer_source: str | None = None
    family: str = "llama"
    parameters: int = Field(gt=0)
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    chat: bool = True
    context_length: int = Field(default=4096, gt=0)

    @property
    def embedded(self) -> bool:
        return self.source.startswith("embedded:")

    @property
    def local_path(self) -> Path | None:
        """The source as a local directory, if it names one (absolute, ./ or ~)."""
        if self.embedded:
            return None
        if self.source.startswith(("/", "./", "../", "~")):
            return Path(self.source).expanduser()
        return None

    def weight_bytes(self, dtype: str | None = None) -> float:
        return self.parameters * DTYPE_BYTES[dtype or self.dtype]


def load_registry(extra_files: Sequence[Path] = ()) -> dict[str, ModelSpec]:
    """The packaged registry, then each extra file (later entries override)."""
    registry: dict[str, ModelSpec] = {}
    for path in (REGISTRY_FILE, *extra_files):
        data = read_yaml(path)
        if not isinstance(data, dict):
            raise ConfigError("expected a mapping of model name -> entry", source=str(path))
        for name, entry in data.items():
            if not isinstance(entry, dict):
                raise ConfigError("expected a mapping", source=str(path), field=str(name))
            registry[name] = build_spec(ModelSpec, {"name": name, **entry}, source=f"{path} [{name}]")
    return registry


def get_model(name: str, registry: dict[str, ModelSpec] | None = None) -> ModelSpec:
    registry = load_registry() if registry is None else registry
    if name not in registry:
        raise UnknownNameError("model", name, list(registry), source="--model")
    return registry[name]


def resolve_weights(spec: ModelSpec) -> str:
    """Where engines load the model from: a local directory or a hub id.

    The embedded model is converted once into the cache (no network); a local
    path must exist; a hub id is passed through (the engine's own cache applies).
    """
    if spec.embedded:
        from openaiperf.models.embedded import provision_embedded

        return str(provision_embedded(spec))
    path = spec.local_path
    if path is not None:
        if not path.is_dir():
            raise ConfigError(
                f"local model path {str(path)!r} does not exist or is not a directory",
                source=f"model {spec.name}", field="source",
            )
        return str(path)
    return spec.source
