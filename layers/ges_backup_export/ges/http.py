"""HTTP exchanges bounded as a whole, and the retry timing our HTTP clients (GES, IAM) share.

requests' timeout bounds each socket operation, not the exchange: an answer that trickles in one byte
at a time keeps a call going far past it, and an export call that outlives its invocation leaves GES's
answer unknown. `BoundedSession.send` bounds connecting, sending and reading the whole answer by one
budget: a watchdog thread shuts the connection's socket down when the budget is spent, which ends the
blocked read at once. The answer is read whole, at most MAX_ANSWER_BYTES of it.

Whatever goes wrong during an exchange ends as one `ExchangeFailed`, which says whether any byte of the
request may have left (`sent`). Only a failure before the first byte proves the server saw nothing:
name resolution, a refused connection, a connect timeout, a TLS handshake that failed. The exchange
knows it from the connection itself (`_Exchange.sending`, set by the first `send` on an open
connection), not from the type of the error: an SSL error or a reset while the answer is read looks
the same as one during the handshake, but the request was sent.

Thread safety: one `BoundedSession` may serve several threads. Each exchange has its own watchdog,
found through a thread-local while urllib3 takes a connection from its pool; requests' Session and
urllib3's pools are safe to share across threads for this use (their documented caveat concerns
changing a session's settings while it is in use, which nothing here does).
"""

from __future__ import annotations

import contextlib
import math
import random
import socket
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, cast

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
# The most of an answer read (a page of 100 backups or graphs is a few hundred KB): a larger one is a
# failed exchange, not a MemoryError in a 256 MB function.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
_current = threading.local()


class ExchangeFailed(Exception):
    """No whole answer came. `sent`: whether any byte of the request may have reached the server."""

    def __init__(self, problem: str, *, sent: bool) -> None:
        super().__init__(problem)
        self.sent = sent


class _Exchange:
    """One exchange: whether its request began to go out, and the watchdog that shuts down the socket
    of its connection once `seconds` have passed, unless cancelled."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self.sending = False
        self._connection: HTTPConnection | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(seconds,), name="http-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def watch(self, connection: HTTPConnection) -> None:
        self._connection = connection

    def cancel(self) -> None:
        self._done.set()

    def _run(self, seconds: float) -> None:
        if self._done.wait(seconds):
            return
        self.fired = True
        # Before the socket exists the connect timeout (at most `seconds`) bounds the wait; try again
        # until there is a socket to shut, or the exchange ended.
        while not self._done.is_set():
            sock = getattr(self._connection, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed
                    sock.shutdown(socket.SHUT_RDWR)
                return
            self._done.wait(0.01)


def _watch(connection: Any) -> None:
    exchange: _Exchange | None = getattr(_current, "exchange", None)
    if exchange is not None and isinstance(connection, HTTPConnection):
        exchange.watch(connection)


def _sending() -> None:
    exchange: _Exchange | None = getattr(_current, "exchange", None)
    if exchange is not None:
        exchange.sending = True


class _SendingHTTPConnection(HTTPConnection):
    """urllib3's connection, telling the exchange when the request begins to go out. Every byte of a
    request goes through `send`; a connection not yet open is opened first (as http.client would do in
    `send`), so a failed connect or TLS handshake happens before the mark, and a write on a kept-alive
    connection after it."""

    def send(self, data: Any) -> None:
        if self.sock is None:
            self.connect()
        _sending()
        super().send(data)


class _SendingHTTPSConnection(_SendingHTTPConnection, HTTPSConnection):
    """The same mark over TLS: `send` above, HTTPSConnection's connect (the handshake) below it."""


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _SendingHTTPConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _watch(connection)
        return connection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _SendingHTTPSConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _watch(connection)
        return connection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter, whose urllib3 pools tell the current exchange's watchdog their connection."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


class BoundedSession:
    """A requests session whose every exchange ends within its budget.

    `session` replaces the one it builds (tests record what would be sent with their own adapters);
    only the session it builds has the watchdog's adapter, and tells when a request began to go out:
    with another, every failed exchange may have been sent."""

    def __init__(self, session: requests.Session | None = None, pool_size: int = 10) -> None:
        self._tells_sending = session is None
        if session is None:
            session = requests.Session()
            adapter = _WatchedAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session

    def send(self, method: str, url: str, *, seconds: float, **options: Any) -> requests.Response:
        """One exchange, connect to last byte within `seconds`; never follows redirects.

        Raises ExchangeFailed for anything that went wrong: no answer, no whole answer in time, an answer
        larger than MAX_ANSWER_BYTES, or any error of requests or below it."""
        exchange = _Exchange(seconds)
        _current.exchange = exchange
        exchange.start()
        try:
            response = self.session.request(
                method, url, timeout=(seconds, seconds), allow_redirects=False, stream=True, **options
            )
            _read_whole(response)
        except Exception as error:  # the exchange is the boundary: whatever failed, say whether it was sent
            problem = f"{type(error).__name__}: {error}"
            if exchange.fired:
                problem = f"no complete answer within {seconds:g}s"
            raise ExchangeFailed(problem, sent=exchange.sending or not self._tells_sending) from None
        finally:
            exchange.cancel()
            _current.exchange = None
        if exchange.fired:  # the socket was shut mid-answer: what was read may be cut short
            raise ExchangeFailed(f"no complete answer within {seconds:g}s", sent=True)
        return response


class AnswerTooLarge(Exception):
    """The answer's body is larger than MAX_ANSWER_BYTES."""


def _read_whole(response: requests.Response) -> None:
    """Read the body as requests does for `content` (which then serves `json()` and `text`), refusing one
    past MAX_ANSWER_BYTES."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            response.close()
            raise AnswerTooLarge(f"the answer's body is larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    response._content = b"".join(chunks)


def json_body(response: requests.Response) -> object:
    """The answer's body as JSON, or None when it is not JSON: malformed, nested too deeply to decode
    (RecursionError), or in an undecodable charset."""
    try:
        return cast(object, response.json())
    except (ValueError, RecursionError):
        return None


def retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now())
    except (TypeError, ValueError):
        return None


def backoff(attempt: int, asked: float | None, rng: random.Random) -> float:
    """Full-jitter exponential backoff after `attempt` (1-based), never shorter than what was `asked`."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(attempt - 1, 16))
    jitter = rng.uniform(0, ceiling)
    return jitter if asked is None else asked + jitter / 4
