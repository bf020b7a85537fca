"""The requests of one invocation, at most GES_CONCURRENCY at a time.

Every export is one slow call to GES, so the requests of an invocation (the records of an SQS batch, the
entries of an `exports` list, the graphs of a `"*"` request) run on threads: `run_each` runs a list of
them on a pool, and each request holds one of the invocation's slots (`slot`) while it talks to GES and
AWS, so that nested lists (records holding lists) share one bound. GES_CONCURRENCY 1 runs them one
after another in the calling thread, as the function did before.

What is shared across the threads, and why it is safe:
- boto3 clients are thread-safe; the Powertools idempotency stores are configured once, before any
  request (deduplication.ExportRecords), because `configure` marks a store configured before it sets the
  key expression, and a second thread would hash a whole payload in between;
- the GES client's requests session and urllib3 pool are sized to GES_CONCURRENCY; its pause after a 429
  is shared, so one throttled request slows every request (ges.py);
- the token is read under a lock (token_source.py): one GetSecretValue on a cold start, one re-read
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

from ges_backup_export.observability import logger

T = TypeVar("T")
R = TypeVar("R")


class Requests:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)

    def run_each(self, items: list[T], work: Callable[[T], R]) -> list[R]:
        """`work(item)` for every item, in a pool of at most GES_CONCURRENCY threads; results in order."""
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

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(task, items))

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One request's turn: at most GES_CONCURRENCY requests of the invocation hold one at a time."""
        with self._slots:
            yield


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
