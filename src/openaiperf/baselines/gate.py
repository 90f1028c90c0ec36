"""The baseline gate of a case: tolerances, options, the configuration check, save and compare.

Tolerances (relative, e.g. 0.05 = 5%) come from, in rising priority:
:data:`DEFAULT_TOLERANCES`, the task file (``metrics.performance[].tolerance``),
and ``--tolerance metric=value`` on the command line. A metric's direction is
its :class:`~openaiperf.metrics.Metric` ``better``. Quality gates are not here:
they are deterministic and live with the task (:mod:`openaiperf.tasks.quality`).

What the outcomes do: a regression fails the case; an inconclusive verdict
passes with a note saying what would settle it (``--baseline-strict`` fails it);
a baseline whose configuration differs is refused, naming each difference
(``--baseline-force`` compares anyway, still naming them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openaiperf.baselines import (
    CONFIRM_ROUNDS,
    MAX_BASELINE_RUNS,
    MIN_BASELINE_ROUNDS,
    Baseline,
    BaselineError,
)
from openaiperf.baselines.ab import ab_settings
from openaiperf.baselines.compare import (
    ALPHA,
    DRIFT,
    CaseComparison,
    Outcome,
    baseline_from_case,
    compare_case,
    judged_side,
    stalled_note,
)
from openaiperf.baselines.fingerprint import Difference, differences, for_result
from openaiperf.baselines.json_store import JsonBaselineStore
from openaiperf.baselines.settings import BaselineSettings
from openaiperf.errors import ConfigError
from openaiperf.metrics.catalogue import catalogue
from openaiperf.result import BaselineVerdict, CaseResult, Fingerprint

if TYPE_CHECKING:
    from openaiperf.runner import CaseRunner

#: relative tolerance per gated metric, as the metric catalogue declares it. 5% sits
#: between what a shared machine's run-to-run drift reaches and the 10% per-token
#: slowdown the gate must catch (a 10% tolerance cannot flag a 10% slowdown: half its
#: estimates fall below it); docs/baselines-and-reports.md shows the trade-off
#: measured. TTFT gets 10% (the catalogue says why); requests/s is not gated.
DEFAULT_TOLERANCES: dict[str, float] = catalogue.tolerances()


def check_settings(settings: BaselineSettings, repeats: int) -> None:
    """Start-up checks of the baseline options that span several (a ConfigError names the option)."""
    ab_settings(settings)  # the A/B options, and no stored baseline beside them
    if settings.save is not None and settings.append is not None:
        raise ConfigError("give one of --baseline-save (replace) and --baseline-append (add this run)",
                          source="--baseline-append")
    for flag, given in (("--baseline-save", settings.save), ("--baseline-append", settings.append)):
        if given is not None and repeats < MIN_BASELINE_ROUNDS:
            raise ConfigError(f"a baseline carries its rounds' spread and needs --repeats >= {MIN_BASELINE_ROUNDS} "
                              f"(got --repeats {repeats})", source=flag)


def resolve_tolerances(task_spec: Any = None, overrides: dict[str, float] | None = None) -> dict[str, float]:
    tolerances = catalogue.tolerances()  # at call time: a metric declared after import is gated too
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
    append: bool = False  # add this run's rounds to the stored baseline instead of replacing it
    required: bool = False
    force: bool = False
    strict: bool = False
    tolerances: dict[str, float] = field(default_factory=dict)  # command-line overrides
    alpha: float = ALPHA
    drift: float = DRIFT  # assumed run-to-run drift of a one-run baseline
    confirm: int = CONFIRM_ROUNDS  # rounds measured more to confirm a regression (0: none)


@dataclass
class GateOutcome:
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    comparison: CaseComparison | None = None
    differences: list[Difference] = field(default_factory=list)
    refused: bool = False
    saved: str | None = None

    @property
    def outcome(self) -> Outcome | None:
        return self.comparison.outcome if self.comparison is not None else None

    def to_result(self) -> BaselineVerdict:
        """The case's ``baseline`` entry in its result."""
        return BaselineVerdict(
            outcome=self.outcome, verdict=self.outcome, settle=self.comparison.settle if self.comparison else "",
            refused=self.refused, differences=[d.to_result() for d in self.differences],
            failures=list(self.failures), notes=list(self.notes), saved=self.saved,
            comparison=self.comparison.to_result() if self.comparison else None)


def refusal_text(baseline: Baseline, refusing: Sequence[Difference], force_option: str) -> str:
    return (f"refusing to compare with {baseline.source}: the configuration differs ("
            + "; ".join(d.text() for d in refusing) + f"); pass {force_option} to compare anyway")


def judge(baseline: Baseline, current: Baseline, settings: GateSettings, *, task_spec: Any = None,
          force_option: str = "--baseline-force") -> GateOutcome:
    """The configuration check, then the comparison of a run's case with its baseline."""
    outcome = GateOutcome()
    outcome.differences = differences(baseline.fingerprint, current.fingerprint)
    refusing = [d for d in outcome.differences if d.refuses]
    if refusing and not settings.force:
        outcome.refused = True
        outcome.failures.append(f"baseline: {refusal_text(baseline, refusing, force_option)}")
        return outcome
    if refusing:
        outcome.notes.append(f"baseline: compared although the configuration differs ({force_option}): "
                             + "; ".join(d.text() for d in refusing))
    if noted := [d for d in outcome.differences if not d.refuses]:
        outcome.notes.append("baseline: measured with a different " + "; ".join(d.text() for d in noted))
    tolerances = resolve_tolerances(task_spec, settings.tolerances)
    comparison = compare_case(baseline, current, tolerances, alpha=settings.alpha, drift=settings.drift)
    outcome.comparison = comparison
    absent = sorted(set(settings.tolerances) - {m.metric for m in comparison.metrics})
    if absent:
        outcome.notes.append(f"baseline: --tolerance for {', '.join(absent)}: no such metric in this case")
    outcome.failures.extend(f"performance regression: {m.message()}" for m in comparison.regressions)
    if comparison.outcome is Outcome.INCONCLUSIVE:
        detail = "; ".join(m.message() for m in comparison.inconclusive) or comparison.settle
        line = f"baseline inconclusive: {detail}"
        if settings.strict:
            outcome.failures.append(f"{line} (--baseline-strict fails an inconclusive verdict)")
        else:
            outcome.notes.append(line)
    return outcome


def appended(stored: Baseline, current: Baseline, run_id: str) -> Baseline:
    """``stored`` with the rounds of ``current`` (run ``run_id``, replacing that run if
    it was added before) added, keeping the last :data:`MAX_BASELINE_RUNS` runs; the
    metrics shown are the newest run's."""
    earlier = [r for r in stored.tagged("earlier").rounds if r.run != run_id]
    rounds = earlier + current.tagged(run_id).rounds
    keep = set(list(dict.fromkeys(r.run for r in rounds))[-MAX_BASELINE_RUNS:])
    return Baseline(case_id=current.case_id, hardware=current.hardware, metrics=current.metrics,
                    rounds=[r for r in rounds if r.run in keep], fingerprint=current.fingerprint,
                    case=current.case, settings=current.settings)


def save(current: Baseline, settings: GateSettings, run_id: str) -> tuple[str | None, str | None]:
    """Store ``current`` as the baseline, or add it to the stored one (``append``);
    (path, None) or (None, why not)."""
    if settings.save_root is None:
        return None, "not saved: no baseline folder given"
    store = JsonBaselineStore(settings.save_root)
    tagged = current.tagged(run_id)
    if settings.append:
        try:
            stored = store.load(current.hardware, current.case_id)
        except BaselineError as exc:
            return None, f"not appended: {exc}"
        if stored is not None:
            refusing = [d for d in differences(stored.fingerprint, current.fingerprint) if d.refuses]
            if refusing:
                return None, ("not appended: the stored baseline's configuration differs ("
                              + "; ".join(d.text() for d in refusing) + "); --baseline-save replaces it")
            tagged = appended(stored, current, run_id)
    try:
        return str(store.save(tagged)), None
    except BaselineError as exc:
        return None, f"not saved: {exc}"


def gate(current: Baseline, settings: GateSettings, *, task_spec: Any = None, passed: bool = True,
         run_id: str = "", judged: Baseline | None = None) -> GateOutcome:
    """Compare ``current`` (as ``judged``: its rounds the gate judges, when given) with its
    stored baseline (if asked), then save it (if asked)."""
    outcome = GateOutcome()
    if settings.compare_root is not None:
        try:
            baseline = JsonBaselineStore(settings.compare_root).load(current.hardware, current.case_id)
        except BaselineError as exc:
            baseline = None
            outcome.failures.append(f"baseline: {exc}")
        else:
            if baseline is None:
                where = JsonBaselineStore(settings.compare_root).path_for(current.hardware, current.case_id)
                message = f"no baseline for {current.case_id} on {current.hardware} (looked for {where})"
                (outcome.failures if settings.required else outcome.notes).append(f"baseline: {message}")
            else:
                outcome = judge(baseline, judged or current, settings, task_spec=task_spec)
    if settings.save_root is not None:
        if not passed or outcome.failures:
            outcome.notes.append("baseline: not saved, the case failed")
        else:
            outcome.saved, why_not = save(current, settings, run_id)
            if why_not:
                outcome.failures.append(f"baseline: {why_not}")
    return outcome


# -- pytest glue --------------------------------------------------------------------------
def settings_from_session(session: Any) -> GateSettings:
    """The gate's settings of the session's typed baseline settings (folders under the rootdir)."""
    given: BaselineSettings = session.baseline
    root = Path(session.config.rootpath)

    def where(value: str | None) -> Path | None:
        if value is None:
            return None
        path = Path(value) if value else Path("baselines")
        return path if path.is_absolute() else root / path

    compare = "" if given.compare is None and given.required else given.compare
    save_to = given.save if given.append is None else given.append
    return GateSettings(compare_root=where(compare), save_root=where(save_to), append=given.append is not None,
                        required=given.required, force=given.force, strict=given.strict,
                        tolerances=dict(given.tolerances), alpha=given.alpha, drift=given.drift,
                        confirm=given.confirm)


def rounds_to_confirm(runner: CaseRunner, session: Any) -> tuple[int, str]:
    """How many rounds to measure more before the verdict, and the note saying why:
    ``--baseline-confirm`` when the rounds the runner measured so far (before the case
    finishes: :meth:`~openaiperf.runner.CaseRunner.rounds_so_far`) make a regression
    against the stored baseline, else ``(0, "")``. The verdict is then on every round: a
    regression stands only if the new rounds bear it out, so a round a hiccup of the
    machine inflated does not fail the case alone, while a real slowdown, in every round,
    still does. Confirming can only lower the false-alarm rate: a regression needs the
    verdict on all rounds, which is the gate's test at that round count."""
    settings = settings_from_session(session)
    if settings.compare_root is None or settings.confirm <= 0:
        return 0, ""
    try:
        baseline = JsonBaselineStore(settings.compare_root).load(runner.result.hardware, runner.result.id)
    except BaselineError:
        return 0, ""  # the verdict reports it
    if baseline is None:
        return 0, ""
    result = runner.rounds_so_far()
    current, _ = judged_side(result)
    if not current.rounds:
        return 0, ""
    tolerances = resolve_tolerances(session.tasks.get(result.task), settings.tolerances)
    comparison = compare_case(baseline, current, tolerances, alpha=settings.alpha, drift=settings.drift)
    if comparison.outcome is not Outcome.REGRESSION:
        return 0, ""
    return settings.confirm, (f"baseline: the {len(current.rounds)} round(s) measured made a regression "
                              f"({', '.join(m.metric for m in comparison.regressions)}); {settings.confirm} more "
                              "round(s) measured to confirm it (--baseline-confirm): the verdict is on every round")


def gate_case_result(result: CaseResult, session: Any,
                     fingerprint: Fingerprint | None = None) -> BaselineVerdict | None:
    """Called after ``CaseRunner.finish()``: compares/saves the case's baseline,
    adds gate failures and notes to the result, and returns its ``baseline`` entry
    (None when no baseline option is given)."""
    settings = settings_from_session(session)
    if settings.compare_root is None and settings.save_root is None:
        return None
    if fingerprint is None:
        fingerprint = for_result(result, session)
    current = baseline_from_case(result, fingerprint)
    judged, stalled = judged_side(result, fingerprint)
    outcome = gate(current, settings, task_spec=session.tasks.get(result.task),
                   passed=result.status == "passed", run_id=session.ensure_run_dir().name, judged=judged)
    if stalled and settings.compare_root is not None:
        outcome.notes.append(stalled_note(stalled))
    result.failures.extend(outcome.failures)
    result.notes.extend(outcome.notes)
    if outcome.failures and result.status == "passed":
        result.status = "failed"
    return outcome.to_result()
