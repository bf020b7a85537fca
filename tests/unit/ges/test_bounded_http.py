"""The retry timing and the exchange classification shared by the HTTP clients: Retry-After, backoff,
and whether a failed exchange may have been sent."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import requests

from ges_backup_export.ges.http import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_MAX_SECONDS,
    MAX_ANSWER_BYTES,
    BoundedSession,
    ExchangeFailed,
    backoff,
    retry_after,
)
from local.fake_ges import FakeGes, Fault
from local.tls import LocalTls, local_tls
from tests.doubles import closed_port

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


# --- whether the request was sent --------------------------------------------------------------
# Told by the connection itself, over real sockets: the same SSL error or reset means "not sent" during
# the handshake and "sent" while the answer is read.


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> LocalTls:
    return local_tls(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="module")
def fake_server(tls: LocalTls) -> Iterator[FakeGes]:
    with FakeGes(tls=tls.server) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeGes) -> FakeGes:
    fake_server.reset()
    return fake_server


def failed_exchange(url: str, ca_bundle: str | None, seconds: float = 2.0) -> ExchangeFailed:
    verify: str | bool = ca_bundle if ca_bundle is not None else True
    with pytest.raises(ExchangeFailed) as raised:
        BoundedSession().send("POST", url + URL, seconds=seconds, json={}, verify=verify)
    return raised.value


def test_a_refused_connection_was_not_sent() -> None:
    assert failed_exchange(f"http://127.0.0.1:{closed_port()}", None).sent is False


def test_a_tls_handshake_that_failed_was_not_sent(fake: FakeGes) -> None:
    error = failed_exchange(fake.url, None)  # the system's CAs do not know the stand-in's

    assert error.sent is False
    assert "CERTIFICATE_VERIFY_FAILED" in str(error)
    assert fake.calls == []


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.garbage_after(), id="tls-garbage-after-the-request"),
        pytest.param(Fault.reset_after(), id="reset-after-the-request"),
        pytest.param(Fault.slow(3.0), id="no-answer-in-time"),
        pytest.param(Fault.trickle(0.05), id="answer-trickling-past-the-budget"),
        pytest.param(Fault.undecodable(200, b"x" * (MAX_ANSWER_BYTES + 1)), id="answer-too-large"),
    ],
)
def test_a_failure_once_the_request_went_out_may_have_been_sent(
    fake: FakeGes, tls: LocalTls, fault: Fault
) -> None:
    fake.inject(fault, route="any")

    error = failed_exchange(fake.url, tls.ca_bundle, seconds=1.0)

    assert error.sent is True
    assert len(fake.calls) == 1


def test_an_exchange_that_fails_on_a_kept_alive_connection_may_have_been_sent(
    fake: FakeGes, tls: LocalTls
) -> None:
    session = BoundedSession()
    first = session.send("GET", fake.url + "/v2/p/graphs", seconds=2.0, verify=tls.ca_bundle)
    assert first.status_code == 401  # answered: the connection stays open for the next exchange
    fake.inject(Fault.reset_after(), route="any")

    with pytest.raises(ExchangeFailed) as raised:
        session.send("POST", fake.url + URL, seconds=2.0, json={}, verify=tls.ca_bundle)

    assert raised.value.sent is True


def test_a_session_of_a_test_s_own_cannot_tell_so_every_failure_may_have_been_sent() -> None:
    with pytest.raises(ExchangeFailed) as raised:
        BoundedSession(requests.Session()).send("GET", f"http://127.0.0.1:{closed_port()}/", seconds=1.0)

    assert raised.value.sent is True
