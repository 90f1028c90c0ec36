"""The state one case's runner holds, built once from the case and its fixtures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openaiperf.engines import Engine
from openaiperf.hardware import HardwareProfile
from openaiperf.matrix import Case
from openaiperf.models import ModelSpec
from openaiperf.monitor.case import CaseMonitor
from openaiperf.monitor.prometheus import ServerMetricsTracker
from openaiperf.paths import name_in
from openaiperf.profiling import create_case_profiler
from openaiperf.progress import CaseProgress
from openaiperf.records import Record, Workload
from openaiperf.result import CaseResult, SystemInfo
from openaiperf.runner.settings import RunSettings
from openaiperf.scenarios import ScenarioRun, create_scenario, scenario_config
from openaiperf.tasks import Sample, Task


def round_tag(case_id: str, round_index: int, attempt: int = 0, salt: str = "") -> str:
    """A short tag unique to a run (its ``salt``), a case, a round and an attempt at it
    (see :meth:`openaiperf.tasks.Task.for_round`); every tag of a case has the same
    length, so a round measured again sends prompts as long as the first attempt's.
    Round -1 is the warmup."""
    import hashlib

    key = case_id if attempt == 0 else f"{case_id}#attempt{attempt}"
    if salt:
        key = f"{salt}/{key}"
    return f"[{hashlib.sha256(key.encode()).hexdigest()[:8]} r{round_index}]"


class RunnerState:
    """What one case holds while it runs: the case, its task, engine, model and hardware,
    its result so far, its records file, its monitor and profiler, its scenario. The
    runner's parts (rounds, stall retries, metric assembly, batch invariance, gates) each
    add their methods on top of it."""

    def __init__(self, case: Case, *, task: Task, engine: Engine, model: ModelSpec, hardware: HardwareProfile,
                 system: SystemInfo | None,
                 dtype: str, run_dir: Path, settings: RunSettings, progress: CaseProgress | None = None) -> None:
        self.case = case
        #: the live progress line (draws nothing unless given a terminal)
        self.progress = progress if progress is not None else CaseProgress(case.id, None)
        self.task = task
        self.engine = engine
        self.model = model
        self.hardware = hardware
        self.system = system
        self.dtype = dtype
        self.settings = settings
        self.result = CaseResult.for_case(case, hardware.name)
        self.records_path = name_in(run_dir / "records", case.id, field="case id", suffix=".jsonl")
        self.records_path.unlink(missing_ok=True)
        self.result.records_file = str(self.records_path.relative_to(run_dir))
        self.samples: list[Sample] = []
        self.requests: Workload = []
        self.runs: list[ScenarioRun] = []
        self.run_dir = run_dir
        gpu = hardware.device != "cpu"
        # A server's own /metrics, scraped around each round and on an interval.
        endpoint = engine.metrics_endpoint()
        self.server_metrics = ServerMetricsTracker(*endpoint) if endpoint is not None else None
        self.monitor = CaseMonitor(case.id, run_dir, enabled=settings.monitor, interval_s=settings.monitor_interval_s,
                                   metrics=("cpu", "gpu") if gpu else ("cpu",), prometheus=endpoint)
        #: each round's requests (the task's, as tagged for that round)
        self.round_requests: list[Workload] = []

        self.profiler = create_case_profiler(settings.profile, case.id, run_dir)
        # Online scenarios fall back to the task's SLA defaults.
        self.scenario = create_scenario(case.scenario, scenario_config(
            case.scenario_options, source=f"case {case.id}: scenario options",
            max_error_rate=settings.max_error_rate, task_sla=dict(task.spec.sla)))

    def round_tag(self, round_index: int, attempt: int = 0) -> str:
        """This case's tag of a round and an attempt at it, from the run's salt."""
        return round_tag(self.case.id, round_index, attempt, self.settings.salt)

    def complete_records(self, records: Sequence[Record]) -> bool:
        """The engine's after-round step (e.g. the openai engine counts tokens per
        chunk with the client tokenizer here, off the event loop that timed them);
        True when it changed the records."""
        return bool(self.engine.complete_records(records))
