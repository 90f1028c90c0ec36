"""A word-level tokenizer saved as a Hugging Face tokenizer directory, for tests
that need a client tokenizer whose counts are known (one token per word of the
scripted server's text) without loading a model."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def write_word_tokenizer(directory: Path, words: Iterable[str] = ("tok",)) -> Path:
    """Save a fast tokenizer that makes one token of each whitespace-separated
    word (unknown words are ``[UNK]``, one token each); returns ``directory``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = {"[UNK]": 0, **{word: index + 1 for index, word in enumerate(dict.fromkeys(words))}}
    core = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]")
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)
    return directory
