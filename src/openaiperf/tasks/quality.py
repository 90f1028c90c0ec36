"""Quality targets, MLPerf style: a score must reach ``min_ratio`` of the stored
reference for the model (ROUGE ≥ 99%), and two-sided metrics (tokens per
sample) must stay within ``tolerance`` of it. A reference applies only to the
sample set it was measured on (its fingerprint); on another subset the scores
are reported but not gated.

The fingerprint is that of the samples the case *asked for*, not of the ones
that were answered: a sample whose request failed scores the worst its task
allows (ROUGE 0, no tokens; perplexity: see its task) and lowers the score,
instead of changing the sample set and so switching the gate off in silence."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from openaiperf.records import Record
from openaiperf.tasks import QualityResult, Sample, TaskSpec


def record_per_sample(samples: Sequence[Sample], records: Sequence[Record]) -> dict[str, Record | None]:
    """Each requested sample's record: the first measured one for it (online
    scenarios repeat samples to reach their query count); None when the sample
    has none (its request never completed)."""
    wanted = {s.id for s in samples}
    first: dict[str, Record] = {}
    for record in records:
        if record.sample_id in wanted:
            first.setdefault(record.sample_id, record)
    return {s.id: first.get(s.id) for s in samples}


def check_exact_output_tokens(samples: Sequence[Sample], records: Sequence[Record], result: QualityResult) -> None:
    """The ``exact_output_tokens`` check of the workloads that ask for set output lengths
    (``ignore_eos``): every successful request generated exactly its sample's
    ``output_tokens``. A failed request is counted once, by the error rate
    (``--max-error-rate``), not a second time here."""
    by_id = {s.id: s for s in samples}
    answered = [r for r in records if r.sample_id in by_id and r.ok]
    short = [r.request_id for r in answered if (r.output_tokens or 0) != by_id[r.sample_id].fields["output_tokens"]]
    result.checks["exact_output_tokens"] = (
        not short, f"every successful request ({len(answered)}) generated exactly its requested tokens" if not short
        else f"{len(short)} request(s) did not generate their requested token count: {short[:3]}")


def failed_samples(per_sample: dict[str, Record | None]) -> list[str]:
    """Ids of the samples whose request failed or never completed."""
    return [sample_id for sample_id, record in per_sample.items() if record is None or not record.ok]


def sample_fingerprint(sample_ids: Sequence[str], max_new_tokens: int) -> str:
    text = "\n".join(sorted(sample_ids)) + f"\nmax_new_tokens={max_new_tokens}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def apply_targets(spec: TaskSpec, model_name: str | None, fingerprint: str, result: QualityResult) -> None:
    """Fill ``result.checks`` from the task's quality targets (``model_name``: whose references; None: none)."""
    reference: dict[str, Any] = spec.references.get(model_name, {}) if model_name is not None else {}
    same_samples = reference.get("samples") == fingerprint
    result.details["reference_fingerprint"] = reference.get("samples")
    result.details["sample_fingerprint"] = fingerprint
    for target in spec.metrics.quality:
        score = result.scores.get(target.name)
        if score is None:
            result.checks[target.name] = (False, f"{target.name}: no score was computed")
            continue
        lower_better = bool(target.lower_is_better)
        if target.target == "reference":
            if target.name not in reference:
                result.details.setdefault("not_gated", []).append(
                    f"{target.name}: no stored reference for {model_name}"
                )
                continue
            if not same_samples:
                result.details.setdefault("not_gated", []).append(
                    f"{target.name}: the reference was measured on another sample set"
                )
                continue
            ref = float(reference[target.name])
            ratio = score / ref if ref else float("inf")
            if target.tolerance is not None and lower_better:
                # One-sided (perplexity): at most reference × (1 + tolerance).
                ok = ratio <= 1.0 + target.tolerance
                rule = f"≤ reference × {1.0 + target.tolerance:g}"
            elif target.tolerance is not None:
                ok = abs(ratio - 1.0) <= target.tolerance
                rule = f"within ±{target.tolerance:.0%} of reference"
            elif lower_better:
                ok = ratio <= 1.0 / target.min_ratio
                rule = f"≤ reference / {target.min_ratio:g}"
            else:
                ok = ratio >= target.min_ratio
                rule = f"≥ {target.min_ratio:.0%} of reference"
            result.checks[target.name] = (
                ok,
                f"{target.name} = {score:.4f}, reference {ref:.4f}, ratio {ratio:.3f} ({rule})",
            )
        else:
            bound = float(target.target)
            ok = score <= bound if lower_better else score >= bound
            result.checks[target.name] = (
                ok,
                f"{target.name} = {score:.4f}, target {'≤' if lower_better else '≥'} {bound:g}",
            )
