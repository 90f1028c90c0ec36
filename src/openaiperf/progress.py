"""A live progress line per case on a terminal: requests done/total, elapsed time.

:class:`CaseProgress` counts (thread-safe: engines complete requests on their
own threads) and renders ``12/48 requests · 0:37 · round 1/3 · <case>`` (the
counts first: a narrow terminal cuts the end). A ticker thread redraws it twice
a second, so the elapsed time moves while a long batch is still running; the
engine's thread, inside the measured window, only counts. Where the line goes is a :class:`LineSink`: on a terminal,
:class:`TerminalLine` draws it at the end of pytest's current line (ANSI "save
cursor" / "erase to end of line", so pytest's own dots and verdicts are left
as they were) and erases it when the case ends. Anywhere else (CI logs, pipes,
captured output, xdist workers) there is no sink and nothing is written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

SAVE_CURSOR = "\x1b7"
RESTORE_AND_ERASE = "\x1b8\x1b[K"
#: the fewest columns worth drawing a progress line in
MIN_WIDTH = 24


def format_elapsed(seconds: float) -> str:
    """``37`` -> ``0:37``, ``3725`` -> ``1:02:05``."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LineSink(Protocol):
    def show(self, text: str) -> None: ...

    def clear(self) -> None: ...


class CaseProgress:
    """The progress of one case: which phase or round, requests done of total, time since start."""

    def __init__(self, label: str, sink: LineSink | None, *, interval_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.sink = sink
        self.interval_s = interval_s
        self.clock = clock
        self.start = clock()
        self.phase = ""
        self.done = 0
        self.total = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.sink is not None

    def render(self) -> str:
        parts = [f"{self.done}/{self.total} requests"] if self.total else []
        parts.append(format_elapsed(self.clock() - self.start))
        if self.phase:
            parts.append(self.phase)
        parts.append(self.label)
        return " · ".join(parts)

    def begin(self, phase: str, total: int) -> None:
        """A new phase (``warmup``, ``round 1/3``) of ``total`` requests."""
        with self._lock:
            self.phase, self.done, self.total = phase, 0, total
        self._draw()
        if self.sink is not None and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="openaiperf-progress", daemon=True)
            self._ticker.start()

    def advance(self, count: int = 1) -> None:
        # Only counts: it runs on the engine's thread inside the measured window, so the drawing
        # (terminal I/O, pytest's capture switched off and on) is left to the ticker thread.
        with self._lock:
            self.done = min(self.total, self.done + count) if self.total else self.done + count

    def record_done(self, _record: Any) -> None:
        """A scenario's per-record callback."""
        self.advance()

    def close(self) -> None:
        """Stop the ticker and erase the line."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self.sink is not None:
            with self._lock:
                self.sink.clear()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._draw()

    def _draw(self) -> None:
        if self.sink is None:
            return
        with self._lock:
            if not self._stop.is_set():
                self.sink.show(self.render())


class TerminalLine:
    """Draws a line after what pytest's terminal writer has on its current line.

    ``stream`` is the terminal (pytest's own stdout, taken before capturing
    starts); ``suspend`` turns pytest's output capturing off while it writes
    (the capture manager's ``global_and_fixture_disabled``), so the line
    reaches the terminal from inside a test."""

    def __init__(self, stream: Any, column: Callable[[], int], width: int,
                 suspend: Callable[[], Any] | None = None) -> None:
        self.stream = stream
        self.column = column
        self.width = width
        self.suspend = suspend
        self.shown = False

    def _write(self, text: str) -> None:
        if self.suspend is None:
            self.stream.write(text)
            self.stream.flush()
            return
        with self.suspend():
            self.stream.write(text)
            self.stream.flush()

    def show(self, text: str) -> None:
        room = self.width - self.column() - 2
        if room < MIN_WIDTH:
            return
        if len(text) > room:
            text = text[:room - 1] + "…"
        self._write((RESTORE_AND_ERASE if self.shown else SAVE_CURSOR) + " " + text)
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self._write(RESTORE_AND_ERASE)
            self.shown = False
