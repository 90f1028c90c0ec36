"""Paths built from data stay inside their folder; anything else is refused naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from openaiperf.baselines.json_store import JsonBaselineStore
from openaiperf.errors import ConfigError
from openaiperf.paths import name_in, path_in


@pytest.mark.parametrize("name", ["../x", "..", ".", "/abs/x", "a/../../x", "a\\b", "", "nul\0"])
def test_unsafe_names_are_refused_naming_the_field(tmp_path: Path, name: str):
    with pytest.raises(ConfigError, match=r"case id: refused .*expected a plain name that stays inside its folder"):
        name_in(tmp_path, name, field="case id", suffix=".json")


def test_plain_names_and_sweep_variants_are_accepted(tmp_path: Path):
    assert name_in(tmp_path, "synthetic.random-offline-hf-tiny[batch_size=2]", field="case id",
                   suffix=".json") == tmp_path / "synthetic.random-offline-hf-tiny[batch_size=2].json"


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path):
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "link").symlink_to(tmp_path.parent)
    with pytest.raises(ConfigError, match="resolves outside its folder"):
        path_in(tmp_path / "inside", "link/x.jsonl", field="records_file")
    assert path_in(tmp_path, "records/a.jsonl", field="records_file") == tmp_path / "records" / "a.jsonl"
    for bad in ("../a.jsonl", "/etc/passwd", "records/../../a"):
        with pytest.raises(ConfigError, match="records_file: refused"):
            path_in(tmp_path, bad, field="records_file")


def test_the_baseline_store_checks_both_names(tmp_path: Path):
    store = JsonBaselineStore(tmp_path)
    assert store.path_for("cpu", "a-b") == tmp_path / "cpu" / "a-b.json"
    with pytest.raises(ConfigError, match="hardware: refused"):
        store.path_for("../cpu", "a")
    with pytest.raises(ConfigError, match="case id: refused"):
        store.find("cpu", "../../a")
