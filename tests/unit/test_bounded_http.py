"""The retry timing and the exchange classification shared by the HTTP clients: Retry-After, backoff,
and "certainly not sent"."""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import SSLError as Urllib3SSLError

from ges_backup_export.bounded_http import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_MAX_SECONDS,
    backoff,
    not_sent,
    retry_after,
)

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SAMPLES = 2000
URL = "/v2/p/graphs/g/backups/export"
RNG = random.Random(20261127)


def read_retry_after(value: str | None) -> float | None:
    """Retry-After read with the wall clock standing still at NOW."""
    return retry_after(value, now=NOW.timestamp)


class Extreme(random.Random):
    """A random source that always draws the top (or the bottom) of the range."""

    def __init__(self, *, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


# --- _retry_after -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), ("1", 1.0), ("120", 120.0), ("2.5", 2.5), (" 7 ", 7.0), ("-5", 0.0), ("-0.1", 0.0)],
)
def test_retry_after_in_seconds_is_read_and_never_negative(value: str, expected: float) -> None:
    assert read_retry_after(value) == expected


@pytest.mark.parametrize("seconds", [1, 30, 120, 3600])
def test_retry_after_http_date_in_the_future_is_the_seconds_until_then(seconds: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)

    assert read_retry_after(header) == pytest.approx(seconds)


def test_retry_after_http_date_in_obsolete_rfc850_form_is_read() -> None:
    assert read_retry_after("Friday, 27-Nov-26 02:01:00 GMT") == pytest.approx(60)


@pytest.mark.parametrize("seconds", [1, 120, 86400 * 365])
def test_retry_after_http_date_in_the_past_is_zero(seconds: int) -> None:
    header = format_datetime(NOW - timedelta(seconds=seconds), usegmt=True)

    assert read_retry_after(header) == 0.0


def test_retry_after_http_date_now_is_zero() -> None:
    assert read_retry_after(format_datetime(NOW, usegmt=True)) == 0.0


@pytest.mark.parametrize(
    "value",
    [None, "", "soon", "1,5", "5s", "Fri, 99 Nov 2026 02:00:00 GMT", "Friday", "2026-11-27T02:00:00Z"],
)
def test_retry_after_that_is_neither_seconds_nor_a_date_is_ignored(value: str | None) -> None:
    assert read_retry_after(value) is None


def test_retry_after_that_is_not_finite_is_ignored() -> None:
    assert read_retry_after("inf") is None


# --- backoff -------------------------------------------------------------------------------------


def cap(attempt: int) -> float:
    return min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 10, 50])
def test_backoff_without_retry_after_stays_within_its_exponential_cap(attempt: int) -> None:
    delays = [backoff(attempt, None, RNG) for _ in range(SAMPLES)]

    assert all(0 <= delay <= cap(attempt) for delay in delays)


@pytest.mark.parametrize("attempt", [1, 5, 10, 50, 200])
def test_backoff_without_retry_after_never_exceeds_the_maximum(attempt: int) -> None:
    assert max(backoff(attempt, None, RNG) for _ in range(SAMPLES)) <= BACKOFF_MAX_SECONDS


@pytest.mark.parametrize("attempt", [1, 2, 3])
@pytest.mark.parametrize("retry_after", [0.0, 0.1, 1.0, 5.0, 120.0, 3600.0])
def test_backoff_is_never_shorter_than_retry_after(attempt: int, retry_after: float) -> None:
    assert min(backoff(attempt, retry_after, RNG) for _ in range(SAMPLES)) >= retry_after


@pytest.mark.parametrize("attempt", [1, 3, 10])
@pytest.mark.parametrize("retry_after", [0.0, 5.0, 120.0])
def test_backoff_with_retry_after_adds_at_most_a_quarter_of_the_jitter(
    attempt: int, retry_after: float
) -> None:
    assert max(backoff(attempt, retry_after, RNG) for _ in range(SAMPLES)) <= retry_after + cap(attempt) / 4


def test_backoff_is_jittered() -> None:
    delays = {backoff(5, None, RNG) for _ in range(SAMPLES)}

    assert len(delays) > SAMPLES // 2
    assert min(delays) < BACKOFF_MAX_SECONDS / 4
    assert max(delays) > BACKOFF_MAX_SECONDS * 3 / 4


def test_backoff_grows_with_the_attempt() -> None:
    delays = [backoff(attempt, None, Extreme(high=True)) for attempt in range(1, 7)]

    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_backoff_upper_bound_with_retry_after() -> None:
    assert backoff(1, 10.0, Extreme(high=True)) == 10.0 + 0.5 / 4


def test_backoff_lower_bound_is_retry_after_exactly() -> None:
    assert backoff(3, 10.0, Extreme(high=False)) == 10.0
    assert backoff(3, None, Extreme(high=False)) == 0.0


def test_backoff_uses_the_random_source_it_is_given() -> None:
    first = [backoff(4, None, random.Random(7)) for _ in range(5)]
    second = [backoff(4, None, random.Random(7)) for _ in range(5)]

    assert first == second


# --- not_sent --------------------------------------------------------------------------------------


POOL = HTTPConnectionPool("127.0.0.1", 9)
CONNECTION = HTTPConnection("127.0.0.1", 9)


def wrapped(reason: Exception) -> MaxRetryError:
    """What urllib3 raises when an attempt fails and no retry is left."""
    return MaxRetryError(POOL, URL, reason=reason)


NOT_SENT = [
    pytest.param(
        requests.ConnectionError(wrapped(NewConnectionError(CONNECTION, "[Errno 111] Connection refused"))),
        id="connection-refused",
    ),
    pytest.param(
        requests.ConnectionError(
            wrapped(NameResolutionError("ges.invalid", CONNECTION, socket.gaierror(-2, "Name unknown")))
        ),
        id="name-not-resolved",
    ),
    pytest.param(
        requests.ConnectTimeout(wrapped(ConnectTimeoutError(CONNECTION, "connect timed out"))),
        id="connect-timeout",
    ),
    pytest.param(requests.ConnectTimeout(), id="bare-connect-timeout"),
    pytest.param(
        requests.exceptions.SSLError(wrapped(Urllib3SSLError("certificate verify failed"))), id="tls-failure"
    ),
]

MAYBE_SENT = [
    pytest.param(
        requests.ConnectionError(wrapped(ProtocolError("Connection aborted.", ConnectionResetError(104)))),
        id="protocol-error-after-retries",
    ),
    pytest.param(
        requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104))),
        id="protocol-error",
    ),
    pytest.param(
        requests.ReadTimeout(ReadTimeoutError(POOL, URL, "Read timed out. (read timeout=10)")),
        id="read-timeout",
    ),
    pytest.param(requests.ReadTimeout(), id="bare-read-timeout"),
    pytest.param(requests.ConnectionError(), id="bare-connection-error"),
    pytest.param(requests.ConnectionError("connection failed"), id="connection-error-with-text"),
    pytest.param(requests.exceptions.ChunkedEncodingError("incomplete"), id="chunked-encoding"),
    pytest.param(requests.RequestException("other"), id="other"),
    pytest.param(
        requests.RequestException(wrapped(NewConnectionError(CONNECTION, "refused"))),
        id="new-connection-reason-outside-a-connection-error",
    ),
]


@pytest.mark.parametrize("error", NOT_SENT)
def test_failure_before_the_request_was_sent_is_not_sent(error: requests.RequestException) -> None:
    assert not_sent(error) is True


@pytest.mark.parametrize("error", MAYBE_SENT)
def test_failure_that_may_follow_the_request_is_not_certainly_unsent(
    error: requests.RequestException,
) -> None:
    assert not_sent(error) is False
