"""Task YAML validation, dataset checks, the user registries and the `ob task` /
`ob backend` commands (no model is loaded)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from openaiperf.cli import main
from openaiperf.errors import ConfigError
from openaiperf.tasks import Sample, load_task_spec, load_task_specs, select_subset
from openaiperf.tasks.datasets import load_rows, preflight, sha256_of
from openaiperf.tasks.perplexity import sliding_windows

CSV = "id,document,summary\na,one two three,one\nb,four five six,four\nc,seven eight,seven\n"


def task_yaml(tmp_path: Path, **changes) -> Path:
    (tmp_path / "data.csv").write_text(CSV, encoding="utf-8")
    data = {"name": "tiny.summary", "kind": "summarization",
            "datasets": {"eval": {"source": "data.csv", "format": "csv", "license": "CC0-1.0"}},
            "scenarios": ["offline"], "input_profile": {"max_new_tokens": 8}}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("OPENAIPERF_HOME", str(home))
    return home


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"kind": None}, "kind", "required field is missing"),
    ({"metirc": {}}, "metirc", "unknown field"),
    ({"input_profile": {"max_new_tokens": "many"}}, "input_profile.max_new_tokens", "integer"),
    ({"kind": "translation"}, None, "kind 'translation' is not one of"),
    ({"scenarios": ["offline", "ofline"]}, None, "unknown scenario(s) ['ofline']"),
    ({"name": "Bad Name"}, "name", "pattern"),
])
def test_bad_task_yaml_names_file_and_field(tmp_path, change, field, message):
    path = task_yaml(tmp_path, **change)
    with pytest.raises(ConfigError) as info:
        load_task_spec(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    if field:
        assert info.value.field == field


def test_kind_parameters_are_validated(tmp_path):
    path = task_yaml(tmp_path, kind="perplexity", parameters={"context_length": 128, "strid": 64})
    with pytest.raises(ConfigError, match=r"parameters\.strid: unknown field"):
        load_task_spec(path)
    path = task_yaml(tmp_path, kind="perplexity", parameters={"context_length": 64, "stride": 128})
    with pytest.raises(ConfigError, match=r"stride \(128\) must be <= context_length \(64\)"):
        load_task_spec(path)


def test_builtin_tasks_load_and_carry_checksums():
    specs = load_task_specs(include_user=False)
    assert {"summarization.xsum", "perplexity.corpus", "chat.sharegpt", "synthetic.random"} <= set(specs)
    for name in ("summarization.xsum", "perplexity.corpus", "chat.sharegpt"):
        dataset = specs[name].datasets["eval"]
        assert dataset.sha256 and len(dataset.sha256) == 64, name
        assert dataset.license != "unknown", name
        preflight(specs[name], max_samples=None)  # the shipped files match their sha256


def test_checksum_mismatch_refuses_naming_the_file(tmp_path):
    path = task_yaml(tmp_path, datasets={"eval": {"source": "data.csv", "sha256": "0" * 64}})
    spec = load_task_spec(path)
    with pytest.raises(ConfigError, match="checksum mismatch") as info:
        preflight(spec, max_samples=None, base_dir=spec.source_dir)
    assert str(tmp_path / "data.csv") in str(info.value)
    with pytest.raises(ConfigError, match="checksum mismatch"):
        load_rows(spec.datasets["eval"], ("id",), base_dir=spec.source_dir)
    good = task_yaml(tmp_path, datasets={"eval": {"source": "data.csv", "sha256": sha256_of(tmp_path / "data.csv")}})
    preflight(load_task_spec(good), max_samples=3, base_dir=tmp_path)


def test_dataset_too_small_for_max_samples(tmp_path):
    spec = load_task_spec(task_yaml(tmp_path))
    with pytest.raises(ConfigError, match=r"--max-samples 5 exceeds the 3 rows") as info:
        preflight(spec, max_samples=5, base_dir=spec.source_dir)
    assert str(tmp_path / "data.csv") in str(info.value)
    samples = [Sample(id=str(i), fields={}) for i in range(3)]
    with pytest.raises(ConfigError, match="exceeds the 3 samples"):
        select_subset(samples, 4, None, source="x")


def test_subset_is_reproducible():
    samples = [Sample(id=str(i), fields={}) for i in range(50)]
    first = [s.id for s in select_subset(samples, 5, 7, source="x")]
    assert first == [s.id for s in select_subset(samples, 5, 7, source="x")]
    assert first != [s.id for s in select_subset(samples, 5, 8, source="x")]
    assert [s.id for s in select_subset(samples, 3, None, source="x")] == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("n", "context", "stride"), [(1000, 256, 128), (1000, 256, 256), (100, 512, 256), (257, 128, 64)]
)
def test_sliding_windows_score_every_token_once(n, context, stride):
    windows = sliding_windows(n, context, stride)
    assert sum(target for _, _, target in windows) == n - 1
    assert all(end - begin <= context and target <= end - begin for begin, end, target in windows)
    assert windows[-1][1] == n
    scored = [t for begin, end, target in windows for t in range(end - target, end)]
    assert sorted(scored) == list(range(1, n))


def test_ob_task_validate_register_list(tmp_path, user_home, capsys):
    path = task_yaml(tmp_path)
    assert main(["task", "validate", str(path)]) == 0
    assert "ok: task tiny.summary" in capsys.readouterr().out
    assert main(["task", "register", str(path)]) == 0
    registered = user_home / "tasks" / "tiny.summary.yaml"
    assert registered.is_file()
    # the relative dataset path now points at the file, wherever the registry is read from
    assert yaml.safe_load(registered.read_text())["datasets"]["eval"]["source"] == str(tmp_path / "data.csv")
    assert "tiny.summary" in load_task_specs()
    capsys.readouterr()
    assert main(["task", "list", "--custom"]) == 0
    out = capsys.readouterr().out
    assert "tiny.summary" in out and "summarization.xsum" not in out
    assert main(["task", "register", str(path)]) == 2  # already registered
    assert "already registered" in capsys.readouterr().err
    bad = task_yaml(tmp_path, kind=None)
    assert main(["task", "validate", str(bad)]) == 2
    assert f"{bad}: kind: required field is missing" in capsys.readouterr().err


ENGINES = textwrap.dedent("""
    class Complete:
        name = "complete"
        concurrent = False
        def __init__(self, context): pass
        def prepare(self): pass
        def run(self, requests, records, on_done): pass
        async def stream(self, request, record): pass
        def teardown(self): pass
        def info(self): return {}

    class NoStream:
        name = "nostream"
        concurrent = False
        def __init__(self, context): pass
        def prepare(self): pass
        def run(self, requests, records, on_done): pass
        def teardown(self): pass
        def info(self): return {}
""")


@pytest.mark.parametrize("group", ["engine", "backend"])  # backend: the earlier spelling
def test_ob_engine_register_and_list(tmp_path, user_home, capsys, group):
    from openaiperf.engines import engine_class, engines

    module = tmp_path / "my_engines.py"
    module.write_text(ENGINES, encoding="utf-8")
    assert main([group, "register", f"{module}:Complete", "--name", "mine"]) == 0
    assert "mine" in engines.names()
    assert engine_class("mine").__name__ == "Complete"
    capsys.readouterr()
    assert main([group, "list"]) == 0
    assert re.search(r"^mine\s+registered", capsys.readouterr().out, re.M)
    assert main([group, "register", f"{module}:NoStream", "--name", "broken"]) == 2
    err = capsys.readouterr().err
    assert f"engine class NoStream (in {module}) lacks stream" in err and "broken" not in engines.names()
    assert main([group, "register", f"{module}:Missing", "--name", "x"]) == 2
    assert "has no class 'Missing'" in capsys.readouterr().err
    assert main([group, "register", f"{tmp_path / 'nope.py'}:A", "--name", "x"]) == 2
    assert "file does not exist" in capsys.readouterr().err


def test_json_array_reader_keeps_elements_before_a_cut():
    from openaiperf.tasks.chat import read_json_array

    assert read_json_array('[{"a": 1}, {"b": [2]}]') == ([{"a": 1}, {"b": [2]}], True)
    assert read_json_array('[{"a": 1}, {"b": [2') == ([{"a": 1}], False)
    assert read_json_array(" [ ] ") == ([], True)


def test_synthetic_lengths_are_seeded_and_bounded():
    import numpy as np

    from openaiperf.tasks.synthetic import SyntheticParameters, draw_length

    fixed = SyntheticParameters()
    assert {draw_length(np.random.default_rng(0), 100, fixed) for _ in range(3)} == {100}
    uniform = SyntheticParameters(distribution="uniform", spread=0.2)
    draws = [draw_length(np.random.default_rng(s), 100, uniform) for s in range(50)]
    assert all(80 <= d <= 120 for d in draws) and len(set(draws)) > 5
    assert draws == [draw_length(np.random.default_rng(s), 100, uniform) for s in range(50)]
