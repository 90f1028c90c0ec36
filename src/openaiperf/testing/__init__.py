"""Test instruments shipped with the package: a scripted OpenAI-compatible server
(ground truth for timing, not a model), its simplest preset the stub server, and
a word-level tokenizer whose counts are known, and the engine contract kit
(:mod:`.engine_contract`) that an engine's author runs against their engine."""
