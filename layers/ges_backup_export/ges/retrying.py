"""The one retry loop of our HTTP clients (GES, IAM): which attempts are made, and how long between them.

An attempt is made only while a whole exchange (`timeout`) still fits in the invocation; a transient
failure (`Retry`) is retried after a full-jitter exponential backoff, never shorter than what the server
asked (Retry-After), at most `max_attempts` times, never past the invocation's time. Each client says
what is transient for it (GES: nothing it may have started; IAM: anything, a token asked twice is
harmless) and what a wait is (GES: a 429 pauses every request of the client).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import ExportError
from ges_backup_export.core.observability import logger
from ges_backup_export.ges.http import BoundedSession, backoff

R = TypeVar("R")


@dataclass(frozen=True)
class Retry:
    """A transient failure: what went wrong, and how long the server asked us to wait (Retry-After)."""

    problem: str
    asked: float | None = None
    throttled: bool = False  # the server answered 429


class RetryingClient:
    """The loop itself, for a client of `service` whose transient failures end as `unavailable` once the
    attempts or the time run out. `sleep` and `rng` time the waits; tests replace them to run without
    waiting."""

    service = "the server"
    unavailable: type[ExportError] = ExportError

    def __init__(
        self,
        *,
        timeout: float,
        max_attempts: int,
        http: BoundedSession | None,
        sleep: Callable[[float], None],
        rng: random.Random | None,
    ) -> None:
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._http = http or BoundedSession()
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    def _retried(self, attempt: Callable[[Callable[[], None]], R | Retry], deadline: Deadline) -> R:
        """`attempt` until it gives an answer that is not a Retry, within the attempts and the time left."""
        problem = "no attempt was made"
        for number in range(1, self._max_attempts + 1):
            outcome = attempt(partial(self._time_for_one, deadline, problem))
            if not isinstance(outcome, Retry):
                return outcome
            problem = outcome.problem
            if number < self._max_attempts:
                self._wait(number, outcome, deadline)
        raise self.unavailable(f"{problem} (after {self._max_attempts} attempts)")

    def _time_for_one(self, deadline: Deadline, problem: str) -> None:
        if not deadline.allows(self._timeout):
            raise self.unavailable(
                f"{problem}; too little of the invocation's time is left for another attempt"
            )

    def _wait(self, attempt: int, retry: Retry, deadline: Deadline) -> None:
        delay = backoff(attempt, retry.asked, self.rng)
        if not deadline.allows(delay + self._timeout):
            raise self.unavailable(
                f"{retry.problem}; waiting {delay:.1f}s to retry would outlast the invocation"
            )
        logger.info(
            f"retrying {self.service}",
            extra={"attempt": attempt, "delay_seconds": round(delay, 3), "problem": retry.problem},
        )
        self._pause(delay, retry)

    def _pause(self, seconds: float, retry: Retry) -> None:
        """Wait before the next attempt of this request."""
        self.sleep(seconds)
