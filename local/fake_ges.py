"""A fake Huawei Cloud GES v2 management plane: a real HTTP server for tests and local runs.

It serves the routes the exporter and its tests need, shaped after ``docs/ges-api.md``:

* ``POST /v2/{project_id}/graphs/{graph_id}/backups/export`` (section 1), route ``export``;
* ``GET  /v2/{project_id}/graphs/{graph_id}/backups?offset&limit`` (section 2a), ``list_backups``;
* ``GET  /v2/{project_id}/graphs/backups?offset&limit`` (section 2b), ``list_all_backups``;
* ``GET  /v2/{project_id}/graphs/{graph_id}/jobs/{job_id}/status`` (section 3), ``job_status``;
* ``GET  /v2/{project_id}/graphs/jobs?offset&limit&status&graph_name&start_time&end_time`` (section 3,
  list jobs), ``list_jobs``;
* ``GET  /v2/{project_id}/graphs?offset&limit`` (section 4), ``list_graphs``;
* ``GET  /v2/{project_id}/graphs/{graph_id}`` (section 4), ``show_graph``.
* ``POST /v2/{project_id}/graphs/{graph_id}/backups/import`` and ``DELETE
  /v2/{project_id}/graphs/{graph_id}/backups/{backup_id}`` (section 8), ``import_backup`` and
  ``delete_backup``: the restore tests' routes, served by :class:`local.fake_obs.FakeObs`.

``graphs/jobs`` and ``graphs/backups`` are matched before ``graphs/{graph_id}``: no graph id can be
``jobs`` or ``backups`` here.

Like the API gateway in front of GES, an unknown method or path gets 404 ``APIG.0101``, and any
other request without a valid ``X-Auth-Token`` gets 401 ``APIG.0301`` (section 5). A token is valid
when it equals the fake's own current token (for any project), or when the fake IAM given as
``issuer`` (:class:`TokenIssuer`) says it is valid; an issued token scoped to another project than the
URL's then gets 400 ``GES.0016`` from GES (sections 5 and 6). Injected faults (:class:`Fault`) stand
for the network and the gateway, so they apply before all of that: 429/5xx answers, slow answers,
dropped connections, trickled answers; or after GES handled the request (an export accepted): an answer
whose body cannot be decoded, garbage bytes instead of an answer (under TLS: bytes that are no TLS
record), a connection reset. Given a TLS context (`tls`), it serves HTTPS (local/tls.py makes one).
Nothing is ever printed or logged, and requests are recorded
(:class:`Call`) with the names of their headers but no header value, so no token is ever kept.

Assumptions where the GES docs are open (docs/open-questions.md):

* Error bodies are ``error_code``/``error_msg`` by default; ``error_style`` chooses another spelling
  (open question 1, see :data:`ERROR_STYLES`). Gateway (``APIG.*``) bodies are always snake.
* A non-empty export directory gives 400 ``GES.0001`` (open question 2). A directory counts as
  non-empty when an accepted export path equals it or lies below it; a trailing ``/`` is ignored.
  ``obs://`` prefixes and OBS character rules are not checked.
* The API refuses a graph that is not running (``GES.7001``) and a backup that is not ``success``
  (``GES.7040``) like the console does (open question 4).
* Export jobs are ``GraphManagement``/``ExportBackup`` (open question 3) and follow a job script
  (:attr:`FakeGes.job_script`, by default ``("success",)``: done at once); the status route finds a job
  by project and job id, whatever graph id is in the path. A job has no ``end_time`` until it is
  ``success`` or ``failed`` (section 3 says it may be absent while the job runs). Its ``begin_time`` and
  ``end_time`` are written ``yyyy-MM-ddTHH:mm:ss``, or with a space instead of the ``T`` as Huawei's
  current English job-status page writes them (:attr:`FakeGes.job_time_style`).
* The job list's filter ``status=waiting`` matches jobs whose status is ``pending``: section 3 lists
  ``waiting`` as a filter value and ``pending`` as a job status, and leaves open how the two relate
  (marked uncertain). Other values match the job's status literally.
  ``start_time``/``end_time`` are inclusive bounds on the date of ``begin_time``.
* The list of all backups (section 2b) goes graph by graph, in the order the graphs were added.
* An issued token scoped to another project than the URL's gets 400 ``GES.0016`` "Resource not found"
  from GES, after the gateway accepted the token (section 5's table; the status is assumed to be 400).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import json
import os
import re
import secrets
import socket
import ssl
import struct
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, unquote, urlsplit

from local.fake_obs import FakeObs

Json = dict[str, Any]
Reply = tuple[int, Json]
_Route = Callable[[list[str], dict[str, str], object], Reply]

ROUTES = (
    "export", "list_backups", "list_all_backups", "job_status", "list_jobs", "list_graphs", "show_graph",
    "import_backup", "delete_backup", "any",
)  # fmt: skip
# Order matters: the fixed names graphs/jobs and graphs/backups win over graphs/{graph_id}.
_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("POST", "export", re.compile(r"/v2/([^/]+)/graphs/([^/]+)/backups/export/?")),
    ("GET", "list_jobs", re.compile(r"/v2/([^/]+)/graphs/jobs/?")),
    ("GET", "list_all_backups", re.compile(r"/v2/([^/]+)/graphs/backups/?")),
    ("GET", "list_backups", re.compile(r"/v2/([^/]+)/graphs/([^/]+)/backups/?")),
    ("GET", "job_status", re.compile(r"/v2/([^/]+)/graphs/([^/]+)/jobs/([^/]+)/status/?")),
    ("GET", "list_graphs", re.compile(r"/v2/([^/]+)/graphs/?")),
    ("GET", "show_graph", re.compile(r"/v2/([^/]+)/graphs/([^/]+)/?")),
    # The restore tests' routes (local/fake_obs.py): import a backup from OBS, delete a backup.
    ("POST", "import_backup", re.compile(r"/v2/([^/]+)/graphs/([^/]+)/backups/import/?")),
    ("DELETE", "delete_backup", re.compile(r"/v2/([^/]+)/graphs/([^/]+)/backups/([^/]+)/?")),
)
_GATEWAY_DEFAULTS: dict[int, tuple[str, str]] = {
    401: ("APIG.0301", "Incorrect IAM authentication information: decrypt token fail"),
    404: ("APIG.0101", "The API does not exist or has not been published in the environment"),
    429: (
        "APIG.0308",
        "The throttling threshold has been reached: policy user over ratelimit,limit:10,time:1 second",
    ),
    502: ("APIG.0202", "Backend unavailable"),
    503: ("APIG.0203", "Service unavailable: the backend is temporarily unable to handle the request"),
    504: ("APIG.0201", "Backend timeout"),
}
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"  # GES's yyyy-MM-ddTHH:mm:ss, UTC without a zone (sections 2, 3)
# How a job's begin_time and end_time are written (section 3): "T" as above, "space" yyyy-MM-dd HH:mm:ss.
JOB_TIME_STYLES = ("T", "space")

# Error body spellings (section 5: the docs contradict each other). "snake" is the v2 tables';
# "camel" the ExportBackup2 doc example's; "camel_msg" (errorCode/errorMsg) is what newer releases of
# huaweicloudsdkcore's DefaultExceptionHandler also read (docs/ges-api.md section 5 describes an older one
# that reads no camelCase); "code" is the parser's code/message fallback; "nested" wraps a snake body
# in "error", as IAM-style services do (the parser recurses into nested objects).
ERROR_STYLES = ("snake", "camel", "camel_msg", "code", "nested")
_ERROR_KEYS = {
    "snake": ("error_code", "error_msg"),
    "camel": ("errorCode", "errorMessage"),
    "camel_msg": ("errorCode", "errorMsg"),
    "code": ("code", "message"),
}

BACKUP_STATUSES = ("success", "failed", "backing_up")  # section 2
BACKUP_METHODS = ("manual", "auto")  # section 2 (SDK); "import" from one 2025 doc is not modelled
DEFAULT_JOB_SCRIPT: tuple[str, ...] = ("success",)
DEFAULT_FAIL_REASON = "Failed to export the backup to OBS."
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000  # valid JSON that Python's decoder refuses (RecursionError)
GARBAGE = b"\x00\x15\x03 not an answer \xff\xfe\r\n\r\n"
_DONE = ("success", "failed")  # the job statuses that end a job (section 3, Terraform's polling)
# Section 3's filter value "waiting" for the jobs' status "pending" (an assumption: the docs leave it open).
_JOB_STATUS_FILTER = {"waiting": "pending"}
_GRAPH_DEFAULTS: Json = {
    "data_store_version": "2.3.16", "graph_size_type_index": "1", "arch": "x86_64",
    "product_type": "InMemory", "encrypted": False,
}  # fmt: skip

# The sample data that the events in events/ name (seed_sample_graphs).
SAMPLE_PROJECT_ID = "0a1b2c3d4e5f67890a1b2c3d4e5f6789"
SAMPLE_OTHER_PROJECT_ID = "0b8f5c1d2e3a4b5c6d7e8f9a0b1c2d3e"
SAMPLE_GRAPH_ID = "movies"
SAMPLE_OTHER_GRAPH_ID = "friends"
# The other graphs of SAMPLE_PROJECT_ID, which the all-graphs sample (events/schedule_all_graphs.json) meets.
SAMPLE_RUNNING_GRAPH_ID = "people"
SAMPLE_STOPPED_GRAPH_ID = "archive"
SAMPLE_BACKUP_ID = "7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
SAMPLE_OTHER_BACKUP_ID = "2e4d6f80-1a3c-4e5f-8a9b-0c1d2e3f4a5b"
SAMPLE_JOB_ID = "5b1f0d7c9e2a4f6b8d0c1e3a5f7b9d2e"
_SAMPLE_TICK = 1_795_744_800_000  # 2026-11-27T02:00:00Z, the sample schedule tick's time
_DAY_MS = 86_400_000


class TokenIssuer(Protocol):
    """A fake IAM whose tokens the fake GES accepts besides its own (sections 5 to 7)."""

    def token_project(self, token: str) -> str | None:
        """The project id a token issued by this IAM is scoped to, while it is valid; None otherwise."""


def make_token(size: int = 4096) -> str:
    """A random stand-in for an IAM token: ``MII`` + url-safe base64, exactly ``size`` characters."""
    if size < 4:
        raise ValueError("token size must be at least 4")
    raw = base64.urlsafe_b64encode(secrets.token_bytes(size)).decode("ascii").rstrip("=")
    return "MII" + raw[: size - 3]


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
        return cls(status=status, body=_error_body(code, message, style))

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


@dataclass
class _Graph:
    id: str
    name: str
    status: str
    created: str
    updated: str
    backups: dict[str, Json] = field(default_factory=dict)
    product_type: str = "InMemory"  # "Persistence": the edition GES imports no backup into (fake_obs.py)

    def as_json(self) -> Json:
        """The graph as the list and show routes give it (section 4; a subset of the SDK's fields)."""
        return {
            "id": self.id, "name": self.name, "status": self.status, **_GRAPH_DEFAULTS,
            "product_type": self.product_type, "created": self.created, "updated": self.updated,
        }  # fmt: skip

    def listed_backups(self) -> list[Json]:
        """The graph's backups as the backup lists give them (section 2), in insertion order."""
        extra = {
            "graph_name": self.name, "graph_status": self.status,
            "graph_size_type_index": _GRAPH_DEFAULTS["graph_size_type_index"],
            "data_store_version": _GRAPH_DEFAULTS["data_store_version"], "arch": _GRAPH_DEFAULTS["arch"],
        }  # fmt: skip
        return [{**backup, **extra} for backup in self.backups.values()]


@dataclass
class _Job:
    """A job and where it is in its script: the n-th status call answers the script's n-th status (its
    last one from then on), so a job is at its first status from its creation until the second call."""

    project_id: str
    fields: Json
    script: tuple[str, ...]
    fail_reason: str
    step: int = 0
    answered: bool = False  # whether a status call has answered the current step yet
    on_status: Callable[[_Job], None] | None = None  # called on every change of status (fake_obs.py)
    forgotten: bool = False

    @classmethod
    def start(
        cls, project_id: str, graph_name: str, script: tuple[str, ...], job_id: str | None = None
    ) -> _Job:
        """A new export job (open question 3: its type and name are assumed) at its script's first step."""
        job_id = job_id or uuid.uuid4().hex
        fields = {
            "job_id": job_id, "status": "", "job_type": "GraphManagement", "job_name": "ExportBackup",
            "related_graph": graph_name, "begin_time": _now(), "fail_reason": "", "job_progress": 0.0,
        }  # fmt: skip
        job = cls(project_id, fields, script, DEFAULT_FAIL_REASON)
        job.restart(script, DEFAULT_FAIL_REASON)
        return job

    def restart(self, script: tuple[str, ...], fail_reason: str) -> None:
        self.script, self.fail_reason, self.step, self.answered = script, fail_reason, 0, False
        self._enter(script[0])

    def advance(self) -> None:
        """What a status call does: the first one answers the current step, each later one the next."""
        if self.answered:
            self.step = min(self.step + 1, len(self.script) - 1)
        self.answered = True
        self._enter(self.script[self.step])

    def _enter(self, status: str) -> None:
        """``end_time`` (and for a failure ``fail_reason``) appear once the job is done; while it is not,
        ``end_time`` is absent (assumption: section 3 says it may be)."""
        previous = self.fields.get("status")
        self.fields["status"] = status
        if previous != status and self.on_status is not None:
            self.on_status(self)
        self.fields["fail_reason"] = self.fail_reason if status == "failed" else ""
        if status not in _DONE:
            self.fields.pop("end_time", None)
        elif previous != status or "end_time" not in self.fields:
            self.fields["end_time"] = _now()


@dataclass(frozen=True)
class _JobQuery:
    """The filters of the job list (section 3). Empty values filter nothing."""

    status: str
    graph_name: str
    start: str  # yyyy-MM-dd, inclusive, on the job's begin_time date
    end: str

    def matches(self, job: Json) -> bool:
        day = str(job.get("begin_time", ""))[:10]
        wanted = _JOB_STATUS_FILTER.get(self.status, self.status)
        checks = (
            not self.status or job.get("status") == wanted,
            not self.graph_name or job.get("related_graph") == self.graph_name,
            not self.start or day >= self.start,
            not self.end or day <= self.end,
        )
        return all(checks)


@dataclass
class _PendingFault:
    fault: Fault
    remaining: int
    when: Callable[[Call], bool] | None = None


def _error_body(code: str, message: str, style: str) -> Json:
    if style == "nested":
        return {"error": _error_body(code, message, "snake")}
    if style not in _ERROR_KEYS:
        raise ValueError(f"unknown error style {style!r}; expected one of {ERROR_STYLES}")
    code_key, message_key = _ERROR_KEYS[style]
    return {code_key: code, message_key: message}


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(_TIME_FORMAT)


def _now() -> str:
    return datetime.now(tz=UTC).strftime(_TIME_FORMAT)


def _page(query: dict[str, str]) -> slice | str:
    """The page that ``offset`` and ``limit`` select (defaults 0 and 10), or the invalid one's name."""
    offset, limit = query.get("offset", "0"), query.get("limit", "10")
    for name, text in (("offset", offset), ("limit", limit)):
        if not re.fullmatch(r"\d+", text):
            return name
    return slice(int(offset), int(offset) + int(limit))


def _is_date(text: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _job_query(query: dict[str, str]) -> _JobQuery | str:
    """The job list's filters, or the name of a date filter that is not a date ``yyyy-MM-dd``."""
    for name in ("start_time", "end_time"):
        if query.get(name) and not _is_date(query[name]):
            return name
    return _JobQuery(
        query.get("status", ""), query.get("graph_name", ""), query.get("start_time", ""),
        query.get("end_time", ""),
    )  # fmt: skip


def _script(statuses: Iterable[str]) -> tuple[str, ...]:
    if isinstance(statuses, str):
        raise TypeError("a job script is a sequence of statuses, not one string")
    script = tuple(statuses)
    if not script or not all(isinstance(s, str) and s for s in script):
        raise ValueError("a job script needs at least one status, each a non-empty string")
    return script


def _backup_name(graph_name: str, start_timestamp: int, method: str) -> str:
    """``<graph>-<YYYYmmddHHMMSS>`` for a manual backup, ``<graph>_<YYYYmmddHHMMSS>_auto`` for an
    automatic one (section 2's examples)."""
    stamp = datetime.fromtimestamp(start_timestamp / 1000, tz=UTC).strftime("%Y%m%d%H%M%S")
    return f"{graph_name}_{stamp}_auto" if method == "auto" else f"{graph_name}-{stamp}"


class FakeGes:
    """The fake server and its state. Thread-safe; use as a context manager or start()/stop()."""

    def __init__(
        self,
        token: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        error_style: str = "snake",
        issuer: TokenIssuer | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._token = token or make_token()
        self._tls = tls
        self._address = (host, port)
        self._error_style = "snake"
        self.error_style = error_style
        self.latency = 0.0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._issuer = issuer
        self._graphs: dict[tuple[str, str], _Graph] = {}
        self._jobs: dict[str, _Job] = {}
        self._job_script = DEFAULT_JOB_SCRIPT
        self._job_time_style = "T"
        self._status_calls: Counter[str] = Counter()
        self._calls: list[Call] = []
        self._faults: dict[str, deque[_PendingFault]] = {}
        self.faults_fired = 0  # over the server's life; reset() leaves it
        self.generation = 0  # counts resets
        self._exported: set[str] = set()
        self.obs = FakeObs()  # what export jobs wrote; imports and deletes of backups (fake_obs.py)
        self._in_flight = 0
        self.most_in_flight = 0  # the most requests being handled at once since the last reset
        # Routes outside the GES API, for a person driving the fake from outside (local/fake_control.py):
        # (method, path, body) -> the answer, or None for a request that is not one of them. Unset: none.
        self.control: Callable[[str, str, object], Reply | None] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeGes:
        if self._server is not None:
            raise RuntimeError("FakeGes is already running")
        self._stopping.clear()
        self._server = _Server(self._address, self, self._tls)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-ges", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers that are sleeping in a delay or a trickle
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeGes:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeGes is not running")
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host!s}:{port}"

    @property
    def error_style(self) -> str:
        """The spelling of GES error bodies, one of :data:`ERROR_STYLES` (gateway bodies stay snake)."""
        return self._error_style

    @error_style.setter
    def error_style(self, style: str) -> None:
        _error_body("", "", style)  # raises ValueError for an unknown style
        self._error_style = style

    @property
    def job_time_style(self) -> str:
        """How jobs' ``begin_time`` and ``end_time`` are written, one of :data:`JOB_TIME_STYLES`: ``"T"``
        (``2026-11-27T02:00:05``, the default; reset() restores it) or ``"space"``
        (``2026-11-27 02:00:05``)."""
        return self._job_time_style

    @job_time_style.setter
    def job_time_style(self, style: str) -> None:
        if style not in JOB_TIME_STYLES:
            raise ValueError(f"unknown job time style {style!r}; expected one of {JOB_TIME_STYLES}")
        self._job_time_style = style

    def _shown(self, job: _Job) -> Json:
        """A job's fields as GES answers them, its times written in ``job_time_style``."""
        fields = dict(job.fields)
        if self._job_time_style == "space":
            for key in ("begin_time", "end_time"):
                if isinstance(fields.get(key), str):
                    fields[key] = fields[key].replace("T", " ", 1)
        return fields

    # -- tokens ----------------------------------------------------------------------------
    @property
    def token(self) -> str:
        with self._lock:
            return self._token

    def rotate_token(self, new_token: str | None = None) -> str:
        """Replace the fake's own token; the old one is refused at once (tokens of the issuer stay)."""
        with self._lock:
            self._token = new_token or make_token()
            return self._token

    def accept_tokens_from(self, issuer: TokenIssuer | None) -> None:
        """Accept the tokens of a fake IAM besides the fake's own token (None: only the own token)."""
        with self._lock:
            self._issuer = issuer

    def _auth_state(self, sent: str | None, project_id: str | None) -> str:
        """How ``sent`` does in a request on ``project_id``: "ok", "missing", "wrong" or "other_project".

        The own token is valid for any project. An issued token is valid while the issuer says so (a
        newer token does not revoke it, section 7), and only for its own project (section 6): else
        "other_project". The issuer is asked outside the lock, so that it may take locks of its own."""
        if not sent:
            return "missing"
        with self._lock:
            own = hmac.compare_digest(sent.encode(), self._token.encode())
            issuer = self._issuer
        if own:
            return "ok"
        scoped = issuer.token_project(sent) if issuer is not None else None
        if scoped is None:
            return "wrong"
        return "ok" if project_id is None or scoped == project_id else "other_project"

    # -- seeding ---------------------------------------------------------------------------
    def add_graph(
        self, project_id: str, graph_id: str, *, name: str | None = None, status: str = "200"
    ) -> None:
        """Create a graph, or update the name and status of an existing one (its backups stay).
        ``status`` is a graph status code (section 4): "200" running, "900" stopped, "800" frozen..."""
        with self._lock:
            graph = self._ensure_graph(project_id, graph_id)
            graph.name, graph.status, graph.updated = name or graph.name, status, _now()

    def _ensure_graph(self, project_id: str, graph_id: str) -> _Graph:
        """The graph, created with a default name if missing. Call with the lock held."""
        graph = self._graphs.get((project_id, graph_id))
        if graph is None:
            name, now = "ges_" + re.sub(r"\W", "_", graph_id)[:60], _now()
            graph = self._graphs[(project_id, graph_id)] = _Graph(graph_id, name, "200", now, now)
        return graph

    def add_backup(
        self,
        project_id: str,
        graph_id: str,
        *,
        backup_id: str | None = None,
        status: str = "success",
        start_timestamp: int | None = None,
        end_timestamp: int | None = None,
        name: str | None = None,
        backup_method: str = "manual",
    ) -> str:
        """Add a backup (creating the graph if needed); returns its id. Times are epoch milliseconds.

        ``status`` is one of :data:`BACKUP_STATUSES`, ``backup_method`` one of :data:`BACKUP_METHODS`
        (it decides the default name, see :func:`_backup_name`). Default times lie in the past, since the
        exporter takes as "latest" the newest successful backup finished at or before a request's time:
        ``start_timestamp`` defaults to the later of ten minutes ago and one second after the graph's
        latest start, so that the last one added is the newest (and in the past while fewer than about
        540 are added that way within ten minutes, and no explicit start lies in the future);
        ``end_timestamp`` defaults to the start plus 60 seconds."""
        if status not in BACKUP_STATUSES:
            raise ValueError(f"unknown backup status {status!r}; expected one of {BACKUP_STATUSES}")
        if backup_method not in BACKUP_METHODS:
            raise ValueError(f"unknown backup method {backup_method!r}; expected one of {BACKUP_METHODS}")
        with self._lock:
            graph = self._ensure_graph(project_id, graph_id)
            backup_id = backup_id or str(uuid.uuid4())
            if backup_id in graph.backups:
                raise ValueError(f"backup {backup_id} already exists")
            start = _default_start(graph) if start_timestamp is None else start_timestamp
            end = start + 60_000 if end_timestamp is None else end_timestamp
            if end < start:
                raise ValueError("end_timestamp lies before start_timestamp")
            graph.backups[backup_id] = {
                "id": backup_id, "name": name or _backup_name(graph.name, start, backup_method),
                "backup_method": backup_method, "graph_id": graph_id, "status": status,
                "start_timestamp": start, "start_time": _utc(start), "end_timestamp": end,
                "end_time": _utc(end), "size": 100 + len(graph.backups), "duration": (end - start) // 1000,
                "encrypted": False,
            }  # fmt: skip
            return backup_id

    # -- jobs ------------------------------------------------------------------------------
    @property
    def job_script(self) -> tuple[str, ...]:
        """The statuses a new job goes through, one step per status call (see :meth:`script_job`).
        Any strings, also ones GES never documents. Default ``("success",)``; reset() restores it."""
        with self._lock:
            return self._job_script

    @job_script.setter
    def job_script(self, statuses: Iterable[str]) -> None:
        script = _script(statuses)
        with self._lock:
            self._job_script = script

    def script_job(
        self, job_id: str, statuses: Iterable[str], fail_reason: str = DEFAULT_FAIL_REASON
    ) -> None:
        """Give one job a script of its own, from its first step: the next status call answers
        ``statuses[0]``, each later one the next status, then the last one for good. ``fail_reason`` is
        the job's ``fail_reason`` while its status is ``failed``. Raises KeyError for an unknown job."""
        script = _script(statuses)
        if not fail_reason:
            raise ValueError("a failed job has a non-empty fail_reason")
        with self._lock:
            self._jobs[job_id].restart(script, fail_reason)

    def forget_job(self, job_id: str) -> None:
        """GES no longer knows the job: its status call answers 400 ``GES.7007`` and the job list leaves
        it out. It stays in :attr:`jobs` (the export did happen). Raises KeyError for an unknown job."""
        with self._lock:
            self._jobs[job_id].forgotten = True

    def status_calls(self, job_id: str) -> int:
        """How many status calls for ``job_id`` reached GES (past faults and the token check)."""
        with self._lock:
            return self._status_calls[job_id]

    # -- faults ----------------------------------------------------------------------------
    def inject(
        self,
        fault: Fault,
        *,
        route: str = "export",
        times: int = 1,
        when: Callable[[Call], bool] | None = None,
    ) -> None:
        """Answer the next `times` requests of `route` with `fault`; `when` narrows it to the requests it
        accepts (e.g. one export path), so that faults land on the same request whatever the order."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {ROUTES}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.setdefault(route, deque()).append(_PendingFault(fault, times, when))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, route: str | None, call: Call) -> Fault | None:
        with self._lock:
            for key in (route, "any"):
                queue = self._faults.get(key, deque()) if key else deque()
                pending = next((p for p in queue if p.when is None or p.when(call)), None)
                if pending is not None:
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        queue.remove(pending)
                    self.faults_fired += pending.fault != Fault()  # Fault() lets a request through
                    return pending.fault
        return None

    # -- inspection ------------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return [replace(call) for call in self._calls]

    @property
    def export_calls(self) -> list[Call]:
        return [
            c for c in self.calls if c.method == "POST" and c.path.rstrip("/").endswith("/backups/export")
        ]

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """Every job created since the last reset (forgotten ones too), as its status call would give it."""
        with self._lock:
            return {job_id: self._shown(job) for job_id, job in self._jobs.items()}

    @property
    def exported_paths(self) -> set[str]:
        with self._lock:
            return set(self._exported)

    def reset(self) -> None:
        """Clear graphs, jobs, calls, faults and export paths, and restore the default job script and job
        time style. The token, the issuer, ``latency`` and ``error_style`` stay, as does the server."""
        with self._lock:
            self.generation += 1  # a request still sleeping in a delay now answers nothing (see _handle)
            self._graphs.clear()
            self._jobs.clear()
            self._job_script = DEFAULT_JOB_SCRIPT
            self._job_time_style = "T"
            self._status_calls.clear()
            self._calls.clear()
            self._faults.clear()
            self._exported.clear()
            self.obs.reset()
            self.most_in_flight = self._in_flight

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    @contextlib.contextmanager
    def _handling(self) -> Iterator[None]:
        """One request being handled, from its first byte read to its last byte sent."""
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    # -- routes ----------------------------------------------------------------------------
    def _error(self, status: int, code: str, message: str) -> Reply:
        return status, _error_body(code, message, self._error_style)

    def _no_graph(self) -> Reply:
        return self._error(400, "GES.7000", "The graph does not exist or has been deleted.")

    def _fault_body(self, status: int) -> Json:
        if status in _GATEWAY_DEFAULTS:
            code, message = _GATEWAY_DEFAULTS[status]
            return {**_error_body(code, message, "snake"), "request_id": uuid.uuid4().hex}
        if status == 500:
            return _error_body("GES.7006", "Internal error in underlying graph engine.", self._error_style)
        return _error_body("GES.0001", "Incorrect parameter.", self._error_style)

    def _graph(self, project_id: str, graph_id: str) -> _Graph | None:
        return self._graphs.get((project_id, graph_id))

    def _export(self, project_id: str, graph_id: str, body: object) -> Reply:
        if not isinstance(body, dict):
            return self._error(400, "GES.7016", "Request body or header invalid")
        with self._lock:
            graph = self._graph(project_id, graph_id)
            if graph is None:
                return self._no_graph()
            refusal = self._export_refusal(graph, body)
            if refusal is not None:
                return refusal
            job = _Job.start(project_id, graph.name, self._job_script)
            self._jobs[job.fields["job_id"]] = job
            self._exported.add(body["export_path"])
            self.obs.follow_export(job, graph_id, body)
            return 200, {"job_id": job.fields["job_id"]}

    def add_job(
        self,
        project_id: str,
        graph_id: str,
        *,
        job_id: str | None = None,
        script: Iterable[str] | None = None,
    ) -> str:
        """An export job as if GES had started one for the graph (creating the graph if needed), following
        `script` (by default `job_script`); returns its id."""
        with self._lock:
            graph = self._ensure_graph(project_id, graph_id)
            job = _Job.start(project_id, graph.name, tuple(script or self._job_script), job_id)
            self._jobs[job.fields["job_id"]] = job
            return str(job.fields["job_id"])

    def _export_refusal(self, graph: _Graph, body: dict[str, Any]) -> Reply | None:
        """Why GES refuses this export, in the order it checks; None when it accepts it. Lock held."""
        if graph.status != "200":
            return self._error(400, "GES.7001", "The graph is not running.")
        for key in ("backup_id", "export_path"):
            if key not in body:
                return self._error(400, "GES.7049", f"The parameter [{key}] is not exist.")
            if not isinstance(body[key], str):
                return self._error(400, "GES.7016", "Request body or header invalid")
            if not body[key]:
                return self._error(400, "GES.7050", f"The parameter [{key}] is empty.")
        return self._backup_refusal(graph, body["backup_id"], body["export_path"])

    def _backup_refusal(self, graph: _Graph, backup_id: str, path: str) -> Reply | None:
        backup = graph.backups.get(backup_id)
        if backup is None:
            return self._error(400, "GES.7024", "The graph backup does not exist or has been deleted.")
        if backup["status"] != "success":
            return self._error(400, "GES.7040", "The graph backup is not successful.")
        if self._path_in_use(path):
            # Assumption (docs/open-questions.md, the export path): the real code for this case is unknown.
            message = f"Incorrect parameter: the export path [{path}] is not an empty OBS directory."
            return self._error(400, "GES.0001", message)
        return None

    def _path_in_use(self, path: str) -> bool:
        wanted = path.rstrip("/")
        return any(p.rstrip("/") == wanted or p.startswith(wanted + "/") for p in self._exported)

    def _bad_page(self, name: str) -> Reply:
        return self._error(400, "GES.0001", f"Incorrect parameter: [{name}] must be a non-negative integer.")

    def _project_graphs(self, project_id: str) -> list[_Graph]:
        """The project's graphs in insertion order. Lock held."""
        return [graph for (owner, _), graph in self._graphs.items() if owner == project_id]

    def _list_backups(self, project_id: str, graph_id: str, query: dict[str, str]) -> Reply:
        page = _page(query)
        if isinstance(page, str):
            return self._bad_page(page)
        with self._lock:
            graph = self._graph(project_id, graph_id)
            if graph is None:
                return self._no_graph()
            items = graph.listed_backups()
        return 200, {"backup_count": len(items), "backup_list": items[page]}

    def _list_all_backups(self, project_id: str, query: dict[str, str]) -> Reply:
        """Section 2b. Assumption: graph by graph (in the order the graphs were added), each graph's
        backups in insertion order; the docs give no order."""
        page = _page(query)
        if isinstance(page, str):
            return self._bad_page(page)
        with self._lock:
            items = [item for graph in self._project_graphs(project_id) for item in graph.listed_backups()]
        return 200, {"backup_count": len(items), "backup_list": items[page]}

    def _list_graphs(self, project_id: str, query: dict[str, str]) -> Reply:
        page = _page(query)
        if isinstance(page, str):
            return self._bad_page(page)
        with self._lock:
            graphs = [graph.as_json() for graph in self._project_graphs(project_id)]
        return 200, {"graph_count": len(graphs), "graphs": graphs[page]}

    def _show_graph(self, project_id: str, graph_id: str) -> Reply:
        with self._lock:
            graph = self._graph(project_id, graph_id)
            return (200, {"graph": graph.as_json()}) if graph is not None else self._no_graph()

    def _job_status(self, project_id: str, job_id: str) -> Reply:
        """Section 3. Each call moves the job along its script (see :class:`_Job`)."""
        with self._lock:
            self._status_calls[job_id] += 1
            job = self._jobs.get(job_id)
            if job is None or job.forgotten or job.project_id != project_id:
                return self._error(400, "GES.7007", "The job does not exist.")
            job.advance()
            return 200, self._shown(job)

    def _list_jobs(self, project_id: str, query: dict[str, str]) -> Reply:
        """Section 3, with its filters; listing shows each job's current status and moves no script."""
        page, wanted = _page(query), _job_query(query)
        if isinstance(page, str):
            return self._bad_page(page)
        if isinstance(wanted, str):
            return self._error(400, "GES.0001", f"Incorrect parameter: [{wanted}] must be a date yyyy-MM-dd.")
        with self._lock:
            jobs = [
                self._shown(job)
                for job in self._jobs.values()
                if job.project_id == project_id and not job.forgotten and wanted.matches(job.fields)
            ]
        return 200, {"job_count": len(jobs), "job_list": jobs[page]}

    def _dispatch(self, route: str | None, groups: list[str], query: dict[str, str], body: object) -> Reply:
        routes: dict[str, _Route] = {
            "export": lambda g, q, b: self._export(g[0], g[1], b),
            "list_backups": lambda g, q, b: self._list_backups(g[0], g[1], q),
            "list_all_backups": lambda g, q, b: self._list_all_backups(g[0], q),
            "job_status": lambda g, q, b: self._job_status(g[0], g[2]),
            "list_jobs": lambda g, q, b: self._list_jobs(g[0], q),
            "list_graphs": lambda g, q, b: self._list_graphs(g[0], q),
            "show_graph": lambda g, q, b: self._show_graph(g[0], g[1]),
            "import_backup": lambda g, q, b: self.obs.import_backup(self, g[0], g[1], b),
            "delete_backup": lambda g, q, b: self.obs.delete_backup(self, g[0], g[1], g[2]),
        }
        assert route in routes, route
        return routes[route](groups, query, body)


def _default_start(graph: _Graph) -> int:
    """Ten minutes ago, or one second after the graph's latest backup start if that is later."""
    latest = max((int(b["start_timestamp"]) for b in graph.backups.values()), default=0)
    return max(int(time.time()) * 1000 - 600_000, latest + 1000)


def seed_sample_graphs(fake: FakeGes) -> None:
    """Create what the sample events in events/ name, with fixed times that all lie before the sample
    schedule tick (2026-11-27T02:00:00Z), so before now too, and "latest" resolves alike for every event:

    * project :data:`SAMPLE_PROJECT_ID`, graph ``movies``: the manual backup :data:`SAMPLE_BACKUP_ID`,
      then 11 newer successful automatic (nightly) backups, more than GES's default page of 10, and a
      newest one that failed;
    * in the same project, graph ``people`` (running) and graph ``archive`` (stopped, status ``900``), one
      successful backup each, which the all-graphs sample meets beside ``movies``;
    * project :data:`SAMPLE_OTHER_PROJECT_ID`, graph ``friends``: the backup :data:`SAMPLE_OTHER_BACKUP_ID`;
    * the export job :data:`SAMPLE_JOB_ID` of graph ``movies``, a success.
    """
    first_night = _SAMPLE_TICK - 12 * _DAY_MS - 3_600_000  # 2026-11-15T01:00:00Z
    fake.add_backup(
        SAMPLE_PROJECT_ID,
        SAMPLE_GRAPH_ID,
        backup_id=SAMPLE_BACKUP_ID,
        start_timestamp=first_night - 2 * _DAY_MS,
    )
    for night in range(11):
        start = first_night + night * _DAY_MS
        fake.add_backup(SAMPLE_PROJECT_ID, SAMPLE_GRAPH_ID, start_timestamp=start, backup_method="auto")
    failed_start = first_night + 11 * _DAY_MS
    fake.add_backup(
        SAMPLE_PROJECT_ID,
        SAMPLE_GRAPH_ID,
        status="failed",
        start_timestamp=failed_start,
        backup_method="auto",
    )
    fake.add_backup(
        SAMPLE_OTHER_PROJECT_ID, SAMPLE_OTHER_GRAPH_ID, backup_id=SAMPLE_OTHER_BACKUP_ID,
        start_timestamp=first_night + 5 * _DAY_MS,
    )  # fmt: skip
    for graph_id in (SAMPLE_RUNNING_GRAPH_ID, SAMPLE_STOPPED_GRAPH_ID):
        fake.add_backup(SAMPLE_PROJECT_ID, graph_id, start_timestamp=first_night + 10 * _DAY_MS)
    fake.add_graph(SAMPLE_PROJECT_ID, SAMPLE_STOPPED_GRAPH_ID, status="900")
    # The job events/sqs_tracking_batch.json follows: done by its first check.
    fake.add_job(SAMPLE_PROJECT_ID, SAMPLE_GRAPH_ID, job_id=SAMPLE_JOB_ID, script=("success",))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeGes, tls: ssl.SSLContext | None) -> None:
        self.fake = fake
        self._tls = tls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """A connection; under TLS its handshake is left to the handler's thread (`_Handler.setup`)."""
        connection, address = super().get_request()
        if self._tls is not None:
            connection = self._tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return connection, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Ends idle keep-alive connections so that a stopped fake answers nothing more."""
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Silent: aborted and dropped connections are expected here, and nothing may be printed."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An answer goes out in two writes (headers, body); without TCP_NODELAY the body waits ~40 ms for
    # the client's delayed ACK on a kept-alive connection: not a zero-latency stand-in.
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections end after this

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the server never prints (least of all a header)."""

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()  # a client that refuses the certificate ends it here
        super().setup()

    def do_GET(self) -> None:
        with cast(_Server, self.server).fake._handling():
            self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _handle(self) -> None:
        fake = cast(_Server, self.server).fake
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        body = self._read_body()
        if fake.control is not None and (answer := fake.control(self.command, split.path, body)) is not None:
            self._send(*answer, {})  # not a GES call: neither recorded nor faulted
            return
        route, groups = _match(self.command, split.path)
        project_id = groups[0] if groups else None
        state = fake._auth_state(self.headers.get("X-Auth-Token"), project_id)
        call = Call(
            self.command, split.path, query, body, state in ("ok", "other_project"),
            header_names=tuple(self.headers.keys()),
        )  # fmt: skip
        fake._record(call)
        generation = fake.generation
        fault = fake._take_fault(route, call) or Fault()
        fake._sleep(fault.delay + fake.latency)
        if fault.drop or generation != fake.generation:  # reset meanwhile: the next test's state is not its
            self._drop()
            return
        dispatch = partial(fake._dispatch, route, groups, query, body)
        status, reply, headers = self._answer(fake, fault, route is not None, project_id, dispatch)
        with fake._lock:
            call.status = status
        if fault.after is not None:
            self._break_off(fault.after)
        elif fault.byte_pause > 0:
            self._trickle(fake, fault.byte_pause, status, reply, headers)
        else:
            self._send(status, reply, headers, fault.raw_body)

    def _answer(
        self,
        fake: FakeGes,
        fault: Fault,
        known_route: bool,
        project_id: str | None,
        dispatch: Callable[[], Reply],
    ) -> tuple[int, Json, dict[str, str]]:
        """Like the gateway: the fault, else 404 for an unknown API, else the token check (as of now,
        after any delay); then GES, which refuses an issued token of another project (GES.0016)."""
        if fault.status is not None and fault.raw_body is None:
            return fault.status, fault.body or fake._fault_body(fault.status), fault.headers
        if not known_route:
            return 404, fake._fault_body(404), {}
        state = fake._auth_state(self.headers.get("X-Auth-Token"), project_id)
        if state in ("missing", "wrong"):
            reason = "x-auth-token not found" if state == "missing" else "decrypt token fail"
            message = f"Incorrect IAM authentication information: {reason}"
            return 401, {"error_msg": message, "error_code": "APIG.0301", "request_id": uuid.uuid4().hex}, {}
        if state == "other_project":
            return (*fake._error(400, "GES.0016", "Resource not found"), {})
        try:
            status, reply = dispatch()
        except Exception as exc:  # a bug in the fake: answer it rather than print a traceback
            status, reply = 500, {"error_code": "FAKE.0500", "error_msg": f"fake_ges bug: {exc!r}"}
        return fault.status or status, reply, {}

    def _read_body(self) -> object:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length, self.close_connection = 0, True
        raw = self.rfile.read(length).decode("utf-8", "replace") if length > 0 else ""
        if not raw:
            return None
        try:
            return cast(object, json.loads(raw))
        except ValueError:
            return raw

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _break_off(self, how: str) -> None:
        """Instead of the answer: garbage written on the socket itself (below TLS), or a reset."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            if how == "garbage":
                os.write(self.connection.fileno(), GARBAGE)
                self.connection.shutdown(socket.SHUT_RDWR)
            else:  # a close with a zero linger time sends RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()

    @staticmethod
    def _headers(payload: bytes, reply: Json, headers: dict[str, str]) -> list[tuple[str, str]]:
        request_id = str(reply.get("request_id") or uuid.uuid4().hex)
        return [
            ("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
            ("X-Request-Id", request_id), *headers.items(),
        ]  # fmt: skip

    def _send(self, status: int, reply: Json, headers: dict[str, str], raw_body: bytes | None = None) -> None:
        payload = json.dumps(reply).encode() if raw_body is None else raw_body
        try:
            self.send_response(status)
            for name, value in self._headers(payload, reply, headers):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (e.g. its read timeout ran out)
            self.close_connection = True

    def _trickle(
        self, fake: FakeGes, pause: float, status: int, reply: Json, headers: dict[str, str]
    ) -> None:
        """The same answer as :meth:`_send`, written one byte at a time, ``pause`` seconds apart. A
        stopping fake ends it at once (and the connection with it)."""
        payload = json.dumps(reply).encode()
        lines = [
            f"{self.protocol_version} {status} {self.responses.get(status, ('',))[0]}",
            f"Server: {self.version_string()}", f"Date: {self.date_time_string()}",
            *(f"{name}: {value}" for name, value in self._headers(payload, reply, headers)),
        ]  # fmt: skip
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
        try:
            for index in range(len(raw)):
                if index and fake._stopping.wait(pause):
                    self._drop()
                    return
                self.wfile.write(raw[index : index + 1])
        except OSError:  # the client gave up
            self.close_connection = True


def _match(method: str, path: str) -> tuple[str | None, list[str]]:
    for route_method, route, pattern in _PATTERNS:
        found = pattern.fullmatch(path)
        if found and method == route_method:
            return route, [unquote(g) for g in found.groups()]
    return None, []


def _write_token(path: str, token: str) -> None:
    """The token into ``path``, readable by its owner only (mode 0600, also for an existing file)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with open(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token)


def _describe_seed(fake: FakeGes) -> list[str]:
    lines = []
    for project_id, graph_id in (
        (SAMPLE_PROJECT_ID, SAMPLE_GRAPH_ID),
        (SAMPLE_OTHER_PROJECT_ID, SAMPLE_OTHER_GRAPH_ID),
    ):
        with fake._lock:
            graph = fake._graph(project_id, graph_id)
            backups = [f"  {b['id']}  {b['status']}" for b in (graph.backups.values() if graph else [])]
        lines += [f"project_id={project_id} graph_id={graph_id}", "backup ids, oldest first:", *backups]
    return lines


def exporting_to(path: str) -> Callable[[Call], bool]:
    """For `inject(when=...)`: the export requests to one export path."""
    return lambda call: isinstance(call.body, dict) and call.body.get("export_path") == path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Run a fake GES management plane, seeded with the sample graphs, until Ctrl-C."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--token-file", help="write the valid token to this file (it is never printed)")
    args = parser.parse_args(argv)
    fake = FakeGes(host=args.host, port=args.port)
    seed_sample_graphs(fake)
    if args.token_file:
        _write_token(args.token_file, fake.token)
    with fake:
        print(f"fake GES listening on {fake.url} (token: {len(fake.token)} characters)")
        print(*_describe_seed(fake), sep="\n")
        print("environment for a handler pointed at it:")
        print(f"GES_ENDPOINT={fake.url}")
        print(f"GES_PROJECT_ID={SAMPLE_PROJECT_ID}")
        if args.token_file:
            print(f"The token is in the token file {args.token_file} (mode 0600); it is never printed.")
        else:
            print("The token is written nowhere: give --token-file to have it in a file.")
        print("Ctrl-C stops it.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")


if __name__ == "__main__":
    main()
