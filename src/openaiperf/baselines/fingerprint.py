"""What a case was measured with, so that a baseline is only compared with a run
of the same configuration.

A fingerprint is two flat maps of readable labels to values:

- ``checked``: what decides the numbers: engine and its options, scenario and
  its options (``qps_target``, ``stream_count``, ...), the workload (task,
  version, input profile, parameters, prompt template, dataset and its checksum,
  sample count, subset seed, warmup), the model (source, revision, dtype), the
  engine's library versions, and the probed device (CPU model, cores and
  threads; or GPU name and count, memory, driver, power cap, CUDA/ROCm);
- ``noted``: what is shown when it differs but does not refuse a comparison
  (openaiperf and Python versions, the OS, and the host CPU of a GPU run).

The baseline's key is its hardware profile and case id (the file path); the
fingerprint is the check: :func:`differences` names each part that differs
("scenario option qps_target (--qps-target): baseline 2.0, now 4.0").
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openaiperf.redact import redact

Fingerprint = dict[str, dict[str, Any]]

#: engine-info keys that are library versions (the engine's own and what it runs on)
VERSION_KEYS = ("vllm", "sglang", "tensorrt_llm", "transformers", "torch", "aiohttp")
#: engine options that name where a secret lives, not how the engine runs
IGNORED_ENGINE_OPTIONS = ("api_key_env",)


def _short_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _plain(value: Any) -> Any:
    """JSON-like values compare by content (tuples as lists, keys sorted)."""
    return json.loads(json.dumps(redact(value), sort_keys=True, default=str))


# -- the parts ------------------------------------------------------------------------------
def workload_parts(case: Mapping[str, Any], task_spec: Any = None, dataset_source: str | None = None) -> dict:
    settings = case.get("settings") or {}
    parts: dict[str, Any] = {"task": case.get("task")}
    if task_spec is not None:
        parts["task version"] = task_spec.version
        parts["task kind"] = task_spec.kind
        for key, value in task_spec.input_profile.model_dump().items():
            parts[f"input profile {key}"] = value
        for key, value in (task_spec.parameters or {}).items():
            parts[f"task parameter {key}"] = value
        if task_spec.prompt is not None:
            parts["prompt template"] = _short_hash(task_spec.prompt.model_dump())
        dataset = (task_spec.datasets or {}).get("eval")
        if dataset is not None:
            parts["dataset"] = dataset.source
            parts["dataset sha256"] = dataset.sha256
    for key, value in (case.get("task_options") or {}).items():
        parts[f"task option {key}"] = value
    if dataset_source:
        parts["dataset override (--dataset-source)"] = dataset_source
    for key, label in (("samples", "samples"), ("subset_seed", "subset seed (--subset-seed)"),
                       ("warmup_samples", "warmup samples"), ("max_new_tokens", "max new tokens")):
        if key in settings:
            parts[label] = settings[key]
    return parts


def model_revision(model_spec: Any) -> str | None:
    """Which weights: the embedded package's version, a local checkpoint's config
    hash, or the commit the Hugging Face cache resolved ``main`` to."""
    if model_spec is None:
        return None
    source = str(model_spec.source)
    if source.startswith("embedded:"):
        import importlib.metadata

        distribution = source.removeprefix("embedded:").split("/", 1)[0]
        try:
            return f"{distribution}=={importlib.metadata.version(distribution)}"
        except importlib.metadata.PackageNotFoundError:
            return None
    local = getattr(model_spec, "local_path", None)
    if local is not None:
        config = Path(local) / "config.json"
        return f"config.json sha256 {_short_hash(config.read_text(encoding='utf-8'))}" if config.is_file() else None
    cache = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
    ref = cache.expanduser() / f"models--{source.replace('/', '--')}" / "refs" / "main"
    try:
        return ref.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def model_parts(case: Mapping[str, Any], model_spec: Any = None) -> dict[str, Any]:
    settings = case.get("settings") or {}
    parts: dict[str, Any] = {"model": case.get("model"), "dtype": settings.get("dtype")}
    if model_spec is not None:
        parts["model source"] = model_spec.source
        if model_spec.tokenizer_source:
            parts["model tokenizer"] = model_spec.tokenizer_source
        parts["model revision"] = model_revision(model_spec)
    return parts


def version_parts(case: Mapping[str, Any], system: Mapping[str, Any]) -> dict[str, Any]:
    info = case.get("engine_info") or {}
    versions = {key: info[key] for key in VERSION_KEYS if isinstance(info.get(key), str)}
    packages = (system.get("software") or {}).get("packages") or {}
    if ("vllm" in versions or "transformers" in versions) and "torch" not in versions and packages.get("torch"):
        versions["torch"] = packages["torch"]  # what the in-process engine (or the managed server) computes with
    return {f"{name} version": version for name, version in sorted(versions.items())}


def device_parts(system: Mapping[str, Any], hardware: str, device: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(checked, noted): the compute device's identity; the host CPU of a GPU run is noted."""
    hw = system.get("hardware") or {}
    software = system.get("software") or {}
    cpu = hw.get("cpu") or {}
    cpu_parts = {"cpu model": cpu.get("model"), "cpu cores": cpu.get("cores"), "cpu threads": cpu.get("threads")}
    checked: dict[str, Any] = {"hardware profile": hardware}
    noted: dict[str, Any] = {}
    if device == "cpu":
        checked |= cpu_parts
        checked["OMP_NUM_THREADS"] = (system.get("environment") or {}).get("OMP_NUM_THREADS")
    else:
        noted |= {f"host {k}": v for k, v in cpu_parts.items()}
        for index, accelerator in enumerate(hw.get("accelerators") or []):
            prefix = "gpu" if index == 0 else f"gpu {index}"
            checked[prefix] = f"{accelerator.get('count', 1)}x {accelerator.get('name')}"
            checked[f"{prefix} memory GB"] = accelerator.get("memory_gb")
            checked[f"{prefix} power cap W"] = accelerator.get("power_limits_w")
        checked["gpu driver"] = software.get("driver")
        backend = software.get("compute_backend") or {}
        checked[f"{backend.get('type') or 'compute backend'} version"] = backend.get("version")
    return checked, noted


def configuration(case: Mapping[str, Any], *, system: Mapping[str, Any], hardware: str, device: str,
                  task_spec: Any = None, model_spec: Any = None, dataset_source: str | None = None,
                  openaiperf_version: str | None = None) -> Fingerprint:
    """The fingerprint of a case (its results.json entry) measured on ``system``."""
    checked: dict[str, Any] = {"engine": case.get("engine")}
    for key, value in sorted((case.get("engine_options") or {}).items()):
        if key not in IGNORED_ENGINE_OPTIONS:
            checked[f"engine option {key}"] = value
    checked["scenario"] = case.get("scenario")
    for key, value in sorted((case.get("scenario_options") or {}).items()):
        checked[f"scenario option {key}"] = value
    checked |= workload_parts(case, task_spec, dataset_source)
    checked |= model_parts(case, model_spec)
    checked |= version_parts(case, system)
    device_checked, noted = device_parts(system, hardware, device)
    checked |= device_checked
    software = system.get("software") or {}
    noted |= {"openaiperf version": openaiperf_version, "python": software.get("python"), "os": software.get("os")}
    return {"checked": _plain(checked), "noted": _plain(noted)}


def system_with_environment(system: Mapping[str, Any]) -> dict[str, Any]:
    """The probed system plus the environment variables that set CPU threading."""
    return dict(system) | {"environment": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS",)
                                           if os.environ.get(k) is not None}}


def for_result(result: Any, session: Any) -> Fingerprint:
    """The fingerprint of a finished case of a pytest session (:class:`~openaiperf.plugin.BenchSession`)."""
    from openaiperf import __version__

    case = result.to_json()
    hardware = session.hardware
    return configuration(case, system=system_with_environment(session.system), hardware=hardware.name,
                         device=getattr(hardware, "device", "cpu"), task_spec=session.tasks.get(case["task"]),
                         model_spec=session.models.get(case["model"]),
                         dataset_source=session.option("dataset_source"), openaiperf_version=__version__)


# -- comparing two ---------------------------------------------------------------------------
def option_for(part: str) -> str | None:
    """The command-line option that sets a part, where one does (for the message)."""
    from openaiperf.options import flag_of

    if part.startswith("scenario option "):
        return flag_of("scenario", part.removeprefix("scenario option "))
    if part.startswith("engine option "):
        return "--engine-option"
    return {"samples": "--max-samples", "dtype": "--dtype", "hardware profile": "--hw"}.get(part)


@dataclass(frozen=True)
class Difference:
    part: str
    baseline: Any
    current: Any
    refuses: bool

    def text(self) -> str:
        def shown(value: Any) -> str:
            return "absent" if value is None else json.dumps(value, default=str).strip('"')

        option = option_for(self.part)
        label = f"{self.part} ({option})" if option else self.part
        return f"{label}: baseline {shown(self.baseline)}, now {shown(self.current)}"

    def to_json(self) -> dict[str, Any]:
        return {"part": self.part, "baseline": self.baseline, "current": self.current, "refuses": self.refuses,
                "text": self.text()}


def differences(baseline: Fingerprint | None, current: Fingerprint | None) -> list[Difference]:
    """Every part that differs; ``refuses`` for the checked ones. A side without a
    fingerprint is one big difference (it cannot be checked)."""
    if not baseline or not current:
        return [Difference("configuration fingerprint", "stored" if baseline else None,
                           "stored" if current else None, refuses=True)]
    out = []
    for group, refuses in (("checked", True), ("noted", False)):
        before, now = baseline.get(group) or {}, current.get(group) or {}
        for part in list(dict.fromkeys([*before, *now])):
            if before.get(part) != now.get(part):
                out.append(Difference(part, before.get(part), now.get(part), refuses))
    return out
