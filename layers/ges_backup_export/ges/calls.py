"""How one call to GES is made, whatever it asks: the token (read anew once after a 401), the attempts
(retrying.py, within GES_CONCURRENCY turns, turns.py), what GES's answer means (answers.py), and paged lists
read to their end. The calls themselves are in client.py.

Retrying is decided by whether GES could have started something:
- 429, 502, 503, or an exchange that failed before any byte of the request left (http.py): nothing
  started, so the call is retried (backoff and jitter, honouring `Retry-After`, within the attempts and
  the time left);
- 500, 504, anything that went wrong once the request may have been sent (no whole answer within
  GES_TIMEOUT_SECONDS, a reset or a TLS error while the answer is read), or an answer whose body is no
  readable JSON object (however malformed, deep or large): what GES was asked may have started, and GES
  has no idempotency key, so a request that is not repeatable (an export, an import) is never repeated
  (`ExportOutcomeUnknown`). Reads are safe to repeat and are retried like the first group;
- 401: the token is read again bypassing the cache and the call repeated once;
- any other 4xx: GES refused; its own code and message are raised, naming the graph (or project) asked
  about.

Every request carries `Content-Type: application/json`, GETs included, as Huawei's own SDK sends it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import (
    ExportOutcomeUnknown,
    GesRefused,
    GesUnavailable,
    InvalidRequest,
    TokenRejected,
)
from ges_backup_export.core.observability import logger
from ges_backup_export.ges.answers import Answer, error_of, unknown_outcome
from ges_backup_export.ges.http import BoundedSession, ExchangeFailed, json_body, retry_after
from ges_backup_export.ges.retrying import Retry, RetryingClient
from ges_backup_export.ges.token_source import TokenReader
from ges_backup_export.ges.turns import Turn, Turns

TRANSIENT_STATUSES = frozenset({429, 502, 503})
LIST_PAGE_SIZE = 100  # backups or graphs per page of a list call
MAX_LIST_PAGES = 100  # a list with more pages is an error naming it, never a list cut short
_MAX_TEXT = 500


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    about: str  # what GES is asked about, as its refusal starts: "graph g (project p)"
    body: dict[str, str] | None = None
    params: dict[str, int] = field(default_factory=dict)
    starts: str | None = None  # what a request that must never be sent twice may start: "the export"

    @property
    def repeatable(self) -> bool:
        """Whether sending it twice is harmless: reads and deletes are, an export or an import is not."""
        return self.starts is None


@dataclass(frozen=True)
class Listing:
    """A paged GES list: its request, the key of each page's items and of their total, and the error for
    a list with more pages than the client reads."""

    request: Request
    items: str
    count: str
    too_long: InvalidRequest


class GesCalls(RetryingClient):
    """`sleep`, `rng` and `clock` time the retries; tests replace them (as Deadline's clock) to run without
    waiting.

    One client serves the concurrent requests of an invocation (export/concurrency.py): at most
    `concurrency` (GES_CONCURRENCY) of its attempts are in flight at a time, a 429 pauses all of them
    (turns.py), and a 401 has the token read anew once, however many requests it rejected."""

    service = "GES"
    unavailable = GesUnavailable

    def __init__(
        self,
        endpoint: str,
        tokens: TokenReader,
        *,
        timeout: float,
        max_attempts: int,
        concurrency: int = 1,
        http: BoundedSession | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(timeout=timeout, max_attempts=max_attempts, http=http, sleep=sleep, rng=rng)
        self._endpoint = endpoint
        self._tokens = tokens
        self.clock = clock
        self._lock = threading.Lock()  # one secret read after a 401, whatever the requests it rejected
        self._turns = Turns(concurrency)

    def turn(self) -> AbstractContextManager[Turn]:
        """One of the client's GES_CONCURRENCY turns to call GES (turns.py)."""
        return self._turns.turn()

    def _listed(self, listing: Listing, deadline: Deadline) -> Iterator[object]:
        """The items of a paged GES list, page after page, the offset advancing by the items actually
        received; `listing.too_long` when it has more than MAX_LIST_PAGES pages."""
        offset = 0
        for _ in range(MAX_LIST_PAGES):
            params = {"offset": offset, "limit": LIST_PAGE_SIZE}
            page = self._call(replace(listing.request, params=params), deadline)
            listed = page.get(listing.items)
            listed = listed if isinstance(listed, list) else []
            yield from listed
            offset += len(listed)
            total = page.get(listing.count)
            if not listed or (isinstance(total, int) and offset >= total):
                return
        raise listing.too_long

    def _call(self, request: Request, deadline: Deadline) -> dict[str, Any]:
        token = self._tokens.get()
        answer = self._exchange(request, deadline, token)
        if answer.status == 401:
            logger.warning("GES rejected the token; reading the secret again")
            answer = self._exchange(request, deadline, self._token_after(token))
            if answer.status == 401:
                raise TokenRejected(f"{self._problem(answer)} (again after the secret was read anew)")
        return self._result(request, answer)

    def _token_after(self, rejected: str) -> str:
        """A token to try after GES rejected `rejected`: the secret read anew, once for all the requests
        it rejected at the same time (the first to get here reads; the others find its token)."""
        with self._lock:
            current = self._tokens.get()
            return current if current != rejected else self._tokens.get(refresh=True)

    def _exchange(self, request: Request, deadline: Deadline, token: str) -> Answer:
        """Send until GES gives an answer that is not transient (a 401 is returned too), within the
        attempts and the time left."""
        return self._retried(partial(self._in_turn, request, token), deadline)

    def _in_turn(self, request: Request, token: str, ready: Callable[[], None]) -> Answer | Retry:
        """One attempt, in a turn, after any pause: the waits for both count against the time left."""
        with self.turn():
            paused = self._turns.paused_for(self.clock())
            if paused > 0:
                self.sleep(paused)
            ready()
            return self._attempt(request, token)

    def _pause(self, seconds: float, retry: Retry) -> None:
        """After a 429 every request of the client waits (this one as the others, before its next attempt)."""
        if retry.throttled:
            self._turns.pause_all(self.clock() + seconds)
        else:
            self.sleep(seconds)

    def _attempt(self, request: Request, token: str) -> Answer | Retry:
        """GES's answer, or a transient failure to retry."""
        where = f"{request.method} {request.path}"
        try:
            response = self._http.send(
                request.method,
                self._endpoint + request.path,
                seconds=self._timeout,
                json=request.body,
                params=request.params,
                headers={"X-Auth-Token": token, "Content-Type": "application/json"},
            )
        except ExchangeFailed as error:
            problem = f"{where} failed: {self._clean(str(error))}"
            return self._unanswered(request, problem) if error.sent else Retry(problem)
        body = json_body(response)
        answer = Answer(response, body if isinstance(body, dict) else None)
        if answer.status in TRANSIENT_STATUSES or (request.repeatable and answer.status >= 500):
            asked = retry_after(response.headers.get("Retry-After"))
            return Retry(self._problem(answer), asked, throttled=answer.status == 429)
        if 200 <= answer.status < 300 and answer.body is None:
            problem = f"{where}: GES answered {answer.status} with a body that is no JSON object"
            return self._unanswered(request, problem)
        return answer

    def _unanswered(self, request: Request, problem: str) -> Retry:
        """The request may have reached GES but no answer came: fine to repeat a read, never an export."""
        if not request.repeatable:
            raise ExportOutcomeUnknown(unknown_outcome(problem, request.starts))
        return Retry(problem)

    def _result(self, request: Request, answer: Answer) -> dict[str, Any]:
        """The body of a successful answer; else the error it means."""
        if 200 <= answer.status < 300 and answer.body is not None:
            return answer.body
        if answer.status >= 500:  # only a non-repeatable request gets here with a 5xx
            raise ExportOutcomeUnknown(unknown_outcome(self._problem(answer), request.starts))
        code, message = self._error(answer)
        raise GesRefused(answer.status, code, message, about=request.about)

    def _problem(self, answer: Answer) -> str:
        code, message = self._error(answer)
        return f"GES answered {answer.status} {code}: {message}"

    def _error(self, answer: Answer) -> tuple[str, str]:
        code, message = error_of(answer)
        return self._clean(code)[:64], self._clean(message)

    def _clean(self, text: str) -> str:
        return self._tokens.scrub(text)[:_MAX_TEXT]

    # --- restore tests (restore/): import a backup from OBS, a graph's backups and details, delete ----------
    # docs/ges-api.md, "Import, delete, restore": what is documented and how each open question is hedged.
    BACKUP_GONE = "GES.7024"  # a DELETE's answer for a backup that "does not exist or has been deleted"
