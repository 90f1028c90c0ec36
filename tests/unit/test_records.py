from __future__ import annotations

import pytest

from fixtures.engines import make_record
from openaiperf.records import RecordWriter, Request, measured, read_records


def test_writer_appends_relative_times(tmp_path):
    path = tmp_path / "r" / "case.jsonl"
    with RecordWriter(path, t0=100.0) as writer:
        writer.write(make_record(100.5, [101.0, 101.5]))
        # the first record is on disk before the second is written
        assert len(read_records(path)) == 1
        writer.write(make_record(101.0, [102.0]))
    records = read_records(path)
    assert [r.scheduled for r in records] == [0.5, 1.0]
    assert records[0].token_times == [1.0, 1.5]
    assert records[0].first_token == 1.0


def test_request_needs_exactly_one_of_prompt_or_messages():
    with pytest.raises(ValueError):
        Request(id="a", sample_id="a", max_tokens=4)
    with pytest.raises(ValueError):
        Request(id="a", sample_id="a", max_tokens=4, prompt="x", messages=[{"role": "user", "content": "x"}])


def test_warmup_records_are_not_measured():
    a, b = make_record(0, [1]), make_record(0, [1])
    a.warmup = True
    assert measured([a, b]) == [b]
