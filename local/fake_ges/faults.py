"""What the network or the gateway does to a request (:class:`Fault`), the requests a fake records
(:class:`Call`), and the faults queued for the next requests (:class:`FaultQueue`), shared with the fake
IAM."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.fake_ges.errors import error_body

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000  # valid JSON that Python's decoder refuses (RecursionError)


@dataclass(frozen=True)
class Fault:
    """What the network or gateway does to one request instead of (or before, or after) normal handling."""

    status: int | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    byte_pause: float = 0.0  # > 0: the answer is trickled, one byte per pause
    # After GES handled the request: "garbage" bytes written straight on the socket (under TLS, below
    # it) or a "reset" instead of the answer; or the answer's status and body replaced by `raw_body`.
    after: str | None = None
    raw_body: bytes | None = None

    @classmethod
    def http(cls, status: int, retry_after: float | None = None) -> Fault:
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return cls(status=status, headers=headers)

    @classmethod
    def ges_error(cls, status: int, code: str, message: str, style: str = "snake") -> Fault:
        """A GES error body in one of :data:`ERROR_STYLES`."""
        return cls(status=status, body=error_body(code, message, style))

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay=seconds)

    @classmethod
    def dropped(cls) -> Fault:
        return cls(drop=True)

    @classmethod
    def garbage_after(cls) -> Fault:
        """GES handles the request (an export starts), then garbage reaches the client instead of the
        answer: under TLS, bytes that are no TLS record (the client's TLS layer fails while reading)."""
        return cls(after="garbage")

    @classmethod
    def reset_after(cls) -> Fault:
        """GES handles the request, then the connection is reset instead of answered."""
        return cls(after="reset")

    @classmethod
    def undecodable(cls, status: int = 200, body: bytes | None = None) -> Fault:
        """GES handles the request, then answers `status` with a body no JSON reader can decode (by
        default a JSON array nested 100,000 deep)."""
        return cls(status=status, raw_body=DEEP_JSON if body is None else body)

    @classmethod
    def trickle(cls, seconds_per_byte: float) -> Fault:
        """The request is handled normally (an export is accepted), then the whole answer (status line,
        headers, body) goes out one byte at a time, ``seconds_per_byte`` apart: a client whose timeout
        applies to each socket read keeps receiving far beyond that timeout."""
        if seconds_per_byte <= 0:
            raise ValueError("seconds_per_byte must be positive")
        return cls(byte_pause=seconds_per_byte)


@dataclass
class Call:
    """One received request. The token is never stored, only whether it was valid; of the headers, only
    their names are kept (no value, so not the token's either)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any  # the JSON body as received (or its text when it is not JSON)
    token_valid: bool
    status: int | None = None
    header_names: tuple[str, ...] = ()
    received: float = field(default_factory=time.monotonic)  # when it was read (time.monotonic)


def exporting_to(path: str) -> Callable[[Call], bool]:
    """For `inject(when=...)`: the export requests to one export path."""
    return lambda call: isinstance(call.body, dict) and call.body.get("export_path") == path


@dataclass
class _Pending:
    fault: Fault
    remaining: int
    when: Callable[[Any], bool] | None = None


class FaultQueue:
    """The faults queued for the next requests, per route, in order; a route's queue is searched before
    the ``"any"`` queue. Not locked: its owner holds its own lock around each call."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[_Pending]] = {}
        self.fired = 0  # over the owner's life; clear() leaves it

    def add(self, fault: Fault, times: int, route: str, when: Callable[[Any], bool] | None = None) -> None:
        """`fault` for the next `times` requests of `route` that `when` accepts (all when None)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        self._queues.setdefault(route, deque()).append(_Pending(fault, times, when))

    def clear(self) -> None:
        self._queues.clear()

    def take(self, route: str | None, call: object) -> Fault | None:
        """The fault for this request, counted as used; None when none is queued for it."""
        for key in (route, "any"):
            queue = self._queues.get(key, deque()) if key else deque()
            pending = next((p for p in queue if p.when is None or p.when(call)), None)
            if pending is not None:
                pending.remaining -= 1
                if pending.remaining == 0:
                    queue.remove(pending)
                self.fired += pending.fault != Fault()  # Fault() lets a request through
                return pending.fault
        return None


class FaultedFake:
    """What a fake with a :class:`FaultQueue` under its lock offers: clearing it, counting what fired."""

    _lock: threading.Lock
    _faults: FaultQueue

    @property
    def faults_fired(self) -> int:
        """The faults fired over the fake's life (reset() leaves the count)."""
        with self._lock:
            return self._faults.fired

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, route: str | None, call: object) -> Fault | None:
        with self._lock:
            return self._faults.take(route, call)
