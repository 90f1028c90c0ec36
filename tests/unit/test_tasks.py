"""The summarization task: data, subsets, prompts, ROUGE and the MLPerf quality rule."""

from __future__ import annotations

import pytest

from fixtures.engines import make_record
from openaiperf.errors import ConfigError, UnknownNameError
from openaiperf.models import get_model
from openaiperf.tasks import QualityResult, TaskSpec, create_task, load_task_specs
from openaiperf.tasks.quality import apply_targets, sample_fingerprint


@pytest.fixture(scope="module")
def specs():
    return load_task_specs()


def xsum(specs, **options):
    return create_task("summarization.xsum", specs, options)


def test_default_dataset_has_at_least_40_pairs(specs):
    samples = xsum(specs).load_samples(None, None)
    assert len(samples) >= 40
    assert len({s.id for s in samples}) == len(samples)
    assert all(s.fields["document"] and s.fields["summary"] for s in samples)


def test_subsets_are_reproducible(specs):
    task = xsum(specs)
    first = [s.id for s in task.load_samples(5, 123)]
    assert first == [s.id for s in task.load_samples(5, 123)]
    assert first != [s.id for s in task.load_samples(5, 321)]
    assert [s.id for s in task.load_samples(3, None)] == ["om-001", "om-002", "om-003"]


def test_too_many_samples_is_refused(specs):
    with pytest.raises(ConfigError, match="--max-samples 999 exceeds the 48 samples"):
        xsum(specs).load_samples(999, None)


def test_local_csv_missing_a_column_is_named(specs, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("id,text,summary\n1,some text,a summary\n")
    with pytest.raises(ConfigError, match=r"mine.csv: missing column\(s\) \['document'\]"):
        xsum(specs, dataset_source=str(path)).load_samples(None, None)


def test_local_csv_in_xsum_format_loads(specs, tmp_path):
    path = tmp_path / "xsum.csv"
    path.write_text('id,document,summary\n7,"A long, long article.",Short.\n')
    samples = xsum(specs, dataset_source=str(path)).load_samples(None, None)
    assert samples[0].id == "7" and samples[0].fields["document"] == "A long, long article."


def test_chat_model_gets_messages_with_the_article(specs):
    task = xsum(specs)
    samples = task.load_samples(2, None)
    requests = task.build_requests(samples, get_model("smollm2-135m"))
    assert requests[0].messages[-1]["role"] == "user"
    assert samples[0].fields["document"] in requests[0].messages[-1]["content"]
    assert requests[0].max_tokens == task.spec.input_profile.max_new_tokens
    assert requests[0].temperature == 0.0  # greedy: reproducible quality


def test_rouge_of_perfect_and_wrong_answers(specs):
    task = xsum(specs)
    samples = task.load_samples(3, None)
    perfect = []
    for s in samples:
        r = make_record(0.0, [0.1, 0.2])
        r.sample_id, r.text = s.id, s.fields["summary"]
        perfect.append(r)
    result = task.evaluate(samples, perfect, get_model("smollm2-135m"))
    assert result.scores["rouge1"] == pytest.approx(1.0)
    assert result.scores["rougeLsum"] == pytest.approx(1.0)
    wrong = []
    for s in samples:
        r = make_record(0.0, [0.1])
        r.sample_id, r.text = s.id, "zebra quantum marmalade"
        wrong.append(r)
    assert task.evaluate(samples, wrong, get_model("smollm2-135m")).scores["rouge1"] < 0.05


def test_mlperf_quality_rule(specs):
    base = specs["summarization.xsum"]
    fingerprint = sample_fingerprint(["a", "b"], base.input_profile.max_new_tokens)
    spec = base.model_copy(update={"references": {"m": {
        "samples": fingerprint, "rouge1": 0.40, "rouge2": 0.20, "rougeL": 0.30, "rougeLsum": 0.30,
        "tokens_per_sample": 30.0}}})

    def check(**scores):
        result = QualityResult(scores={"rouge1": 0.40, "rouge2": 0.20, "rougeL": 0.30, "rougeLsum": 0.30,
                                       "tokens_per_sample": 30.0, **scores})
        apply_targets(spec, "m", fingerprint, result)
        return result

    assert check().passed
    assert check(rouge1=0.397).passed  # 99.25% of the reference
    failed = check(rouge1=0.39)  # 97.5%
    assert not failed.passed and "ratio 0.975" in failed.checks["rouge1"][1]
    assert not check(tokens_per_sample=33.5).passed  # +11.7%
    assert check(tokens_per_sample=27.5).passed  # -8.3%
    other = QualityResult(scores={"rouge1": 0.1, "rouge2": 0.1, "rougeL": 0.1, "rougeLsum": 0.1,
                                  "tokens_per_sample": 9.0})
    apply_targets(spec, "m", "another-sample-set", other)
    assert other.passed and other.details["not_gated"]


def test_unknown_task_lists_known(specs):
    with pytest.raises(UnknownNameError, match="known tasks: .*summarization.xsum"):
        create_task("translation.wmt", specs)


def test_task_yaml_errors_name_the_field(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("name: my.task\nkind: summarization\ndatasets: {eval: {source: x.csv}}\ninput_profil: {}\n")
    with pytest.raises(ConfigError, match=r"t.yaml: input_profil: unknown field"):
        load_task_specs([path])
    path.write_text("name: my.task\nkind: translation\ndatasets: {eval: {source: x.csv}}\n")
    with pytest.raises(ConfigError, match=r"t.yaml: .*kind 'translation' is not one of"):
        load_task_specs([path])
    assert TaskSpec  # the schema is importable for users
