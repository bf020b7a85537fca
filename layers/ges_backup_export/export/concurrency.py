"""The requests of one invocation, run concurrently, with at most GES_CONCURRENCY calls to GES at a time.

Every export is one slow call to GES, so the requests of an invocation (the records of an SQS batch, the
entries of an `exports` list, the graphs of a `"*"` request) run on threads: `run_each` runs a list of
them on a pool of up to twice GES_CONCURRENCY threads. What GES sees is bounded by the GES client
(ges/turns.py): at most GES_CONCURRENCY turns at GES at a time, however the requests nest (records holding
lists), while the other requests make their DynamoDB and SQS calls, so those overlap the waits for GES
rather than add to them. An export takes its turn before its idempotency lock and ends it when GES
answered the POST (exporter.py): no lock waits for a turn, so an invocation killed meanwhile leaves no
lock abandoned (an unknown outcome) for an export it never sent. GES_CONCURRENCY 1 runs the requests
one after another in the calling thread, as the function did before.

What is shared across the threads, and why it is safe:
- boto3 clients are thread-safe; their connection pools are sized for the threads (export/runtime.py); the
  Powertools idempotency stores are configured once, before any request (deduplication.ExportRecords),
  because `configure` marks a store configured before it sets the key expression, and a second thread
  would hash a whole payload in between;
- the GES client's requests session and urllib3 pool are sized to GES_CONCURRENCY; its pause after a 429
  is shared, so one throttled request slows every request (ges/turns.py);
- the token is read under a lock (ges/token_source.py): one GetSecretValue on a cold start, one re-read
  after a 401, however many threads meet it;
- log keys: Powertools' `append_keys` is global, so requests append theirs with `thread_safe_append_keys`
  (a context variable per thread). A pool thread does not inherit the keys of the thread that submitted
  the work, and keeps its own from one task to the next (and across warm invocations), so `run_each`
  gives each task the submitter's keys and nothing else;
- two requests of one invocation for the same export wait for each other (`ExportTurns`, one per
  invocation) rather than meet the idempotency lock and fail as "in progress"; requests of different
  invocations (other execution environments) still meet the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from ges_backup_export.core.observability import logger

T = TypeVar("T")
R = TypeVar("R")


class Requests:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency

    def run_each(self, items: list[T], work: Callable[[T], R]) -> list[R]:
        """`work(item)` for every item, on a pool of up to 2 x GES_CONCURRENCY threads; results in order."""
        if self.concurrency == 1 or len(items) <= 1:
            return [work(item) for item in items]
        keys = dict(logger.thread_safe_get_current_keys())

        def task(item: T) -> R:
            logger.thread_safe_clear_keys()
            logger.thread_safe_append_keys(**keys)
            try:
                return work(item)
            finally:
                logger.thread_safe_clear_keys()

        with ThreadPoolExecutor(max_workers=min(threads_for(self.concurrency), len(items))) as pool:
            return list(pool.map(task, items))


def threads_for(concurrency: int) -> int:
    """The threads of one pool: while GES_CONCURRENCY requests wait for GES, as many more make their AWS
    calls."""
    return 2 * concurrency


class ExportTurns:
    """The exports one invocation's requests are handling: a second request for one of them waits for
    the first, then finds its stored result (a duplicate) instead of the first one's lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exports: dict[Any, _Turns] = {}

    @contextmanager
    def same_export(self, identity: Any) -> Iterator[None]:
        with self._lock:
            turns = self._exports.setdefault(identity, _Turns())
            turns.waiting += 1
        try:
            with turns.lock:
                yield
        finally:
            with self._lock:
                turns.waiting -= 1
                if not turns.waiting:
                    del self._exports[identity]


class _Turns:
    """One export's turns: its lock, and how many requests hold or wait for it (gone at none)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting = 0
