"""A round in which the client stalled is measured again: the stall is the machine's,
not the engine's. The stall here is real: the engine holds the interpreter lock in a
busy loop (the switch interval raised so it never lets go), which stops every other
thread of the client, the watch thread included, as a paused machine does."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from fixtures.engines import ScriptedEngine, xsum_case_runner
from openaiperf.baselines.compare import baseline_from_case, judged_rounds
from openaiperf.errors import ConfigError
from openaiperf.matrix import Case
from openaiperf.monitor.stalls import StallWatch, stall_limit_ms
from openaiperf.options import parse_stall_limit
from openaiperf.records import Record, RecordSink, Request, measured, read_records
from openaiperf.runner import RunSettings, round_tag

HOLD_S = 0.12


@contextmanager
def interpreter_held() -> Iterator[None]:
    """Busy Python for HOLD_S seconds without letting another thread run."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    try:
        yield
        end = time.perf_counter() + HOLD_S
        while time.perf_counter() < end:
            pass
    finally:
        sys.setswitchinterval(interval)


class StallingEngine(ScriptedEngine):
    """Stops the client in the attempts listed in ``stall_in`` (counted from 0 over every
    run, warmup included)."""

    def __init__(self, stall_in: set[int]) -> None:
        super().__init__(tokens=2, token_s=0.0)
        self.stall_in = stall_in
        self.runs = 0

    def run(self, requests: Sequence[Request], records: Sequence[Record], on_done: RecordSink) -> None:
        if self.runs in self.stall_in:
            with interpreter_held():
                pass
        self.runs += 1
        super().run(requests, records, on_done)


def test_the_watch_sees_the_client_stopped():
    with StallWatch() as idle:
        time.sleep(0.05)
    with StallWatch() as stopped:
        time.sleep(0.02)
        with interpreter_held():
            pass
    assert idle.stalls is not None and stopped.stalls is not None
    assert stopped.stalls.longest_ms >= 0.8 * HOLD_S * 1000 > idle.stalls.longest_ms
    assert stopped.stalls.seconds >= HOLD_S


def run_case(tmp_path, stall_in: set[int], **settings):
    case = Case("summarization.xsum", "offline", "scripted", "m", engine_options={}, scenario_options={})
    engine = StallingEngine(stall_in)
    runner = xsum_case_runner(tmp_path, case, engine=engine, settings=RunSettings(
        max_samples=3, warmup_samples=0, monitor=False, **settings))
    runner.prepare()
    for index in range(runner.settings.repeats):
        runner.measure_round(index)
    return runner, engine, runner.finish()


def test_a_stalled_round_is_measured_again_and_its_records_kept_apart(tmp_path):
    runner, engine, result = run_case(tmp_path, {0}, repeats=2, stall_limit_ms=50.0)
    assert [(s.round, s.attempt, s.over_limit, s.kept) for s in result.stalls] == [
        (0, 0, True, False), (0, 1, False, True), (1, 0, False, True)]
    assert result.stalls[0].longest_ms >= 50
    assert engine.runs == 3
    on_disk = read_records(runner.records_path)
    assert len(on_disk) == 9 and sum(r.discarded for r in on_disk) == 3
    assert all(r.discarded for r in on_disk[:3])
    assert len(measured(on_disk)) == 6 and result.metrics["requests"].value == 6
    assert len(result.rounds) == 2
    assert any("round 1: measured again, the client stalled" in note for note in result.notes)
    # the results file says so
    document = json.loads(result.model_dump_json())
    assert document["stalls"][0]["kept"] is False


def test_a_round_that_stalls_at_every_attempt_is_kept_but_not_judged_in_a_new_run(tmp_path):
    _, _, result = run_case(tmp_path, {0, 1}, repeats=2, stall_limit_ms=50.0, stall_retries=1)
    assert [(s.round, s.attempt, s.over_limit, s.kept) for s in result.stalls] == [
        (0, 0, True, False), (0, 1, True, True), (1, 0, False, True)]
    assert len(result.rounds) == 2 and result.metrics["requests"].value == 6
    assert any("in each of 2 attempt(s)" in note for note in result.notes)
    # a saved baseline keeps it (a wider spread hides, never invents, a regression); a new run is
    # judged on the other round
    assert [r.values for r in baseline_from_case(result).rounds] == result.rounds
    assert judged_rounds(result) == ([result.rounds[1]], [0])


def test_an_attempt_measured_again_gets_a_round_tag_of_its_own_and_of_the_same_length():
    # a workload that shares prefixes tags each round's prompts: the prefix cache must not serve
    # the new attempt from the discarded one, and the prompts keep their length
    tags = [round_tag("case", 0, attempt) for attempt in range(3)]
    assert len(set(tags)) == 3 and len({len(t) for t in tags}) == 1
    assert round_tag("case", 0) == tags[0]


def test_no_limit_measures_every_round_once(tmp_path):
    _, engine, result = run_case(tmp_path, {0}, stall_limit_ms=None)
    assert engine.runs == 1 and len(result.stalls) == 1
    assert result.stalls[0].over_limit is False and result.stalls[0].longest_ms >= 50


def test_the_limit_grows_with_the_latencies_a_stall_lands_in():
    # a server answering in 33 ms and decoding in 150: the floor
    assert stall_limit_ms(10.0, [0.033] * 4, [0.15] * 4) == 10.0
    # a saturated CPU server (TTFT 5 s, 2 s of decoding): a tenth of the shorter phase
    assert stall_limit_ms(10.0, [5.0, 4.0, 6.0], [2.0, 2.0, 3.0]) == pytest.approx(200.0)
    assert stall_limit_ms(10.0, [], []) == 10.0


def test_the_limit_option():
    assert parse_stall_limit("20ms") == pytest.approx(20.0)
    assert parse_stall_limit("0.1") == pytest.approx(100.0)
    assert parse_stall_limit("off") is None
    with pytest.raises(ConfigError, match="--stall-limit"):
        parse_stall_limit("soon")


def test_ob_compare_leaves_out_of_the_judged_run_a_round_that_stalled_at_every_attempt(tmp_path, capsys):
    from openaiperf.cli import main
    from openaiperf.report.results import write_results
    from openaiperf.result import RunResult

    folders = {}
    for name, stall_in in (("reference", set()), ("current", {0, 1})):
        _, _, result = run_case(tmp_path / name, stall_in, repeats=3, stall_limit_ms=50.0, stall_retries=1)
        folders[name] = tmp_path / name / "run"
        folders[name].mkdir()
        write_results(folders[name] / "results.json", RunResult(cases=[result]))
    capsys.readouterr()
    # (--force: cases built outside a pytest session carry no configuration fingerprint)
    main(["compare", str(folders["reference"]), str(folders["current"]), "--drift", "0", "--force"])
    out = capsys.readouterr().out
    # judged on its two other rounds, as the gate judges it; the reference keeps all three
    assert "round(s) 1 not judged: the client stalled in every attempt" in out
    assert "3/2" in out and "3/3" not in out
