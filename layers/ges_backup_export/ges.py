"""GES access: the export call, the backup list behind `latest`, the graph list behind `"*"`, and what
each answer means.

Retrying is decided by whether GES could have started something:
- 429, 502, 503, or an exchange that failed before any byte of the request left (bounded_http): nothing
  started, so the call is retried with backoff and jitter, honouring `Retry-After`, within the attempts
  and the time left;
- 500, 504, anything that went wrong once the request may have been sent (no whole answer within
  GES_TIMEOUT_SECONDS, a reset or a TLS error while the answer is read), or an answer whose body is no
  readable JSON object (however malformed, deep or large): the export may have started, and GES has no
  idempotency key, so the export is never repeated (`ExportOutcomeUnknown`). Reads (the lists, a job's
  status) are safe to repeat and are retried like the first group;
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
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from ges_backup_export.bounded_http import BoundedSession, ExchangeFailed, backoff, json_body, retry_after
from ges_backup_export.deadline import Deadline
from ges_backup_export.errors import (
    ExportOutcomeUnknown,
    GesRefused,
    GesUnavailable,
    InvalidRequest,
    TokenRejected,
)
from ges_backup_export.export_request import ALL_GRAPHS, ExportIdentity
from ges_backup_export.ids import check_id
from ges_backup_export.message_format import format_time
from ges_backup_export.observability import logger
from ges_backup_export.token_source import TokenReader

TRANSIENT_STATUSES = frozenset({429, 502, 503})
LIST_PAGE_SIZE = 100  # backups or graphs per page of a list call
MAX_LIST_PAGES = 100  # a list with more pages is an error naming it, never a list cut short
_MAX_TEXT = 500
# The spellings of an error body Huawei's SDK reads (huaweicloudsdkcore exception_handler), in its order.
_ERROR_KEYS = (
    ("error_code", "error_msg"),
    ("errorCode", "errorMsg"),
    ("errorCode", "errorMessage"),
    ("code", "message"),
)
_MAX_ERROR_DEPTH = 4


@dataclass(frozen=True)
class _Retry:
    """A transient failure: what went wrong, and how long GES asked us to wait (Retry-After)."""

    problem: str
    asked: float | None = None
    throttled: bool = False  # GES answered 429: every request of the client waits


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    about: str  # what GES is asked about, as its refusal starts: "graph g (project p)"
    body: dict[str, str] | None = None
    params: dict[str, int] = field(default_factory=dict)
    repeatable: bool = True  # whether sending it twice is harmless: reads are, the export is not


@dataclass(frozen=True)
class _Answer:
    """GES's answer: its status and its body when that is a JSON object (else None)."""

    response: requests.Response
    body: dict[str, Any] | None

    @property
    def status(self) -> int:
        return self.response.status_code


class GesClient:
    """`sleep`, `rng` and `clock` time the retries; tests replace them (as Deadline's clock) to run without
    waiting.

    One client serves the concurrent requests of an invocation (concurrency.py): at most `concurrency`
    (GES_CONCURRENCY) of its attempts are in flight at a time, a 429 pauses all of them (`_pause_all`),
    and a 401 has the token read anew once, however many requests it rejected."""

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
        self._endpoint = endpoint
        self._tokens = tokens
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._http = http or BoundedSession()
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.clock = clock
        self._lock = threading.Lock()
        self._turns = threading.BoundedSemaphore(concurrency)  # GES_CONCURRENCY: calls at once
        self._held = threading.local()  # the turn this thread holds across calls (`turn`)
        self._paused_until = 0.0  # on `clock`: no attempt starts before it (a 429)

    def export_backup(self, export: ExportIdentity, deadline: Deadline) -> str:
        """Start exporting the backup; returns GES's job_id."""
        path = f"{_graph_path(export.project_id, export.graph_id)}/backups/export"
        body = {"backup_id": export.backup_id, "export_path": export.export_path}
        request = _Request("POST", path, _graph(export), body=body, repeatable=False)
        answer = self._call(request, deadline)
        job_id = answer.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise ExportOutcomeUnknown(
                f"GES answered the export of backup {export.backup_id} without a job_id, "
                "so it may have started the export"
            )
        return job_id

    def job_status(self, project_id: str, graph_id: str, job_id: str, deadline: Deadline) -> dict[str, Any]:
        """GES's view of one job (`status`, `begin_time`, `end_time`, `fail_reason`, ...); a job GES does
        not know is GesRefused with GES's code (GES.7007). Safe to repeat: retried like every read."""
        path = f"{_graph_path(project_id, graph_id)}/jobs/{quote(job_id, safe='')}/status"
        return self._call(_Request("GET", path, f"job {job_id} of {_about(project_id, graph_id)}"), deadline)

    def latest_successful_backup(
        self, project_id: str, graph_id: str, at: datetime, deadline: Deadline
    ) -> str:
        """The newest backup of the graph whose status is `success` and that finished (`end_timestamp`)
        at or before `at`, across all pages: every retry of one request resolves to the same backup."""
        listing = _Listing(
            _Request("GET", f"{_graph_path(project_id, graph_id)}/backups", _about(project_id, graph_id)),
            "backup_list",
            "backup_count",
            InvalidRequest("backup_id", f"latest: the backup list of graph {graph_id} {_TOO_LONG}"),
        )
        limit_ms = int(at.timestamp() * 1000)
        newest: tuple[int, int, str] | None = None
        for backup in self._listed(listing, deadline):
            key = _finished_success(backup, limit_ms)
            newest = key if key is not None and (newest is None or key > newest) else newest
        if newest is None:
            raise InvalidRequest(
                "backup_id",
                f"latest: graph {graph_id} has no backup whose status is success that finished at or "
                f"before the request's time, {format_time(at)}",
            )
        return newest[2]

    def list_graphs(self, project_id: str, deadline: Deadline) -> list[str]:
        """The ids of the project's graphs, across all pages, in GES's order, whatever their status (a graph
        that cannot export is for GES to refuse, with its reason). A read: retried like one."""
        listing = _Listing(
            _Request("GET", f"/v2/{quote(project_id, safe='')}/graphs", f"project {project_id}"),
            "graphs",
            "graph_count",
            InvalidRequest("graph_id", f'"{ALL_GRAPHS}": the graph list of project {project_id} {_TOO_LONG}'),
        )
        ids: dict[str, None] = {}  # ordered, and a graph that moves between pages is listed once
        for graph in self._listed(listing, deadline):
            graph_id = graph.get("id") if isinstance(graph, dict) else None
            if isinstance(graph_id, str):
                ids[graph_id] = None
            else:
                logger.warning("GES listed a graph without an id", extra={"project_id": project_id})
        return list(ids)

    def check_access(self, project_id: str, deadline: Deadline) -> None:
        """Whether GES accepts the token for the project: it must list (at most one of) the project's graphs.

        The token rotation's test of a new token before it becomes current. A read: retried like one."""
        path = f"/v2/{quote(project_id, safe='')}/graphs"
        self._call(_Request("GET", path, f"project {project_id}", params={"offset": 0, "limit": 1}), deadline)

    @contextmanager
    def turn(self) -> Iterator[Turn]:
        """One of the client's GES_CONCURRENCY turns to call GES. A thread may hold one across its calls
        and end it early (`Turn.end`): the exporter takes one before an export's idempotency lock and ends
        it once GES answered the POST, so that no lock is held while waiting for a turn (an invocation
        killed then would leave the lock abandoned, an unknown outcome, for an export never sent)."""
        held: Turn | None = getattr(self._held, "turn", None)
        if held is not None and held.active:
            yield held
            return
        self._turns.acquire()
        turn = self._held.turn = Turn(self._turns)
        try:
            yield turn
        finally:
            turn.end()
            self._held.turn = None

    def _listed(self, listing: _Listing, deadline: Deadline) -> Iterator[object]:
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

    def _call(self, request: _Request, deadline: Deadline) -> dict[str, Any]:
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

    def _exchange(self, request: _Request, deadline: Deadline, token: str) -> _Answer:
        """Send until GES gives an answer that is not transient (a 401 is returned too), within the
        attempts and the time left."""
        problem = "no attempt was made"
        for attempt in range(1, self._max_attempts + 1):
            with self.turn():  # first: the waits for a turn and for a pause count against the time
                self._wait_for_pause()
                if not deadline.allows(self._timeout):
                    raise GesUnavailable(
                        f"{problem}; too little of the invocation's time is left for another attempt"
                    )
                outcome = self._attempt(request, token)
            if not isinstance(outcome, _Retry):
                return outcome
            problem = outcome.problem
            if attempt < self._max_attempts:
                self._wait(attempt, outcome, deadline)
        raise GesUnavailable(f"{problem} (after {self._max_attempts} attempts)")

    def _attempt(self, request: _Request, token: str) -> _Answer | _Retry:
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
            return self._unanswered(request, problem) if error.sent else _Retry(problem)
        body = json_body(response)
        answer = _Answer(response, body if isinstance(body, dict) else None)
        if answer.status in TRANSIENT_STATUSES or (request.repeatable and answer.status >= 500):
            asked = retry_after(response.headers.get("Retry-After"))
            return _Retry(self._problem(answer), asked, throttled=answer.status == 429)
        if 200 <= answer.status < 300 and answer.body is None:
            problem = f"{where}: GES answered {answer.status} with a body that is no JSON object"
            return self._unanswered(request, problem)
        return answer

    def _unanswered(self, request: _Request, problem: str) -> _Retry:
        """The request may have reached GES but no answer came: fine to repeat a read, never an export."""
        if not request.repeatable:
            raise ExportOutcomeUnknown(_unknown_outcome(problem))
        return _Retry(problem)

    def _wait(self, attempt: int, retry: _Retry, deadline: Deadline) -> None:
        delay = backoff(attempt, retry.asked, self.rng)
        if not deadline.allows(delay + self._timeout):
            raise GesUnavailable(
                f"{retry.problem}; waiting {delay:.1f}s to retry would outlast the invocation"
            )
        logger.info(
            "retrying GES",
            extra={"attempt": attempt, "delay_seconds": round(delay, 3), "problem": retry.problem},
        )
        if retry.throttled:
            self._pause_all(delay)  # this request waits it out before its next attempt, as every other
        else:
            self.sleep(delay)

    def _pause_all(self, seconds: float) -> None:
        """GES throttles: no request of this client starts an attempt for `seconds` (a storm of retries
        from concurrent requests would only prolong it)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + seconds)

    def _wait_for_pause(self) -> None:
        with self._lock:
            left = self._paused_until - self.clock()
        if left > 0:
            self.sleep(left)

    def _result(self, request: _Request, answer: _Answer) -> dict[str, Any]:
        """The body of a successful answer; else the error it means."""
        if 200 <= answer.status < 300 and answer.body is not None:
            return answer.body
        if answer.status >= 500:  # only a non-repeatable request gets here with a 5xx
            raise ExportOutcomeUnknown(_unknown_outcome(self._problem(answer)))
        code, message = self._error(answer)
        raise GesRefused(answer.status, code, message, about=request.about)

    def _problem(self, answer: _Answer) -> str:
        code, message = self._error(answer)
        return f"GES answered {answer.status} {code}: {message}"

    def _error(self, answer: _Answer) -> tuple[str, str]:
        """GES's error code and message, in any spelling Huawei's SDK reads (docs/ges-api.md, section 5)."""
        found = _find_error(answer.body, _MAX_ERROR_DEPTH)
        if found is not None:
            code, message = found
            return self._clean(code)[:64], self._clean(message)
        response = answer.response
        return f"GesHttp{answer.status}", self._clean(f"{response.reason}: {response.text}")

    def _clean(self, text: str) -> str:
        return self._tokens.scrub(text)[:_MAX_TEXT]

    # --- restore tests (restore/): import a backup from OBS, a graph's backups and details, delete ----------
    # docs/ges-api.md, "Import, delete, restore": what is documented and how each open question is hedged.
    BACKUP_GONE = "GES.7024"  # a DELETE's answer for a backup that "does not exist or has been deleted"

    def import_backup(self, project_id: str, graph_id: str, import_path: str, deadline: Deadline) -> str:
        """Start importing the backup an export wrote at `import_path` into the graph; GES's job_id.

        Not repeatable, like the export (GES has no idempotency key, and a second import eats backup
        quota): anything that goes wrong once the request may have left is ExportOutcomeUnknown, worded for
        an import, and the caller remembers it (restore/tester.py)."""
        path = f"{_graph_path(project_id, graph_id)}/backups/import"
        body = {"import_path": import_path}
        request = _Request("POST", path, _about(project_id, graph_id), body=body, repeatable=False)
        try:
            answer = self._call(request, deadline)
        except ExportOutcomeUnknown as error:
            raise ExportOutcomeUnknown(error.message.replace("the export", "the import")) from None
        job_id = answer.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise ExportOutcomeUnknown(
                f"GES answered the import of {import_path} without a job_id, so it may have started "
                "the import"
            )
        return job_id

    def delete_backup(self, project_id: str, graph_id: str, backup_id: str, deadline: Deadline) -> None:
        """Delete one backup of the graph. Repeatable: a DELETE of a backup that is gone answers GES.7024
        ("does not exist or has been deleted"), which counts as deleted, so a DELETE whose answer was lost
        (or a 200 without a JSON body, read as no answer) is simply sent again."""
        path = f"{_graph_path(project_id, graph_id)}/backups/{quote(backup_id, safe='')}"
        about = f"backup {backup_id} of {_about(project_id, graph_id)}"
        try:
            self._call(_Request("DELETE", path, about), deadline)
        except GesRefused as error:
            if error.code != self.BACKUP_GONE:
                raise
            logger.info("GES says the backup is already gone", extra={"backup_id": backup_id})

    def list_backups(self, project_id: str, graph_id: str, deadline: Deadline) -> list[dict[str, Any]]:
        """Every backup of the graph (all pages), as GES lists them (id, backup_method, status, times)."""
        listing = _Listing(
            _Request("GET", f"{_graph_path(project_id, graph_id)}/backups", _about(project_id, graph_id)),
            "backup_list",
            "backup_count",
            InvalidRequest("graph_id", f"the backup list of graph {graph_id} {_TOO_LONG}"),
        )
        return [backup for backup in self._listed(listing, deadline) if isinstance(backup, dict)]

    def graph_details(self, project_id: str, deadline: Deadline) -> list[dict[str, Any]]:
        """The project's graphs (all pages) as GES lists them, `product_type` included."""
        listing = _Listing(
            _Request("GET", f"/v2/{quote(project_id, safe='')}/graphs", f"project {project_id}"),
            "graphs",
            "graph_count",
            InvalidRequest("graph_id", f'"{ALL_GRAPHS}": the graph list of project {project_id} {_TOO_LONG}'),
        )
        return [graph for graph in self._listed(listing, deadline) if isinstance(graph, dict)]

    def show_graph(self, project_id: str, graph_id: str, deadline: Deadline) -> dict[str, Any]:
        """One graph's details; a graph GES does not know is GesRefused naming it (GES.7000)."""
        answer = self._call(
            _Request("GET", _graph_path(project_id, graph_id), _about(project_id, graph_id)), deadline
        )
        graph = answer.get("graph")
        return graph if isinstance(graph, dict) else {}

    # --- end of the restore tests' calls --------------------------------------------------------------------


class Turn:
    """A turn held by one thread (GesClient.turn); ending it twice is harmless."""

    def __init__(self, turns: threading.BoundedSemaphore) -> None:
        self._turns = turns
        self.active = True

    def end(self) -> None:
        if self.active:
            self.active = False
            self._turns.release()


def _find_error(body: object, depth: int) -> tuple[str, str] | None:
    """The first (code, message) pair in `body` or in the objects nested in it, as the SDK looks. Only a
    string or a number is a code or a message (str() of an object nested deeply enough would raise)."""
    if not isinstance(body, dict) or depth < 0:
        return None
    for code_key, message_key in _ERROR_KEYS:
        if _scalar(body.get(code_key)) and _scalar(body.get(message_key), empty=True):
            return str(body[code_key]), str(body[message_key])
    for code_key, _ in _ERROR_KEYS:
        if _scalar(body.get(code_key)):
            return str(body[code_key]), ""
    for value in body.values():
        found = _find_error(value, depth - 1)
        if found is not None:
            return found
    return None


def _finished_success(backup: object, limit_ms: int) -> tuple[int, int, str] | None:
    """(end, start, id) of a successful backup that finished by `limit_ms`, else None."""
    if not isinstance(backup, dict) or backup.get("status") != "success" or check_id(backup.get("id")):
        return None
    end = _int(backup.get("end_timestamp"))
    if not 0 < end <= limit_ms:
        return None
    return end, _int(backup.get("start_timestamp")), backup["id"]


def _scalar(value: object, *, empty: bool = False) -> bool:
    return isinstance(value, str | int | float) and (empty or value != "")


def _graph_path(project_id: str, graph_id: str) -> str:
    return f"/v2/{quote(project_id, safe='')}/graphs/{quote(graph_id, safe='')}"


def _about(project_id: str, graph_id: str) -> str:
    return f"graph {graph_id} (project {project_id})"


def _graph(export: ExportIdentity) -> str:
    return _about(export.project_id, export.graph_id)


@dataclass(frozen=True)
class _Listing:
    """A paged GES list: its request, the key of each page's items and of their total, and the error for
    a list with more pages than the client reads."""

    request: _Request
    items: str
    count: str
    too_long: InvalidRequest


_TOO_LONG = (
    f"has more than {MAX_LIST_PAGES} pages of {LIST_PAGE_SIZE}, more than the client reads: "
    "acting on part of it could pick the wrong one"
)


def _unknown_outcome(problem: str) -> str:
    return f"{problem.rstrip('.')}. The request was sent, so GES may have started the export"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
