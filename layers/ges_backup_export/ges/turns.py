"""How many calls one GES client makes at once, and its pause after a 429.

One client serves the concurrent requests of an invocation (export/concurrency.py): at most
GES_CONCURRENCY of its attempts are in flight at a time, each in a turn, and a 429 pauses all of them,
since a storm of retries from concurrent requests would only prolong it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Turn:
    """A turn held by one thread (Turns.turn); ending it twice is harmless."""

    def __init__(self, turns: threading.BoundedSemaphore) -> None:
        self._turns = turns
        self.active = True

    def end(self) -> None:
        if self.active:
            self.active = False
            self._turns.release()


class Turns:
    def __init__(self, concurrency: int) -> None:
        self._lock = threading.Lock()
        self._turns = threading.BoundedSemaphore(concurrency)  # GES_CONCURRENCY: calls at once
        self._held = threading.local()  # the turn this thread holds across calls (`turn`)
        self._paused_until = 0.0  # on the client's clock: no attempt starts before it (a 429)

    @contextmanager
    def turn(self) -> Iterator[Turn]:
        """One of the GES_CONCURRENCY turns to call GES. A thread may hold one across its calls and end it
        early (`Turn.end`): the exporter takes one before an export's idempotency lock and ends it once GES
        answered the POST, so that no lock is held while waiting for a turn (an invocation killed then
        would leave the lock abandoned, an unknown outcome, for an export never sent)."""
        held: Turn | None = getattr(self._held, "turn", None)
        if held is not None and held.active:
            yield held
            return
        self._turns.acquire()
        turn = self._held.turn = Turn(self._turns)
        try:
            yield turn
        finally:
            turn.end()
            self._held.turn = None

    def pause_all(self, until: float) -> None:
        """GES throttles: no attempt of the client starts before `until`."""
        with self._lock:
            self._paused_until = max(self._paused_until, until)

    def paused_for(self, now: float) -> float:
        """How long from `now` the pause still lasts (0 when none)."""
        with self._lock:
            return max(0.0, self._paused_until - now)
