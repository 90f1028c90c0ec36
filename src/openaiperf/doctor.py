"""``ob doctor``: what is installed here, and what can run.

It asks the registries: the software rows are what every registered engine, task
kind, monitor and report writer ``requires``; the engine rows each engine's
``unavailable_reason()``; then the hardware profiles and the tasks. Every item
that is not usable says why and how to fix it. Exit status 1 when no engine can
run at all or something required is missing. ``ob task check NAME`` checks one
task (its definition, its dataset); ``ob check`` is the earlier spelling of both.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from openaiperf.engines import engines
from openaiperf.errors import OpenAIPerfError
from openaiperf.hardware import list_profiles, load_profile
from openaiperf.hardware.probe import match_profile, probe_system
from openaiperf.registry import Requirement, all_registries
from openaiperf.scenarios import scenarios
from openaiperf.tasks import create_task, load_task_specs, task_class
from openaiperf.tasks.datasets import preflight

if TYPE_CHECKING:
    from openaiperf.result import SystemInfo


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


#: distributions with a row of their own (the device backend, the NVIDIA driver)
OWN_ROWS = ("torch", "nvidia-ml-py")


def requirement_checks() -> list[Check]:
    """One row per distribution the registered classes require, naming who needs it."""
    users: dict[Requirement, list[str]] = {}
    for axis, registry in all_registries().items():
        for name, cls in registry.classes().items():
            for req in getattr(cls, "requires", ()):
                users.setdefault(req, []).append(f"{name} {axis}")
    checks = []
    for req, who in users.items():
        if req.distributions[0] in OWN_ROWS:
            continue
        version = req.installed_version()
        problem = req.problem() if version is not None else f"{req.name} is not installed"
        checks.append(Check("software", f"{req.name} ({', '.join(who)})", None if problem else True,
                            problem or version or "", req.fix if problem else ""))
    return checks


def software_checks() -> list[Check]:
    return [
        check_torch(),
        *requirement_checks(),
        check_nvml(),
        check_rocm(),
        check_package("psutil", ["psutil"], "pip install psutil", required=True),
        check_tool("nsys", "NVIDIA Nsight Systems", "install Nsight Systems (CUDA toolkit)"),
        check_tool("ncu", "NVIDIA Nsight Compute", "install Nsight Compute (CUDA toolkit)"),
        Check("software", "torch profiler", True if importlib.util.find_spec("torch") else None,
              "--profile torch" + ("" if importlib.util.find_spec("torch") else ": needs torch")),
    ]


# -- engines, hardware profiles, tasks --------------------------------------------------
def engine_checks() -> list[Check]:
    checks = []
    for name in engines.names():
        fix = ""
        try:
            cls = engines.get(name)
            reason = cls.unavailable_reason()
            unmet = [req for req in cls.requires if req.problem()]
            fix = unmet[0].fix if unmet else ("see the reason" if reason else "")
        except Exception as exc:  # a broken plugin engine must not break the doctor
            reason = f"{type(exc).__name__}: {exc}"
            fix = "fix or remove the engine's registration"
        checks.append(Check("engines", name, reason is None, reason or "usable", fix))
    return checks


def hardware_checks(system: SystemInfo) -> list[Check]:
    accelerators = [a.name or "?" for a in system.hardware.accelerators]
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


def task_checks(name: str | None = None, try_load: bool = False) -> list[Check]:
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
        unknown = [s for s in spec.scenarios if s not in scenarios]
        problems = [f"scenario(s) {unknown} not available here"] if unknown else []
        fix = ""
        if source and source.startswith("hf:") and importlib.util.find_spec("datasets") is None:
            problems.append(f"dataset {source} needs the 'datasets' package and network access")
            fix = "pip install datasets, or --dataset-source PATH.csv"
        if try_load and not problems:
            base_dir = spec.source_dir or Path.cwd()
            try:
                if task_class(spec.kind).needs_model:
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
    checks = software_checks() + engine_checks() + hardware_checks(probe_system()) + task_checks()
    _emit(checks, args.json)
    engines_ok = any(c.ok for c in checks if c.section == "engines")
    required_ok = all(c.ok is not False for c in checks if c.section == "software")
    return 0 if engines_ok and required_ok else 1


def run_task_check(args: argparse.Namespace) -> int:
    """``ob task check NAME``: can this task run here (definition, dataset)."""
    checks = task_checks(args.name, try_load=True)
    _emit(checks, args.json)
    return 1 if any(c.ok is False for c in checks) else 0


def run_check(args: argparse.Namespace) -> int:
    """``ob check``: the earlier spelling of ``ob doctor`` (``--system``) and ``ob task check`` (``--task``)."""
    checks: list[Check] = []
    if args.system:
        checks += software_checks() + engine_checks() + hardware_checks(probe_system())
    if args.task:
        checks += task_checks(args.task, try_load=True)
    if not checks:
        print("ob check: say what to check: --system and/or --task NAME (or: ob doctor, ob task check NAME)")
        return 2
    _emit(checks, args.json)
    failed = [c for c in checks if c.ok is False and (c.section in ("tasks", "software"))]
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = subparsers.add_parser("doctor", help="what is installed, and which engines, tasks and hardware "
                                                  "profiles are usable here (and how to fix the others)")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(func=run_doctor)
    check = subparsers.add_parser("check", description="The earlier spelling of ob doctor and ob task check.")
    check.add_argument("--system", action="store_true", help="software, engines and hardware profiles")
    check.add_argument("--task", default=None, metavar="NAME", help="can this task run here (definition, dataset)")
    check.add_argument("--json", action="store_true", help="print the checks as JSON")
    check.set_defaults(func=run_check)
