"""The baseline gate of a case: tolerances, the hardware check, save and compare.

Tolerances (relative, e.g. 0.10 = 10%) come from, in rising priority:
:data:`DEFAULT_TOLERANCES`, the task file (``metrics.performance[].tolerance``),
and ``--tolerance metric=value`` on the command line. A metric's direction is
its :class:`~openaiperf.metrics.Metric` ``better``. Quality gates are not here:
they are deterministic and live with the task (:mod:`openaiperf.tasks.quality`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from openaiperf.baselines import Baseline, BaselineError
from openaiperf.baselines.compare import ALPHA, CaseComparison, baseline_from_case, compare_case
from openaiperf.baselines.json_store import JsonBaselineStore
from openaiperf.errors import ConfigError

#: relative tolerance per metric; wide enough for run-to-run noise on a shared
#: machine, narrow enough that a 15% slowdown is caught.
DEFAULT_TOLERANCES: dict[str, float] = {
    "ttft_p50": 0.10, "ttft_p90": 0.10,
    "tpot_p50": 0.10, "tpot_p90": 0.10,
    "e2e_p50": 0.10, "e2e_p90": 0.10,
    "output_tokens_per_s": 0.10, "requests_per_s": 0.10,
}


def parse_tolerances(items: Sequence[str], option: str = "--tolerance") -> dict[str, float]:
    """``["ttft_p90=0.05", ...]`` -> {"ttft_p90": 0.05}; a bad item names the option."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not sep or not name.strip() or not 0 < number < 10:
            raise ConfigError(f"expected METRIC=FRACTION with 0 < FRACTION < 10 (e.g. ttft_p90=0.05), got {item!r}",
                              source=option)
        out[name.strip()] = number
    return out


def resolve_tolerances(task_spec: Any = None, overrides: dict[str, float] | None = None) -> dict[str, float]:
    tolerances = dict(DEFAULT_TOLERANCES)
    if task_spec is not None:
        for metric in task_spec.metrics.performance:
            if metric.tolerance is not None:
                tolerances[metric.name] = metric.tolerance
    tolerances.update(overrides or {})
    return tolerances


@dataclass
class GateSettings:
    compare_root: Path | None = None  # None: no comparison
    save_root: Path | None = None  # None: do not save
    required: bool = False
    force: bool = False
    tolerances: dict[str, float] = field(default_factory=dict)  # command-line overrides
    alpha: float = ALPHA


@dataclass
class GateOutcome:
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    comparison: CaseComparison | None = None
    saved: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"failures": self.failures, "notes": self.notes, "saved": self.saved,
                **({"comparison": self.comparison.to_json()} if self.comparison else {})}


def hardware_mismatch(baseline: Baseline, hardware: str, force: bool) -> str | None:
    if baseline.hardware == hardware or force:
        return None
    return (f"baseline {baseline.source} was measured on hardware profile {baseline.hardware!r}, this run on "
            f"{hardware!r}: refusing to compare across hardware (pass --baseline-force to compare anyway)")


def gate(current: Baseline, settings: GateSettings, *, task_spec: Any = None, passed: bool = True) -> GateOutcome:
    """Compare ``current`` with its stored baseline (if asked), then save it (if asked)."""
    outcome = GateOutcome()
    if settings.compare_root is not None:
        try:
            baseline = JsonBaselineStore(settings.compare_root).load(current.hardware, current.case_id)
        except BaselineError as exc:
            baseline = None
            outcome.failures.append(f"baseline: {exc}")
        else:
            if baseline is None:
                where = settings.compare_root / current.hardware / f"{current.case_id}.json"
                message = f"no baseline for {current.case_id} on {current.hardware} (looked for {where})"
                (outcome.failures if settings.required else outcome.notes).append(f"baseline: {message}")
            elif (refusal := hardware_mismatch(baseline, current.hardware, settings.force)) is not None:
                outcome.failures.append(f"baseline: {refusal}")
            else:
                tolerances = resolve_tolerances(task_spec, settings.tolerances)
                comparison = compare_case(baseline, current, tolerances, alpha=settings.alpha)
                outcome.comparison = comparison
                outcome.notes.extend(f"baseline: {n}" for n in comparison.notes)
                outcome.failures.extend(f"performance regression: {m.message()}" for m in comparison.regressions)
                untested = [m.metric for m in comparison.metrics if m.verdict == "untested"]
                if untested:
                    outcome.notes.append(f"baseline: {len(untested)} metric(s) beyond tolerance could not be tested "
                                         f"for significance (one round; use --repeats >= 2): {', '.join(untested)}")
    if settings.save_root is not None:
        if passed and not outcome.failures:
            outcome.saved = str(JsonBaselineStore(settings.save_root).save(current))
        else:
            outcome.notes.append("baseline: not saved, the case failed")
    return outcome


# -- pytest glue --------------------------------------------------------------------------
def settings_from_session(session: Any) -> GateSettings:
    option = session.option
    root = Path(session.config.rootpath)

    def where(value: str | None) -> Path | None:
        if value is None:
            return None
        path = Path(value) if value else Path("baselines")
        return path if path.is_absolute() else root / path

    compare = option("baseline_compare")
    if compare is None and option("baseline_required"):
        compare = ""
    return GateSettings(compare_root=where(compare), save_root=where(option("baseline_save")),
                        required=bool(option("baseline_required")), force=bool(option("baseline_force")),
                        tolerances=parse_tolerances(option("tolerance") or []))


def gate_case_result(result: Any, session: Any) -> dict[str, Any] | None:
    """Called after ``CaseRunner.finish()``: compares/saves the case's baseline,
    adds gate failures to the result, and returns the ``baseline`` entry for
    results.json (None when no baseline option is given)."""
    settings = settings_from_session(session)
    if settings.compare_root is None and settings.save_root is None:
        return None
    from openaiperf.records import read_records

    case = result.to_json()
    records_path = session.ensure_run_dir() / case["records_file"] if case.get("records_file") else None
    records = read_records(records_path) if records_path and records_path.exists() else []
    current = baseline_from_case(case, records)
    outcome = gate(current, settings, task_spec=session.tasks.get(result.case.task),
                   passed=result.status == "passed")
    result.failures.extend(outcome.failures)
    result.notes.extend(outcome.notes)
    if outcome.failures and result.status == "passed":
        result.status = "failed"
    return outcome.to_json()
