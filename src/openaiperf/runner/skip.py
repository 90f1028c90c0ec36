"""Why a case cannot run on this machine (its skip reason), decided before it is built."""

from __future__ import annotations

from openaiperf.engines import engine_unavailable_reason
from openaiperf.hardware import HardwareProfile
from openaiperf.matrix import Case
from openaiperf.models import ModelSpec, weights_skip_reason
from openaiperf.result import SystemInfo
from openaiperf.tasks import Task


def case_skip_reason(case: Case, model: ModelSpec, hardware: HardwareProfile, system: SystemInfo | None,
                     task_kind: type[Task] | None = None) -> str | None:
    """Why ``case`` cannot run on ``hardware`` (shown as the skip reason), or None.
    ``task_kind``: the case task's class (its capabilities decide whether random weights can run it,
    and whether the case's scenario can drive its workload)."""
    reason = weights_skip_reason(model, task_kind is not None and task_kind.judges_quality, case.task) or (
        task_kind.workload_skip_reason(case.scenario) if task_kind is not None else None)
    if reason:
        return reason
    limit_b = hardware.max_model_params_b
    if limit_b is not None and model.parameters > limit_b * 1e9:
        return (f"{model.name} has {model.parameters / 1e9:.1f}B parameters; the {hardware.name!r} hardware "
                f"profile runs models up to {limit_b:g}B")
    memory = hardware.memory_bytes(system)
    if memory:
        count = int(case.engine_options.get("tensor_parallel_size", 1))
        need = model.weight_bytes()
        if need > 0.9 * memory * count:
            return (f"{model.name} needs {need / 2**30:.0f} GiB for its {model.dtype} weights; "
                    f"{hardware.name} has {memory * count / 2**30:.0f} GiB on {count} device(s)")
    return engine_unavailable_reason(case.engine)
