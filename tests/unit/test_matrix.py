from __future__ import annotations

import pytest

from openaiperf.errors import ConfigError, UnknownNameError
from openaiperf.matrix import check_names, load_matrix, narrow, parse_list
from openaiperf.selection import expand

MATRIX = """
suites:
  - tasks: [summarization.xsum]
    scenarios: [offline, single_stream]
    engines: [hf]
    models: [smollm2-135m, llama3-8b]
    engine_options: {hf: {batch_size: 4}}
"""


def test_expand_gives_readable_ids(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX)
    cases = expand(load_matrix(path))
    assert [c.id for c in cases] == [
        "summarization.xsum-offline-hf-smollm2-135m",
        "summarization.xsum-offline-hf-llama3-8b",
        "summarization.xsum-single_stream-hf-smollm2-135m",
        "summarization.xsum-single_stream-hf-llama3-8b",
    ]
    assert cases[0].engine_options == {"batch_size": 4}


def test_narrow_by_lists(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX)
    cases = expand(load_matrix(path))
    kept, dropped = narrow(cases, scenario=["offline"], model=parse_list("llama3-8b, smollm2-135m"))
    assert [c.id for c in kept] == [
        "summarization.xsum-offline-hf-smollm2-135m",
        "summarization.xsum-offline-hf-llama3-8b",
    ]
    assert len(dropped) == 2


def test_unknown_name_in_matrix_is_named(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX.replace("engines: [hf]", "engines: [hf, tgi]"))
    cases = expand(load_matrix(path))
    known = {
        "task": ["summarization.xsum"],
        "scenario": ["offline", "single_stream"],
        "engine": ["hf"],
        "model": ["smollm2-135m", "llama3-8b"],
    }
    with pytest.raises(UnknownNameError, match=r"matrix.yaml: unknown engine 'tgi'; known engines: hf"):
        check_names(cases, known, source=str(path))


def test_malformed_and_mistyped_matrix_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("suites: [\n  - tasks: [a\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: malformed YAML at line"):
        load_matrix(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text(MATRIX.replace("models:", "modles:"))
    with pytest.raises(ConfigError, match=r"typo.yaml: suites\[0\]\.models: required field is missing"):
        load_matrix(typo)


def test_suite_max_samples_reaches_its_cases(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX + "    max_samples: 5\n")
    assert {c.max_samples for c in expand(load_matrix(path))} == {5}
    path.write_text(MATRIX + "    max_samples: 0\n")
    with pytest.raises(ConfigError, match=r"suites\[0\]\.max_samples"):
        load_matrix(path)


def test_suite_input_profile_reaches_its_cases_and_is_checked(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(MATRIX + "    input_profile: {max_new_tokens: 32}\n")
    (case, *_) = expand(load_matrix(path))
    assert case.task_options == {"max_new_tokens": 32} and case.variant == ""  # the id does not change
    assert case.to_json()["task_options"] == {"max_new_tokens": 32}
    path.write_text(MATRIX + "    input_profile: {max_tokens: 32}\n")
    with pytest.raises(ConfigError, match=r"suites\[0\]\.input_profile\.max_tokens"):
        load_matrix(path)
