"""A served model's client tokenizer loads without importing torch when the
checkpoint's tokenizer is the generic fast one: the class AutoTokenizer would
build, for a third of the import time (every openai-engine run pays it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from openaiperf.models.tokenizer import generic_fast_tokenizer

REPO = Path(__file__).resolve().parents[2]


def tiny_checkpoint(folder: Path, tokenizer_class: str) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2, "again": 3}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": tokenizer_class,
                                                              "unk_token": "[UNK]"}))
    return folder


LOAD = """
import sys
from openaiperf.models.tokenizer import _load
tokenizer = _load(sys.argv[1], True)
print(type(tokenizer).__name__, "torch" in sys.modules, tokenizer("hello world again")["input_ids"])
"""


def test_the_generic_fast_tokenizer_loads_without_torch_and_as_autotokenizer_would(tmp_path):
    folder = tiny_checkpoint(tmp_path / "ckpt", "PreTrainedTokenizerFast")
    assert generic_fast_tokenizer(str(folder))
    done = subprocess.run([sys.executable, "-c", LOAD, str(folder)], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": ""})
    name, torch_imported, ids = done.stdout.split(maxsplit=2)
    assert torch_imported == "False" and ids.strip() == "[1, 2, 3]"
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    assert type(auto).__name__ == name and auto("hello world again")["input_ids"] == [1, 2, 3]


@pytest.mark.parametrize("config", [{"tokenizer_class": "LlamaTokenizer"}, None])
def test_any_other_tokenizer_goes_through_autotokenizer(tmp_path, config):
    folder = tiny_checkpoint(tmp_path / "ckpt", "x")
    if config is None:
        (folder / "tokenizer_config.json").unlink()
    else:
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    assert not generic_fast_tokenizer(str(folder))
    assert not generic_fast_tokenizer("HuggingFaceTB/SmolLM2-135M")  # a hub id: not a folder here
