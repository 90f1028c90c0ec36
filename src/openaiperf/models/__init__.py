"""The model registry: which models the suite knows and how their weights are provisioned.

``models.yaml`` beside this file lists them; ``--model-file`` adds entries from a
user's YAML of the same shape. A model's ``source`` is a Hugging Face hub id, a
local path, or ``embedded:<distribution>/<file>`` for a GGUF shipped inside a
Python package (the default SmolLM2, see :mod:`openaiperf.models.embedded`).

A model's ``architecture`` holds the numbers of its public ``config.json``
(:mod:`openaiperf.models.architecture`): its parameter count is worked out from
them, and with ``weights: random`` (the entry's setting, or ``--weights random``
for every model) engines build the model from that configuration with random
weights, on the device, with no download: performance does not depend on the
weights' values. Tasks that judge the quality of the answers skip such cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from openaiperf.errors import ConfigError, UnknownNameError
from openaiperf.models.architecture import Architecture, count_parameters, write_config_dir
from openaiperf.specs import Spec, build_spec, read_yaml

REGISTRY_FILE = Path(__file__).with_name("models.yaml")

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "fp8": 1, "int8": 1, "int4": 0.5}
#: how far a stated ``parameters`` may be from the architecture's count
PARAMETER_TOLERANCE = 0.005


class ModelSpec(Spec):
    """One registry entry."""

    name: str
    #: hub id, local path or embedded:<distribution>/<file>; None for a model that only has random weights
    source: str | None = Field(default=None, min_length=1)
    tokenizer_source: str | None = None
    family: str = "llama"
    #: default: counted from the architecture (and checked against it when both are given)
    parameters: int = Field(gt=0)
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    chat: bool = True
    context_length: int = Field(default=4096, gt=0)
    #: the numbers of the model's config.json (what random weights are built from)
    architecture: Architecture | None = None
    #: real: load the checkpoint from ``source``; random: build it from ``architecture``
    weights: Literal["real", "random"] = "real"

    @model_validator(mode="before")
    @classmethod
    def _parameters_from_architecture(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("parameters") is None and isinstance(data.get("architecture"), dict):
            try:
                data = {**data, "parameters": count_parameters(Architecture.model_validate(data["architecture"]))}
            except ValueError:
                pass  # the architecture's own error is reported by its field
        return data

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.architecture is not None:
            counted = count_parameters(self.architecture)
            if abs(self.parameters - counted) > PARAMETER_TOLERANCE * counted:
                raise ValueError(f"parameters {self.parameters:_} differs from the architecture's count {counted:_} "
                                 f"by more than {PARAMETER_TOLERANCE:.1%}: fix one, or leave parameters out")
        if self.weights == "random" and self.architecture is None:
            raise ValueError("weights: random needs an architecture block (the numbers of the model's config.json)")
        if self.weights == "real" and self.source is None:
            raise ValueError("weights: real needs a source (hub id, local path or embedded:...)")
        return self

    @property
    def random_weights(self) -> bool:
        return self.weights == "random"

    @property
    def embedded(self) -> bool:
        return self.source is not None and self.source.startswith("embedded:")

    @property
    def local_path(self) -> Path | None:
        """The source as a local directory, if it names one (absolute, ./ or ~)."""
        if self.source is None or self.embedded:
            return None
        if self.source.startswith(("/", "./", "../", "~")):
            return Path(self.source).expanduser()
        return None

    def with_weights(self, kind: str | None) -> ModelSpec:
        """This entry with ``weights`` set to ``kind`` (None: its own setting). No check
        here: :func:`weights_unavailable_reason` says why a case cannot run so."""
        if kind is None or kind == self.weights:
            return self
        return self.model_copy(update={"weights": kind})

    def weights_description(self) -> str:
        """How the weights are made, for reports."""
        if self.random_weights:
            return (f"random (built on the device from the {self.architecture.model_type} architecture "  # type: ignore[union-attr]
                    f"{self.architecture.fingerprint()}; no checkpoint)")  # type: ignore[union-attr]
        return f"real ({self.source})"

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


def describe_weights(model: ModelSpec | None) -> str:
    """How ``model``'s weights are made (engine info); "real" for an engine without a model."""
    return model.weights_description() if model is not None else "real"


def weights_unavailable_reason(spec: ModelSpec) -> str | None:
    """Why the model cannot be run with its ``weights`` kind (a case's skip reason), or None."""
    if spec.random_weights and spec.architecture is None:
        return (f"{spec.name} has no architecture in the model registry: random weights are built from one "
                "(add an architecture block with the numbers of its config.json)")
    if not spec.random_weights and spec.source is None:
        return f"{spec.name} has no real weights (no source in the model registry): run it with --weights random"
    return None


def weights_skip_reason(spec: ModelSpec, judges_quality: bool = False, task: str | None = None) -> str | None:
    """Why a case of ``task`` cannot run on ``spec``'s weights, or None: weights that cannot be
    had, or random weights under a task that judges the quality of the answers
    (``judges_quality``: its kind's capability; a performance task declares ``judges_quality = False``)."""
    reason = weights_unavailable_reason(spec)
    if reason:
        return reason
    if spec.random_weights and judges_quality:
        return (f"{spec.name} has random weights (--weights random, or weights: random in the model registry) and "
                f"task {task or '(this one)'} judges the quality of the answers, which random "
                "weights make meaningless; performance tasks (synthetic, chat) run")
    return None


def random_weights_dir(spec: ModelSpec) -> Path:
    """The folder a random-weights model is built from: its ``config.json`` alone, in
    the cache (``$OPENAIPERF_CACHE_DIR/random/<name>-<architecture hash>``)."""
    from openaiperf.models.embedded import cache_root  # kept out of start-up

    if spec.architecture is None:
        raise ConfigError(weights_unavailable_reason(spec) or "no architecture", source=f"model {spec.name}",
                          field="architecture")
    directory = cache_root() / "random" / f"{spec.name}-{spec.architecture.fingerprint()}"
    return write_config_dir(directory, spec.architecture, spec.dtype)


def resolve_weights(spec: ModelSpec) -> str:
    """Where engines load the model from: a local directory or a hub id.

    Random weights: a folder holding only the architecture's ``config.json``. The
    embedded model is converted once into the cache (no network); a local path
    must exist; a hub id is passed through (the engine's own cache applies).
    """
    if spec.random_weights:
        return str(random_weights_dir(spec))
    if spec.source is None:
        raise ConfigError(weights_unavailable_reason(spec) or "no source", source=f"model {spec.name}", field="source")
    if spec.embedded:
        from openaiperf.models.embedded import provision_embedded  # kept out of start-up

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
