"""Test instruments shipped with the package: a scripted OpenAI-compatible server
(ground truth for timing, not a model; :mod:`.scripted_server`, one module per role),
its simplest preset the stub server, a word-level tokenizer whose counts are known,
the engine contract kit (:mod:`.engine_contract`) that an engine's author runs against
their engine, engine contexts of real typed parts (:mod:`.contexts`) and the one way a
test double fills a record (:mod:`.answers`)."""
