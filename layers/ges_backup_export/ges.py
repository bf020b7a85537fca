"""GES access: the export call, the backup list behind `latest`, and what each answer means.

Retrying is decided by whether GES could have started something:
- 429, 502, 503, or a connection that failed before the request was sent: nothing started, so the call
  is retried with backoff and jitter, honouring `Retry-After`, within the attempts and the time left;
- 500, 504, or no answer after the request was sent: the export may have started, and GES has no
  idempotency key, so the export is never repeated blindly (`ExportOutcomeUnknown`). Reads (the backup
  list) are safe to repeat and are retried like the first group;
- 401: the token is read again bypassing the cache and the call repeated once;
- any other 4xx: GES refused; its own code and message are raised.
"""

from __future__ import annotations

import math
import random
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, SSLError

from ges_backup_export.deadline import Deadline
from ges_backup_export.errors import (
    ExportOutcomeUnknown,
    GesRefused,
    GesUnavailable,
    InvalidRequest,
    TokenRejected,
)
from ges_backup_export.export_request import ExportIdentity, check_id
from ges_backup_export.observability import logger
from ges_backup_export.token_source import TokenSource

TRANSIENT_STATUSES = frozenset({429, 502, 503})
BACKUP_PAGE_SIZE = 100
MAX_BACKUP_PAGES = 100
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
_MAX_TEXT = 500


def pause(seconds: float) -> None:
    """Wait between attempts (the one place the client sleeps, so tests can replace it)."""
    time.sleep(seconds)


class GesClient:
    def __init__(
        self,
        endpoint: str,
        tokens: TokenSource,
        *,
        timeout: float,
        max_attempts: int,
        session: requests.Session | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._tokens = tokens
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._session = session or requests.Session()

    def export_backup(self, export: ExportIdentity, deadline: Deadline) -> str:
        """Start exporting the backup; returns GES's job_id."""
        path = f"{_graph_path(export.project_id, export.graph_id)}/backups/export"
        body = {"backup_id": export.backup_id, "export_path": export.export_path}
        answer = self._call("POST", path, deadline, body=body, repeatable=False)
        job_id = answer.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise ExportOutcomeUnknown(
                f"GES answered the export of backup {export.backup_id} without a job_id; "
                "check the graph's jobs in GES before sending this request again"
            )
        return job_id

    def latest_successful_backup(self, project_id: str, graph_id: str, deadline: Deadline) -> str:
        """The id of the newest backup of the graph whose status is `success`, across all pages."""
        path = f"{_graph_path(project_id, graph_id)}/backups"
        newest: tuple[int, int, str] | None = None
        offset = 0
        for _ in range(MAX_BACKUP_PAGES):
            page = self._call("GET", path, deadline, params={"offset": offset, "limit": BACKUP_PAGE_SIZE})
            backups = page.get("backup_list") or []
            for backup in backups:
                if (
                    isinstance(backup, dict)
                    and backup.get("status") == "success"
                    and not check_id(backup.get("id"))
                ):
                    key = (
                        _int(backup.get("start_timestamp")),
                        _int(backup.get("end_timestamp")),
                        backup["id"],
                    )
                    newest = key if newest is None or key > newest else newest
            offset += len(backups)
            total = page.get("backup_count")
            if not backups or (isinstance(total, int) and offset >= total):
                break
        if newest is None:
            raise InvalidRequest(
                "backup_id", f"latest: graph {graph_id} has no backup whose status is success"
            )
        return newest[2]

    def _call(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        body: dict[str, str] | None = None,
        params: dict[str, int] | None = None,
        repeatable: bool = True,
    ) -> dict[str, Any]:
        problem = "no attempt was made"
        reread_token = False  # GES answered 401: the next attempt reads the secret anew
        token_was_reread = False  # ...which happens once per call; a second 401 is final
        attempt = 0
        while True:
            if not deadline.allows(self._timeout):
                raise GesUnavailable(
                    f"{problem}; too little of the invocation's time is left for another attempt"
                )
            attempt += 1
            retry_after: float | None = None
            token = self._tokens.get(refresh=reread_token)
            if reread_token:
                token_was_reread, reread_token = True, False
            try:
                response = self._session.request(
                    method,
                    self._endpoint + path,
                    json=body,
                    params=params,
                    headers={"X-Auth-Token": token},
                    timeout=self._timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as error:
                problem = f"{method} {path} failed: {self._describe(error)}"
                if not (repeatable or _not_sent(error)):
                    raise ExportOutcomeUnknown(_unknown_outcome(problem)) from None
            else:
                if 200 <= response.status_code < 300:
                    return _json_object(response)
                if response.status_code == 401 and not token_was_reread:
                    logger.warning("GES rejected the token; reading the secret again")
                    reread_token, attempt = True, attempt - 1
                    continue
                problem, retry_after = self._transient_problem(response, repeatable)
            if attempt >= self._max_attempts:
                raise GesUnavailable(f"{problem} (after {attempt} attempts)")
            delay = _backoff(attempt, retry_after)
            if not deadline.allows(delay + self._timeout):
                raise GesUnavailable(f"{problem}; waiting {delay:.1f}s to retry would outlast the invocation")
            logger.info(
                "retrying GES",
                extra={"attempt": attempt, "delay_seconds": round(delay, 3), "problem": problem},
            )
            pause(delay)

    def _transient_problem(self, response: requests.Response, repeatable: bool) -> tuple[str, float | None]:
        """What went wrong and how long GES asked us to wait, for an answer worth retrying; else raise."""
        status = response.status_code
        code, message = self._error(response)
        problem = f"GES answered {status} {code}: {message}"
        if status == 401:
            raise TokenRejected(f"{problem} (again after the secret was read anew)")
        if status >= 500 and status not in TRANSIENT_STATUSES and not repeatable:
            raise ExportOutcomeUnknown(_unknown_outcome(problem))
        if status < 500 and status != 429:
            raise GesRefused(status, code, message)
        return problem, _retry_after(response.headers.get("Retry-After"))

    def _error(self, response: requests.Response) -> tuple[str, str]:
        """GES's error code and message, from either spelling of its error body (ges-api.md §5)."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            body = body["error"]
        if isinstance(body, dict):
            for code_key, message_key in (
                ("error_code", "error_msg"),
                ("errorCode", "errorMessage"),
                ("code", "message"),
            ):
                if body.get(code_key) not in (None, ""):
                    return self._clean(str(body[code_key]))[:64], self._clean(str(body.get(message_key, "")))
        return f"GesHttp{response.status_code}", self._clean(f"{response.reason}: {response.text}")

    def _describe(self, error: requests.RequestException) -> str:
        return self._clean(f"{type(error).__name__}: {error}")

    def _clean(self, text: str) -> str:
        return self._tokens.scrub(text)[:_MAX_TEXT]


def _graph_path(project_id: str, graph_id: str) -> str:
    return f"/v2/{quote(project_id, safe='')}/graphs/{quote(graph_id, safe='')}"


def _not_sent(error: requests.RequestException) -> bool:
    """Whether the request certainly never reached GES (refused, unresolvable, TLS or connect timeout)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectionError) and isinstance(
        reason, NewConnectionError | ConnectTimeoutError | SSLError
    )


def _unknown_outcome(problem: str) -> str:
    return (
        f"{problem}. The request was sent, so GES may have started the export: check the graph's jobs in GES "
        "(GET /v2/{project_id}/graphs/jobs) and send the request again only if no export started"
    )


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _retry_after(value: str | None) -> float | None:
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
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _backoff(attempt: int, retry_after: float | None) -> float:
    """Full-jitter exponential backoff, never shorter than what GES asked for."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(attempt - 1, 16))
    jitter = random.uniform(0, ceiling)  # noqa: S311
    return jitter if retry_after is None else retry_after + jitter / 4


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
