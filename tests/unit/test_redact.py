"""Secrets never reach a report or log: what :mod:`openaiperf.redact` masks, and what it leaves alone."""

from __future__ import annotations

from openaiperf.redact import MASK, is_secret_name, redact, redact_argv, redact_text


def test_secret_flags_are_masked_in_a_command_line():
    argv = ["pytest", "benchmarks", "--api-key", "abc123", "--hf-token=hf_abcdefghijklmnopqrstu", "-k", "llama3",
            "--max-tokens", "16"]
    assert redact_argv(argv) == ["pytest", "benchmarks", "--api-key", MASK, f"--hf-token={MASK}", "-k", "llama3",
                                 "--max-tokens", "16"]


def test_credentials_in_urls_and_query_strings_are_masked():
    assert redact_text("https://bob:s3cret@host:8000/v1") == f"https://{MASK}@host:8000/v1"
    assert redact_text("http://h/v1?token=abc&x=1") == f"http://h/v1?token={MASK}&x=1"


def test_secrets_inside_free_text_are_masked():
    text = redact_text("vllm serve --api-key sk-abcdefghijklmnop1234 --port 8000 password=hunter2 "
                       "Authorization: Bearer abcdefghijkl")
    assert "sk-abcdefghijklmnop1234" not in text and "hunter2" not in text and "abcdefghijkl" not in text
    assert "--port 8000" in text


def test_nested_structures_mask_secret_keys_but_keep_token_counts():
    data = {"api_key_env": "OPENAI_API_KEY", "api_key": "x", "max_tokens": 16, "token_count_mismatch": 0.1,
            "options": {"server_args": ["--api-key", "zzz"], "endpoint": "http://u:p@h:1/v1"}}
    assert redact(data) == {"api_key_env": "OPENAI_API_KEY", "api_key": MASK, "max_tokens": 16,
                            "token_count_mismatch": 0.1,
                            "options": {"server_args": ["--api-key", MASK], "endpoint": f"http://{MASK}@h:1/v1"}}


def test_secret_names():
    assert all(map(is_secret_name, ["api_key", "--api-key", "hf_token", "password", "AWS_SECRET_ACCESS_KEY"]))
    assert not any(map(is_secret_name, ["max_tokens", "output_tokens", "token_count_mismatch", "api", "keys"]))


def test_nested_assignments_and_flags_inside_values_are_masked():
    argv = ["--engine-option", "openai:server_args=--api-key S1 --port 8001", "--engine-option=fake:api_key=S2",
            "--engine-option=x:extra_args=--hf-token=S3"]
    masked = " ".join(redact_argv(argv))
    assert not any(secret in masked for secret in ("S1", "S2", "S3")), masked
    assert "--port 8001" in masked and "openai:server_args=--api-key" in masked
    assert redact_text("Case(engine_options={'server_args': '--api-key S4'})") == \
        f"Case(engine_options={{'server_args': '--api-key {MASK}'}})"


def test_record_errors_are_redacted_on_disk(tmp_path):
    import json

    from openaiperf.records import Record, RecordWriter

    record = Record(request_id="r", sample_id="s")
    record.fail("unreachable: http://alice:hunter2@host:8000 (connection refused)", when=1.0)
    with RecordWriter(tmp_path / "r.jsonl", 0.0) as writer:
        writer.write(record)
    line = json.loads((tmp_path / "r.jsonl").read_text())
    assert line["error"] == f"unreachable: http://{MASK}@host:8000 (connection refused)"
