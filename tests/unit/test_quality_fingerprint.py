"""The quality gate judges the samples the case asked for: a failed request
scores the worst its task allows (ROUGE 0; perplexity: the uniform guess), so
one failure lowers the score instead of changing the sample set, which used to
switch the gate off in silence ("the reference was measured on another sample set")."""

from __future__ import annotations

import math

import pytest

from fixtures.engines import make_record
from openaiperf.models import get_model
from openaiperf.records import Record
from openaiperf.tasks import Sample, create_task, load_task_specs
from openaiperf.tasks.perplexity import PerplexityTask
from openaiperf.tasks.quality import record_per_sample, sample_fingerprint

MODEL = get_model("smollm2-135m")


@pytest.fixture(scope="module")
def specs():
    return load_task_specs()


def answered(sample: Sample, text: str, request_id: str | None = None) -> Record:
    record = make_record(0.0, [0.1, 0.2])
    record.sample_id, record.text = sample.id, text
    record.request_id = request_id or f"{sample.id}#0"
    return record


def failed(sample: Sample) -> Record:
    record = Record(request_id=f"{sample.id}#0", sample_id=sample.id)
    record.fail("HTTP 503: Service Unavailable", when=0.1)
    return record


def xsum_with_reference(specs, samples, rouge: float = 1.0):
    """The xsum task with a reference measured on exactly ``samples`` (perfect answers)."""
    base = specs["summarization.xsum"]
    fingerprint = sample_fingerprint([s.id for s in samples], base.input_profile.max_new_tokens)
    reference = {"samples": fingerprint, "rouge1": rouge, "rouge2": rouge, "rougeL": rouge, "rougeLsum": rouge,
                 "tokens_per_sample": 2.0}
    spec = base.model_copy(update={"references": {MODEL.name: reference}})
    task = create_task("summarization.xsum", {**specs, spec.name: spec})
    task.load_samples(len(samples), None)  # sets the dataset details
    return task


def test_one_failed_request_keeps_the_gate_and_fails_it(specs):
    samples = create_task("summarization.xsum", specs).load_samples(10, None)
    task = xsum_with_reference(specs, samples)
    perfect = [answered(s, s.fields["summary"]) for s in samples]
    assert task.evaluate(samples, perfect, MODEL).passed
    one_failed = perfect[:-1] + [failed(samples[-1])]
    result = task.evaluate(samples, one_failed, MODEL)
    assert "not_gated" not in result.details  # the gate still applies to the sample set asked for
    assert result.scores["rouge1"] == pytest.approx(0.9)  # the failed sample scores 0
    assert result.checks["rouge1"][0] is False and "ratio 0.900" in result.checks["rouge1"][1]
    assert result.details["failed_samples"] == [samples[-1].id]
    assert result.details["scored_samples"] == 9


def test_a_sample_without_any_record_scores_zero(specs):
    samples = create_task("summarization.xsum", specs).load_samples(4, None)
    task = xsum_with_reference(specs, samples)
    result = task.evaluate(samples, [answered(s, s.fields["summary"]) for s in samples[:3]], MODEL)
    assert result.scores["rouge1"] == pytest.approx(0.75) and not result.passed


def test_repeated_samples_are_scored_once(specs):
    """Online scenarios cycle the samples up to --min-queries: the fingerprint and the
    score are over each requested sample once (its first record)."""
    samples = create_task("summarization.xsum", specs).load_samples(3, None)
    task = xsum_with_reference(specs, samples)
    records = [answered(s, s.fields["summary"]) for s in samples]
    records += [answered(s, "zebra quantum marmalade", request_id=f"{s.id}#0~1") for s in samples]
    result = task.evaluate(samples, records, MODEL)
    assert result.passed and result.scores["rouge1"] == pytest.approx(1.0)
    assert list(record_per_sample(samples, records).values()) == records[:3]


def windows(n: int, target: int = 4) -> list[Sample]:
    return [Sample(id=f"w{i}", fields={"token_ids": tuple(range(target + 1)), "target_tokens": target, "begin": i})
            for i in range(n)]


def test_a_failed_perplexity_window_counts_as_the_uniform_guess(specs):
    samples = windows(3)
    spec = specs["perplexity.corpus"].model_copy(update={"references": {MODEL.name: {
        "perplexity": math.e, "samples": sample_fingerprint([s.id for s in samples], 0)}}})
    task = PerplexityTask(spec)
    task.vocab_size = 100
    records = []
    for sample in samples:
        record = make_record(0.0, [])
        record.sample_id, record.request_id = sample.id, f"{sample.id}"
        records.append(record)
        task.logprobs[record.request_id] = [-1.0] * 5  # 1 nat per token: perplexity e
    assert task.evaluate(samples, records, MODEL).scores["perplexity"] == pytest.approx(math.e)
    records[1].fail("EngineError: scoring failed")
    result = task.evaluate(samples, records, MODEL)
    expected_nll = (2 * 4 * 1.0 + 4 * math.log(100)) / 12
    assert result.scores["nll_per_token"] == pytest.approx(expected_nll)
    assert result.scores["perplexity"] == pytest.approx(math.exp(expected_nll))
    assert "not_gated" not in result.details and result.checks["perplexity"][0] is False
    assert result.details["failed_windows"] == ["w1"] and result.details["scored_windows"] == 2


def test_a_failed_synthetic_request_counts_as_an_error_not_as_a_wrong_length(specs):
    """A failed request is counted by the error rate; the length check is of the answered ones."""
    from openaiperf.tasks.synthetic import SyntheticTask

    task = SyntheticTask(specs["synthetic.random"])
    samples = [Sample(id=f"p{i}", fields={"output_tokens": 2, "input_tokens": 10, "prompt": "x"}) for i in range(3)]
    records = [answered(s, "a b") for s in samples]  # make_record: 2 tokens each
    assert task.evaluate(samples, records, MODEL).checks["exact_output_tokens"][0]
    records[2] = failed(samples[2])
    ok, why = task.evaluate(samples, records, MODEL).checks["exact_output_tokens"]
    assert ok and "every successful request (2)" in why
    records[1] = answered(samples[1], "a b")
    records[1].output_tokens = 1  # answered, one token short
    ok, why = task.evaluate(samples, records, MODEL).checks["exact_output_tokens"]
    assert not ok and "p1#0" in why
