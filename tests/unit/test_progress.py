"""The live progress line: what it says, how it draws on a terminal, and that it
writes nothing where there is no terminal."""

from __future__ import annotations

import io
import threading

from openaiperf.progress import RESTORE_AND_ERASE, SAVE_CURSOR, CaseProgress, TerminalLine, format_elapsed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_elapsed_reads_minutes_and_hours():
    assert format_elapsed(0) == "0:00"
    assert format_elapsed(37.9) == "0:37"
    assert format_elapsed(125) == "2:05"
    assert format_elapsed(3725) == "1:02:05"


def test_render_counts_requests_of_the_phase_and_the_time_since_the_case_began():
    clock = Clock()
    progress = CaseProgress("xsum-offline-hf", None, clock=clock)
    clock.now += 12
    progress.begin("round 1/3", 48)
    for _ in range(5):
        progress.advance()
    clock.now += 25
    assert progress.render() == "5/48 requests · 0:37 · round 1/3 · xsum-offline-hf"
    progress.begin("round 2/3", 48)
    assert progress.render().startswith("0/48 requests · 0:37 · round 2/3")


def test_done_never_exceeds_the_total():
    progress = CaseProgress("c", None)
    progress.begin("warmup", 2)
    for _ in range(5):
        progress.advance()
    assert progress.done == 2


def test_without_a_sink_nothing_is_drawn_and_no_thread_starts():
    before = threading.active_count()
    progress = CaseProgress("c", None)
    progress.begin("round 1/1", 3)
    progress.advance()
    assert not progress.enabled
    assert threading.active_count() == before
    progress.close()


class Column:
    def __init__(self, value: int) -> None:
        self.value = value

    def __call__(self) -> int:
        return self.value


def test_terminal_line_draws_after_the_current_line_and_erases_itself():
    stream = io.StringIO()
    clock = Clock()
    progress = CaseProgress("case", TerminalLine(stream, column=Column(30), width=120), clock=clock,
                            interval_s=3600)
    progress.begin("round 1/1", 3)
    progress.advance()  # counting draws nothing: the ticker draws
    progress.advance()
    clock.now += 2
    progress._draw()  # what the ticker does
    progress.close()
    assert stream.getvalue() == (SAVE_CURSOR + " 0/3 requests · 0:00 · round 1/1 · case"
                                 + RESTORE_AND_ERASE + " 2/3 requests · 0:02 · round 1/1 · case"
                                 + RESTORE_AND_ERASE)


def test_terminal_line_is_cut_to_the_room_left_and_skipped_where_there_is_none():
    stream = io.StringIO()
    line = TerminalLine(stream, column=Column(60), width=100)
    line.show("x" * 80)
    assert stream.getvalue() == SAVE_CURSOR + " " + "x" * 37 + "…"
    full = TerminalLine(io.StringIO(), column=Column(90), width=100)
    full.show("anything")
    full.clear()
    assert full.stream.getvalue() == ""


def test_the_ticker_redraws_while_no_request_completes():
    stream = io.StringIO()
    drawn = threading.Event()

    class Sink:
        count = 0

        def show(self, text: str) -> None:
            Sink.count += 1
            if Sink.count >= 3:
                drawn.set()
            stream.write(text)

        def clear(self) -> None:
            pass

    progress = CaseProgress("c", Sink(), interval_s=0.01)
    progress.begin("round 1/1", 1)
    assert drawn.wait(10)
    progress.close()
    assert progress._ticker is None
