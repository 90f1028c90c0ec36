"""What a case was measured with, so that a baseline is only compared with a run
of the same configuration.

A fingerprint is two flat maps of readable labels to values:

- ``checked``: what decides the numbers: engine and its options, scenario and
  its options (``qps_target``, ``stream_count``, ...), the workload (task,
  version, input profile, parameters, prompt template, dataset and its checksum,
  sample count, subset seed, warmup), the model (weights kind: real or random,
  source, revision or, for random weights, the architecture's hash; dtype), the
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

from openaiperf import __version__
from openaiperf.models import ModelSpec
from openaiperf.options import flag_of
from openaiperf.redact import redact
from openaiperf.result import CaseResult, ComputeBackend, ConfigDifference, Fingerprint, SystemInfo
from openaiperf.tasks import TaskSpec

__all__ = ["Difference", "Fingerprint", "configuration", "differences", "for_result", "system_with_environment"]

#: engine options that name where a secret lives, not how the engine runs
IGNORED_ENGINE_OPTIONS = ("api_key_env",)


def _short_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _plain(value: Any) -> Any:
    """JSON-like values compare by content (tuples as lists, keys sorted)."""
    return json.loads(json.dumps(redact(value), sort_keys=True, default=str))


# -- the parts ------------------------------------------------------------------------------
def workload_parts(case: CaseResult, task_spec: TaskSpec | None = None,
                   dataset_source: str | None = None) -> dict[str, Any]:
    parts: dict[str, Any] = {"task": case.task}
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
    for key, value in case.task_options.items():
        parts[f"task option {key}"] = value
    if dataset_source:
        parts["dataset override (--dataset-source)"] = dataset_source
    settings = case.settings
    parts |= {"samples": settings.samples, "subset seed (--subset-seed)": settings.subset_seed,
              "warmup samples": settings.warmup_samples, "max new tokens": settings.max_new_tokens}
    return parts


def model_revision(model_spec: ModelSpec | None) -> str | None:
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
    local = model_spec.local_path
    if local is not None:
        config = local / "config.json"
        return f"config.json sha256 {_short_hash(config.read_text(encoding='utf-8'))}" if config.is_file() else None
    cache = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
    ref = cache.expanduser() / f"models--{source.replace('/', '--')}" / "refs" / "main"
    try:
        return ref.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def model_parts(case: CaseResult, model_spec: ModelSpec | None = None) -> dict[str, Any]:
    parts: dict[str, Any] = {"model": case.model, "dtype": case.settings.dtype}
    if model_spec is not None:
        # Random weights never compare with real ones (nor with another architecture's); real
        # weights add no part, so baselines stored before the part existed still compare.
        random = model_spec.random_weights
        if random:
            parts["model weights"] = "random"
        parts["model source"] = model_spec.source
        if model_spec.tokenizer_source:
            parts["model tokenizer"] = model_spec.tokenizer_source
        if random and model_spec.architecture is not None:
            parts["model architecture"] = model_spec.architecture.fingerprint()
        else:
            parts["model revision"] = model_revision(model_spec)
    return parts


def version_parts(case: CaseResult, system: SystemInfo) -> dict[str, Any]:
    versions = dict(case.engine_info.versions)
    torch = system.software.packages.get("torch")  # a map of package name -> version
    if ("vllm" in versions or "transformers" in versions) and "torch" not in versions and torch:
        versions["torch"] = torch  # what the in-process engine (or the managed server) computes with
    return {f"{name} version": version for name, version in sorted(versions.items())}


def device_parts(system: SystemInfo, hardware: str, device: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(checked, noted): the compute device's identity; the host CPU of a GPU run is noted."""
    cpu = system.hardware.cpu
    cpu_parts = {"cpu model": cpu.model, "cpu cores": cpu.cores, "cpu threads": cpu.threads}
    checked: dict[str, Any] = {"hardware profile": hardware}
    noted: dict[str, Any] = {}
    if device == "cpu":
        checked |= cpu_parts
        checked["OMP_NUM_THREADS"] = system.environment.get("OMP_NUM_THREADS")  # a map of variable -> value
    else:
        noted |= {f"host {k}": v for k, v in cpu_parts.items()}
        for index, accelerator in enumerate(system.hardware.accelerators):
            prefix = "gpu" if index == 0 else f"gpu {index}"
            checked[prefix] = f"{accelerator.count}x {accelerator.name}"
            checked[f"{prefix} memory GB"] = accelerator.memory_gb
            checked[f"{prefix} power cap W"] = accelerator.power_limits_w
        checked["gpu driver"] = system.software.driver
        backend = system.software.compute_backend or ComputeBackend()
        checked[f"{backend.type or 'compute backend'} version"] = backend.version
    return checked, noted


def configuration(case: CaseResult, *, system: SystemInfo | Mapping[str, Any], hardware: str, device: str,
                  task_spec: TaskSpec | None = None, model_spec: ModelSpec | None = None,
                  dataset_source: str | None = None, openaiperf_version: str | None = None) -> Fingerprint:
    """The fingerprint of a case measured on ``system``."""
    system = SystemInfo.model_validate(system)
    checked: dict[str, Any] = {"engine": case.engine}
    for key, value in sorted(case.engine_options.items()):
        if key not in IGNORED_ENGINE_OPTIONS:
            checked[f"engine option {key}"] = value
    checked["scenario"] = case.scenario
    for key, value in sorted(case.scenario_options.items()):
        checked[f"scenario option {key}"] = value
    checked |= workload_parts(case, task_spec, dataset_source)
    checked |= model_parts(case, model_spec)
    checked |= version_parts(case, system)
    device_checked, noted = device_parts(system, hardware, device)
    checked |= device_checked
    noted |= {"openaiperf version": openaiperf_version, "python": system.software.python, "os": system.software.os}
    return Fingerprint(checked=_plain(checked), noted=_plain(noted))


def system_with_environment(system: SystemInfo) -> SystemInfo:
    """The probed system plus the environment variables that set CPU threading."""
    environment = {k: os.environ[k] for k in ("OMP_NUM_THREADS",) if os.environ.get(k) is not None}
    return system.model_copy(update={"environment": environment})


def for_result(result: CaseResult, session: Any) -> Fingerprint:
    """The fingerprint of a finished case of a pytest session (:class:`~openaiperf.plugin.BenchSession`)."""
    hardware = session.hardware
    return configuration(result, system=system_with_environment(session.system), hardware=hardware.name,
                         device=hardware.device, task_spec=session.tasks.get(result.task),
                         model_spec=session.models.get(result.model),
                         dataset_source=session.run.dataset_source, openaiperf_version=__version__)


# -- comparing two ---------------------------------------------------------------------------
def option_for(part: str) -> str | None:
    """The command-line option that sets a part, where one does (for the message)."""
    if part.startswith("scenario option "):
        return flag_of("scenario", part.removeprefix("scenario option "))
    if part.startswith("engine option "):
        return "--engine-option"
    return {"samples": "--max-samples", "dtype": "--dtype", "hardware profile": "--hw",
            "model weights": "--weights"}.get(part)


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

    def to_result(self) -> ConfigDifference:
        return ConfigDifference(part=self.part, baseline=self.baseline, current=self.current, refuses=self.refuses,
                                text=self.text())


def differences(baseline: Fingerprint | None, current: Fingerprint | None) -> list[Difference]:
    """Every part that differs; ``refuses`` for the checked ones. A side without a
    fingerprint is one big difference (it cannot be checked)."""
    if not baseline or not current:
        return [Difference("configuration fingerprint", "stored" if baseline else None,
                           "stored" if current else None, refuses=True)]
    out = []
    for before, now, refuses in ((baseline.checked, current.checked, True), (baseline.noted, current.noted, False)):
        for part in list(dict.fromkeys([*before, *now])):
            if before.get(part) != now.get(part):
                out.append(Difference(part, before.get(part), now.get(part), refuses))
    return out
