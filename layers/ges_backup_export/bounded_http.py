"""HTTP exchanges bounded as a whole, and the retry timing our HTTP clients (GES, IAM) share.

requests' timeout bounds each socket operation, not the exchange: an answer that trickles in one byte
at a time keeps a call going far past it, and an export call that outlives its invocation leaves GES's
answer unknown. `BoundedSession.send` bounds connecting, sending and reading the whole answer by one
budget: a watchdog thread shuts the connection's socket down when the budget is spent, which ends the
blocked read at once.

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
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, SSLError

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
_current = threading.local()


class ExchangeTimedOut(Exception):
    """No complete answer within the budget; the request may have reached the server."""


class _Watchdog:
    """Shuts down the socket of the watched connection once `seconds` have passed, unless cancelled."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
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
    watchdog: _Watchdog | None = getattr(_current, "watchdog", None)
    if watchdog is not None and isinstance(connection, HTTPConnection):
        watchdog.watch(connection)


class _WatchedHTTPPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _watch(connection)
        return connection


class _WatchedHTTPSPool(HTTPSConnectionPool):
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
    only the session it builds has the watchdog's adapter."""

    def __init__(self, session: requests.Session | None = None, pool_size: int = 10) -> None:
        if session is None:
            session = requests.Session()
            adapter = _WatchedAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session

    def send(self, method: str, url: str, *, seconds: float, **options: Any) -> requests.Response:
        """One exchange, connect to last byte within `seconds`; never follows redirects.

        Raises ExchangeTimedOut when the budget ran out, requests' own errors otherwise."""
        watchdog = _Watchdog(seconds)
        _current.watchdog = watchdog
        watchdog.start()
        try:
            response = self.session.request(
                method, url, timeout=(seconds, seconds), allow_redirects=False, **options
            )
        except requests.RequestException:
            if watchdog.fired:
                raise ExchangeTimedOut(f"no complete answer within {seconds:g}s") from None
            raise
        finally:
            watchdog.cancel()
            _current.watchdog = None
        if watchdog.fired:  # the socket was shut mid-answer: what was read may be cut short
            raise ExchangeTimedOut(f"no complete answer within {seconds:g}s")
        return response


def not_sent(error: requests.RequestException) -> bool:
    """Whether the request certainly never reached the server (refused, unresolvable, TLS or connect
    timeout)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectionError) and isinstance(
        reason, NewConnectionError | ConnectTimeoutError | SSLError
    )


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
