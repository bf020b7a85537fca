"""The pure helpers of the GES client: Retry-After, backoff, "certainly not sent", and the graph path."""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

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

from ges_backup_export import ges
from ges_backup_export.ges import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_MAX_SECONDS,
    _backoff,
    _graph_path,
    _not_sent,
    _retry_after,
)

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SAMPLES = 2000
URL = "/v2/p/graphs/g/backups/export"


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GES module's wall clock stands still at NOW."""
    monkeypatch.setattr(ges, "time", SimpleNamespace(time=NOW.timestamp))


# --- _retry_after -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), ("1", 1.0), ("120", 120.0), ("2.5", 2.5), (" 7 ", 7.0), ("-5", 0.0), ("-0.1", 0.0)],
)
def test_retry_after_in_seconds_is_read_and_never_negative(value: str, expected: float) -> None:
    assert _retry_after(value) == expected


@pytest.mark.usefixtures("fixed_clock")
@pytest.mark.parametrize("seconds", [1, 30, 120, 3600])
def test_retry_after_http_date_in_the_future_is_the_seconds_until_then(seconds: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)

    assert _retry_after(header) == pytest.approx(seconds)


@pytest.mark.usefixtures("fixed_clock")
def test_retry_after_http_date_in_obsolete_rfc850_form_is_read() -> None:
    assert _retry_after("Friday, 27-Nov-26 02:01:00 GMT") == pytest.approx(60)


@pytest.mark.usefixtures("fixed_clock")
@pytest.mark.parametrize("seconds", [1, 120, 86400 * 365])
def test_retry_after_http_date_in_the_past_is_zero(seconds: int) -> None:
    header = format_datetime(NOW - timedelta(seconds=seconds), usegmt=True)

    assert _retry_after(header) == 0.0


@pytest.mark.usefixtures("fixed_clock")
def test_retry_after_http_date_now_is_zero() -> None:
    assert _retry_after(format_datetime(NOW, usegmt=True)) == 0.0


@pytest.mark.parametrize(
    "value",
    [None, "", "soon", "1,5", "5s", "Fri, 99 Nov 2026 02:00:00 GMT", "Friday", "2026-11-27T02:00:00Z"],
)
def test_retry_after_that_is_neither_seconds_nor_a_date_is_ignored(value: str | None) -> None:
    assert _retry_after(value) is None


def test_retry_after_that_is_not_finite_is_ignored() -> None:
    assert _retry_after("inf") is None


# --- _backoff -------------------------------------------------------------------------------------


def cap(attempt: int) -> float:
    return min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 10, 50])
def test_backoff_without_retry_after_stays_within_its_exponential_cap(attempt: int) -> None:
    delays = [_backoff(attempt, None) for _ in range(SAMPLES)]

    assert all(0 <= delay <= cap(attempt) for delay in delays)


@pytest.mark.parametrize("attempt", [1, 5, 10, 50, 200])
def test_backoff_without_retry_after_never_exceeds_the_maximum(attempt: int) -> None:
    assert max(_backoff(attempt, None) for _ in range(SAMPLES)) <= BACKOFF_MAX_SECONDS


@pytest.mark.parametrize("attempt", [1, 2, 3])
@pytest.mark.parametrize("retry_after", [0.0, 0.1, 1.0, 5.0, 120.0, 3600.0])
def test_backoff_is_never_shorter_than_retry_after(attempt: int, retry_after: float) -> None:
    assert min(_backoff(attempt, retry_after) for _ in range(SAMPLES)) >= retry_after


@pytest.mark.parametrize("attempt", [1, 3, 10])
@pytest.mark.parametrize("retry_after", [0.0, 5.0, 120.0])
def test_backoff_with_retry_after_adds_at_most_a_quarter_of_the_jitter(
    attempt: int, retry_after: float
) -> None:
    assert max(_backoff(attempt, retry_after) for _ in range(SAMPLES)) <= retry_after + cap(attempt) / 4


def test_backoff_is_jittered() -> None:
    delays = {_backoff(5, None) for _ in range(SAMPLES)}

    assert len(delays) > SAMPLES // 2
    assert min(delays) < BACKOFF_MAX_SECONDS / 4
    assert max(delays) > BACKOFF_MAX_SECONDS * 3 / 4


def test_backoff_grows_with_the_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ges, "random", SimpleNamespace(uniform=lambda low, high: high))

    assert [_backoff(attempt, None) for attempt in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_backoff_upper_bound_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ges, "random", SimpleNamespace(uniform=lambda low, high: high))

    assert _backoff(1, 10.0) == 10.0 + 0.5 / 4


def test_backoff_lower_bound_is_retry_after_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ges, "random", SimpleNamespace(uniform=lambda low, high: low))

    assert _backoff(3, 10.0) == 10.0
    assert _backoff(3, None) == 0.0


def test_backoff_uses_the_module_random_source() -> None:
    state = random.getstate()
    try:
        random.seed(7)
        first = [_backoff(4, None) for _ in range(5)]
        random.seed(7)
        second = [_backoff(4, None) for _ in range(5)]
    finally:
        random.setstate(state)

    assert first == second


# --- _not_sent --------------------------------------------------------------------------------------


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
    assert _not_sent(error) is True


@pytest.mark.parametrize("error", MAYBE_SENT)
def test_failure_that_may_follow_the_request_is_not_certainly_unsent(
    error: requests.RequestException,
) -> None:
    assert _not_sent(error) is False


# --- _graph_path ------------------------------------------------------------------------------------


def test_graph_path_places_project_and_graph() -> None:
    assert _graph_path("0a1b2c3d", "movies") == "/v2/0a1b2c3d/graphs/movies"


@pytest.mark.parametrize(
    ("graph_id", "encoded"),
    [
        ("a/b", "a%2Fb"),
        ("a b", "a%20b"),
        ("a?b", "a%3Fb"),
        ("a#b", "a%23b"),
        ("a%2Fb", "a%252Fb"),
        ("a\nb", "a%0Ab"),
        ("gr\u0430ph", "gr%D0%B0ph"),
    ],
)
def test_graph_path_encodes_the_graph_id(graph_id: str, encoded: str) -> None:
    assert _graph_path("p", graph_id) == f"/v2/p/graphs/{encoded}"


def test_graph_path_encodes_the_project_id() -> None:
    assert _graph_path("p/../q", "g") == "/v2/p%2F..%2Fq/graphs/g"


def test_graph_path_keeps_id_characters_as_they_are() -> None:
    assert _graph_path("A-z_0", "G-1_x") == "/v2/A-z_0/graphs/G-1_x"
