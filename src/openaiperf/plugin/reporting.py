"""The reporting half of the pytest plugin (registered by :mod:`openaiperf.plugin.session`).

- end of session: the report writers (:data:`openaiperf.report.writers`: the
  results history, ``report.html``, ``pr-comment.md`` and ``$GITHUB_STEP_SUMMARY``,
  Allure's ``environment.properties`` and ``categories.json``...);
- pytest-xdist: the controller makes the run folder and hands it to the workers;
  each worker writes its own ``results.<worker>.json`` and the controller merges
  them into one ``results.json`` as workers finish; each worker is pinned to one
  GPU (``CUDA_VISIBLE_DEVICES`` from its id) and ``-n auto`` means one worker per GPU.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from openaiperf.plugin.session import SESSION_KEY
from openaiperf.redact import redact
from openaiperf.report import RunReport, run_writers
from openaiperf.report.results import read_results, results_document

RUN_DIR_KEY = "openaiperf_run_dir"


# -- GPUs ---------------------------------------------------------------------------------
def gpu_count() -> int:
    """Visible NVIDIA GPUs (nvml, else torch if already imported), 0 without any."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        pass
    import sys

    torch = sys.modules.get("torch")
    try:
        return int(torch.cuda.device_count()) if torch is not None else 0
    except Exception:
        return 0


def worker_gpu(worker_id: str, visible: str | None, count: int) -> str | None:
    """The CUDA_VISIBLE_DEVICES of worker ``gwN``: the N-th visible GPU (round robin)."""
    if count <= 0 or not worker_id.startswith("gw") or not worker_id[2:].isdigit():
        return None
    devices = [d.strip() for d in visible.split(",")] if visible else [str(i) for i in range(count)]
    return devices[int(worker_id[2:]) % len(devices)]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    count = gpu_count()
    return count or None  # None: xdist's own rule (CPU count)


# -- xdist: one run folder, one results.json ---------------------------------------------
def _session(config: pytest.Config) -> Any:
    return config.stash.get(SESSION_KEY, None)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    session = _session(node.config)
    if session is not None:
        node.workerinput[RUN_DIR_KEY] = str(session.ensure_run_dir())


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not is_worker(config):
        return
    workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]  # set by pytest-xdist
    worker_id = workerinput.get("workerid", "gw0")
    gpu = worker_gpu(worker_id, os.environ.get("CUDA_VISIBLE_DEVICES"), gpu_count())
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    bench = _session(config)
    if bench is not None and RUN_DIR_KEY in workerinput:
        bench.run_dir = Path(workerinput[RUN_DIR_KEY])
        bench.results_name = f"results.{worker_id}.json"


def merge_worker_results(bench: Any, worker_id: str) -> int:
    """Add a worker's partial results to the controller's; returns how many."""
    if bench.run_dir is None:
        return 0
    partial = bench.run_dir / f"results.{worker_id}.json"
    if not partial.exists():
        return 0

    cases = read_results(partial).cases
    known = {c.id for c in bench.results}
    new = [c for c in cases if c.id not in known]
    bench.results.extend(new)
    bench.write_results()
    return len(new)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    bench = _session(node.config)
    worker_id = getattr(node, "workerinput", {}).get("workerid") or getattr(node.gateway, "id", "")
    if bench is not None and worker_id:
        merge_worker_results(bench, worker_id)


# -- pytest-benchmark's JSON ----------------------------------------------------------------
@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    """pytest-benchmark writes each case's parameters (the matrix case, with its engine
    options), the machine and the commit as they are: a case is written as its id, and
    secrets are masked in the rest. Its ``extra_info`` holds only our metrics."""
    for key in ("machine_info", "commit_info"):
        if key in output_json:
            output_json[key] = redact(output_json[key])
    for bench in output_json.get("benchmarks", []):
        params = bench.get("params")
        if isinstance(params, dict):
            # a matrix case is named by its id (its options are in results.json, redacted there)
            bench["params"] = {name: redact(value.id if hasattr(value, "to_json") and hasattr(value, "id")
                                            else value) for name, value in params.items()}
        for key in ("param", "name", "fullname", "options"):
            if key in bench:
                bench[key] = redact(bench[key])


# -- end of session -----------------------------------------------------------------------
REPORTS_KEY = pytest.StashKey[list[Path]]()
LINES_KEY = pytest.StashKey[list[tuple[str, bool]]]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    bench = _session(config)
    if bench is None or is_worker(config):
        return

    if not bench.results and bench.run_dir is not None and bench.run_dir.is_dir() \
            and not any(bench.run_dir.iterdir()):
        # Made for xdist's workers before collection, and no case ran (a session of ordinary
        # tests with the plugin installed): no empty run folder is left beside the real ones.
        bench.run_dir.rmdir()
        bench.run_dir = None
    # Writers that need no results (Allure's run files) run in a session without any too.
    if bench.results and bench.run_dir is not None:
        report = bench.report()
    else:
        report = RunReport(run_dir=Path(config.rootpath), document=results_document(bench.system, {}, []),
                           hardware=bench.hardware.name if bench.hardware else "?", root=Path(config.rootpath),
                           option=bench.option)
    config.stash[REPORTS_KEY] = run_writers("session", report)
    config.stash[LINES_KEY] = report.lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    for path in config.stash.get(REPORTS_KEY, []):
        terminalreporter.write_line(f"report: {os.path.relpath(path)}")
    for text, highlighted in config.stash.get(LINES_KEY, []):
        terminalreporter.write_line(text, yellow=highlighted)
