"""The invocation's deadline, against a fake monotonic clock."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ges_backup_export.aws.clients import CONFIG
from ges_backup_export.core.deadline import MARGIN_SECONDS, Deadline


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def deadline_in(seconds: float, clock: FakeClock, margin: float = MARGIN_SECONDS) -> Deadline:
    return Deadline(at=clock.now + seconds, margin=margin, clock=clock)


def test_work_that_fits_before_the_margin_is_allowed() -> None:
    clock = FakeClock()

    assert deadline_in(20, clock).allows(20 - MARGIN_SECONDS)


def test_work_that_reaches_into_the_margin_is_not_allowed() -> None:
    clock = FakeClock()

    assert not deadline_in(20, clock).allows(20 - MARGIN_SECONDS + 0.5)


def test_work_that_exactly_fills_the_time_left_is_allowed() -> None:
    clock = FakeClock()

    assert deadline_in(13, clock, margin=3).allows(10)


@pytest.mark.parametrize("margin", [0.0, 1.0, 3.0, 10.0])
def test_margin_is_kept_free(margin: float) -> None:
    clock = FakeClock()
    deadline = deadline_in(30, clock, margin=margin)

    assert deadline.allows(30 - margin)
    assert not deadline.allows(30 - margin + 0.001)


def test_zero_seconds_of_work_is_allowed_while_time_is_left() -> None:
    assert deadline_in(MARGIN_SECONDS + 0.1, FakeClock()).allows(0)


def test_nothing_is_allowed_once_only_the_margin_is_left() -> None:
    assert not deadline_in(MARGIN_SECONDS - 0.1, FakeClock()).allows(0)


def test_nothing_is_allowed_after_the_deadline() -> None:
    clock = FakeClock()
    deadline = deadline_in(10, clock)
    clock.now += 11

    assert not deadline.allows(0)


def test_allows_follows_the_clock() -> None:
    clock = FakeClock()
    deadline = deadline_in(20, clock, margin=3)
    assert deadline.allows(10)

    clock.now += 8

    assert not deadline.allows(10)


def test_remaining_is_measured_on_the_clock() -> None:
    clock = FakeClock()
    deadline = deadline_in(20, clock)
    clock.now += 5

    assert deadline.remaining() == 15


def test_remaining_goes_negative_after_the_deadline() -> None:
    clock = FakeClock()
    deadline = deadline_in(1, clock)
    clock.now += 3

    assert deadline.remaining() == -2


@pytest.mark.parametrize("seconds", [0, 10, 900, 1e12])
def test_no_deadline_allows_any_finite_work(seconds: float) -> None:
    assert Deadline(at=None, clock=FakeClock()).allows(seconds)


def test_no_deadline_has_unlimited_time_remaining() -> None:
    assert math.isinf(Deadline(at=None, clock=FakeClock()).remaining())


def test_no_deadline_does_not_read_the_clock() -> None:
    def clock() -> float:
        raise AssertionError("the clock was read")

    assert Deadline(at=None, clock=clock).allows(60)


def test_default_margin_fits_the_aws_calls_after_ges_at_their_worst() -> None:
    """Every AWS call after the last GES call (downstream and tracking sends, the record's UpdateItem, a
    dead-letter send) may take all its attempts, each its connect and read timeouts, plus botocore's
    wait between attempts (at most 1 s in standard mode): the margin must hold them all."""
    config: Any = CONFIG  # botocore sets Config's attributes at run time
    retries: dict[str, object] = config.retries or {}
    attempts = int(str(retries["total_max_attempts"]))
    assert retries["mode"] == "standard"
    worst_call = attempts * (config.connect_timeout + config.read_timeout) + (attempts - 1) * 1.0

    assert Deadline(at=None).margin == MARGIN_SECONDS
    assert 4 * worst_call <= MARGIN_SECONDS


def test_clock_is_not_part_of_equality() -> None:
    assert Deadline(at=5.0, clock=FakeClock()) == Deadline(at=5.0, clock=FakeClock(0.0))
