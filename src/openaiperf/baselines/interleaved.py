"""Measuring a case interleaved on two targets (:mod:`openaiperf.baselines.ab` judges it).

Two :class:`~openaiperf.runner.CaseRunner` objects, A (the case as collected) and B (the
same case with the B side's engine options, its id tagged ``[ab=B]`` so that its records
and prompt tags are its own: a server that is both sides never sees a measured prompt
twice), are both warmed up before the first measured round; then pair ``i`` runs A then
B (even ``i``) or B then A (odd ``i``), and the verdict is looked at on the schedule of
:func:`~openaiperf.baselines.ab.looks`, stopping at the first look that decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openaiperf.baselines.ab import ABSettings, ABVerdict, compare_pairs, differing, looks, side_order
from openaiperf.baselines.compare import judged_rounds
from openaiperf.matrix import Case
from openaiperf.redact import redact
from openaiperf.result import ABComparison, ABSide, CaseResult, Outcome

if TYPE_CHECKING:
    from openaiperf.runner import CaseRunner

#: the variant tag of the B side's case
B_VARIANT = "ab=B"


def b_case(case: Case, settings: ABSettings) -> Case:
    """The B side of ``case``: its engine options with the A/B overrides, its own id."""
    from dataclasses import replace

    variant = f"{case.variant},{B_VARIANT}" if case.variant else B_VARIANT
    return replace(case, engine_options=settings.b_engine_options(case.engine, case.engine_options), variant=variant)


@dataclass
class Interleaved:
    """What :func:`measure_interleaved` leaves: the last look's verdict and the order run."""

    verdict: ABVerdict
    order: str


def judged_values(runner: CaseRunner) -> list[dict[str, Any]]:
    """The side's rounds so far, a round the client stalled in at every attempt emptied (its
    pair is then left out of the paired test)."""
    rounds, stalled = judged_rounds(runner.rounds_so_far())
    for index in stalled:
        rounds.insert(index, {})
    return rounds


def measure_interleaved(a: CaseRunner, b: CaseRunner, settings: ABSettings, tolerances: dict[str, float],
                        *, hardware: str = "", on_round: Callable[[str, int], None] | None = None) -> Interleaved:
    """Warm both sides up, then measure pairs of rounds in the balanced order until a look
    decides or ``settings.rounds`` pairs are measured."""
    a.prepare()
    b.prepare()
    schedule = set(looks(settings.rounds))
    order = ""
    verdict: ABVerdict | None = None
    for pair in range(settings.rounds):
        for side in side_order(pair):
            (a if side == "A" else b).measure_round(pair)
            order += side
            if on_round is not None:
                on_round(side, pair)
        if pair + 1 in schedule:
            a_rounds = judged_values(a)
            verdict = compare_pairs(a_rounds, judged_values(b), a.rounds_so_far().metrics, tolerances,
                                    max_pairs=settings.rounds, alpha=settings.alpha, case_id=a.case.id,
                                    source=f"A ({differing(b.case.engine_options, a.case.engine_options)})",
                                    hardware=hardware)
            if verdict.decided:
                break
    assert verdict is not None  # the last pair is always a look
    return Interleaved(verdict, order)


def side(name: str, runner: CaseRunner, result: CaseResult, other: CaseRunner) -> ABSide:
    return ABSide(name=name,  # type: ignore[arg-type]  # "A" or "B"
                  target=differing(other.case.engine_options, runner.case.engine_options),
                  engine_options=redact(dict(runner.case.engine_options)), case_id=runner.case.id,
                  records_file=result.records_file, metrics=dict(result.metrics), rounds=list(result.rounds))


def ab_result(measured: Interleaved, a: tuple[CaseRunner, CaseResult], b: tuple[CaseRunner, CaseResult],
              settings: ABSettings) -> ABComparison:
    """The case's ``ab`` entry."""
    verdict = measured.verdict
    comparison = verdict.comparison
    outcome = comparison.outcome
    return ABComparison(
        a=side("A", a[0], a[1], b[0]), b=side("B", b[0], b[1], a[0]), order=measured.order, pairs=verdict.pairs,
        max_pairs=settings.rounds, looks=verdict.looks, alpha_per_look=verdict.alpha_per_look,
        stopped=verdict.stopped(), outcome=outcome, verdict=outcome, settle=comparison.settle,
        summary=f"B vs A: {comparison.summary()}; {verdict.stopped()}", pair_ratios=verdict.pair_ratios,
        comparison=comparison.to_result())


def apply_verdict(result: CaseResult, entry: ABComparison, b_result: CaseResult, settings: ABSettings) -> None:
    """The A/B outcome in the case's failures and notes (a regression fails it; an
    inconclusive verdict passes with what would settle it unless ``--baseline-strict``)."""
    result.ab = entry
    result.failures.extend(f"B side: {failure}" for failure in b_result.failures)
    if b_result.error:
        result.failures.append(f"B side: {b_result.error}")
    result.notes.append(f"A/B: {entry.summary}")
    metrics = entry.comparison.metrics
    if entry.outcome is Outcome.REGRESSION:
        result.failures.extend(f"A/B regression: {m.message}" for m in metrics if m.outcome is Outcome.REGRESSION)
    elif entry.outcome is Outcome.INCONCLUSIVE:
        detail = "; ".join(m.message for m in metrics if m.outcome is Outcome.INCONCLUSIVE) or entry.settle
        line = f"A/B inconclusive: {detail}"
        if settings.strict:
            result.failures.append(f"{line} (--baseline-strict fails an inconclusive verdict)")
        else:
            result.notes.append(line)
    if result.failures and result.status == "passed":
        result.status = "failed"
