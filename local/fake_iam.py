"""A fake Huawei Cloud IAM token service: a real HTTP server for tests and local runs.

It serves the one route a token rotation needs, shaped after ``docs/iam-api.md``:
``POST /v3/auth/tokens[?nocatalog=...]`` with the password method. A success is 201 Created with the
token in the ``X-Subject-Token`` header (a fresh ``MII...`` blob from :func:`make_token`, different
every time) and the token's description in the body. Tokens stay valid for ``lifetime_seconds``
(24 h; settable, for the tokens issued from then on), also after newer ones are issued, unless
revoked (:meth:`FakeIam.revoke`, a password change, a lock); :meth:`FakeIam.token_project` tells a
fake GES which project a token is scoped to while it is valid. All errors use IAM's own format,
``{"error": {"code", "message", "title"}}``, never ``error_code``/``error_msg``.

Injected faults (:class:`Fault`, shared with the fake GES) stand for the network and the gateway:
they apply to the token route before normal handling. A fault's status without a body gets an
IAM-format error body, except a 2xx status, which gets a token body; no fault ever adds
``X-Subject-Token`` (the "IAM answered without a token" case), unless its own headers do. Nothing
is ever printed or logged. Requests are recorded (:class:`IamCall`) with the user, domain and scope
asked for and the names of their headers, never a password or a token; the fake itself keeps only
SHA-256 digests of both.

Assumptions where docs/iam-api.md is silent:

* Every part of the request is required and must be a non-empty string: ``user.name``,
  ``user.password`` and ``user.domain.name`` (IAM also accepts ids; this fake does not), and a
  ``scope.project`` or ``scope.domain`` must hold an ``id`` or a ``name``. ``methods`` must be a list
  that holds ``"password"``. Anything else, and a body that is not JSON, is 400 "The request body is
  invalid". ``Content-Type`` is not checked.
* A locked user who sends the right password gets 401 "The account is locked." (:data:`USER_LOCKED`);
  with a wrong password, the usual 401 "The username or password is wrong.", so that a locked
  account is not revealed to a guesser.
* A project scope that is not one of the user's projects (by id, or by name), and a domain scope
  naming another domain, is 401 "The request you have made requires authentication."
  (:data:`NO_ACCESS`, Keystone's wording, from which IAM's error bodies come), not 403.
* Without a scope, with an empty one or with a domain scope, the token is domain-scoped: its body has
  a top-level ``domain`` and no ``project``, and :meth:`FakeIam.token_project` gives None for it.
* Like IAM (section 7), changing a user's password or locking the user invalidates the user's tokens
  at once. Roles are always ``[{"id": "0", "name": "te_admin"}]`` and ``catalog`` is empty.
* Unknown paths and other methods (``GET /v3/auth/tokens`` too, and a trailing ``/``) get 404
  "The requested resource could not be found." Faults are only taken by the token route.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from local.fake_ges import Fault, make_token

__all__ = [
    "BAD_BODY",
    "NOT_FOUND",
    "NO_ACCESS",
    "TOKENS_PATH",
    "USER_LOCKED",
    "WRONG_CREDENTIALS",
    "FakeIam",
    "Fault",
    "IamCall",
    "format_time",
    "iam_error",
    "make_token",
]

Json = dict[str, Any]
Reply = tuple[int, Json, dict[str, str]]  # status, body, extra headers

TOKENS_PATH = "/v3/auth/tokens"
BAD_BODY = "The request body is invalid"
WRONG_CREDENTIALS = "The username or password is wrong."
USER_LOCKED = "The account is locked."
NO_ACCESS = "The request you have made requires authentication."
NOT_FOUND = "The requested resource could not be found."
_FAULT_MESSAGES = {
    429: "The throttling threshold has been reached.",
    500: "An unexpected error prevented the server from fulfilling your request.",
    502: "Bad gateway.",
    503: "The service is temporarily unavailable.",
    504: "Gateway timeout.",
}
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_ROLES = ({"id": "0", "name": "te_admin"},)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def iam_error(status: int, message: str) -> Json:
    """IAM's error body: ``{"error": {"code": 401, "message": ..., "title": "Unauthorized"}}``."""
    return {"error": {"code": status, "message": message, "title": _title(status)}}


def format_time(seconds: float) -> str:
    """IAM's token times: ISO-8601 UTC with microseconds and a ``Z``, e.g. 2020-01-04T09:05:22.701000Z."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime(_TIME_FORMAT)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _dig(value: object, *keys: str) -> object:
    """``value[k1][k2]...``, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class IamCall:
    """One received request. Only what was asked for is kept: the user and domain names and the scope's
    ids and names. Never the password, the token or a header's value (only header names)."""

    method: str
    path: str
    query: dict[str, str]
    user_name: str | None
    domain_name: str | None
    scope: dict[str, dict[str, str]] | None
    status: int | None = None
    header_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Request:
    """A valid password-method request. ``scope`` is (kind, key, value), e.g. ("project", "id", "..."),
    or ("domain", "", "") for no scope."""

    domain_name: str
    user_name: str
    password: str = field(repr=False)
    scope: tuple[str, str, str] = ("domain", "", "")


@dataclass
class _User:
    domain_name: str
    domain_id: str
    name: str
    user_id: str
    password_digest: str = field(repr=False)
    projects: dict[str, str] = field(default_factory=dict)
    locked: bool = False


@dataclass
class _Issued:
    user: tuple[str, str]  # (domain name, user name)
    project_id: str | None  # None: domain-scoped
    expires_at: float


@dataclass
class _PendingFault:
    fault: Fault
    remaining: int


def _scope_part(kind: str, part: object) -> tuple[str, str, str] | None:
    for key in ("id", "name"):
        value = _text(_dig(part, key))
        if value:
            return kind, key, value
    return None


def _parse_scope(scope: object) -> tuple[str, str, str] | None:
    """The scope asked for (project wins over domain; none or empty is domain), or None if invalid."""
    if scope is None:
        return "domain", "", ""
    if not isinstance(scope, dict):
        return None
    for kind in ("project", "domain"):
        if kind in scope:
            return _scope_part(kind, scope[kind])
    return "domain", "", ""


def _parse(body: object) -> _Request | None:
    """The password-method request in ``body``, or None if any required part is missing or invalid."""
    identity = _dig(body, "auth", "identity")
    methods = _dig(identity, "methods")
    if not isinstance(methods, list) or "password" not in methods:
        return None
    user = _dig(identity, "password", "user")
    name, password = _text(_dig(user, "name")), _text(_dig(user, "password"))
    domain = _text(_dig(user, "domain", "name"))
    scope = _parse_scope(_dig(body, "auth", "scope"))
    if name is None or password is None or domain is None or scope is None:
        return None
    return _Request(domain, name, password, scope)


def _asked(body: object) -> tuple[str | None, str | None, dict[str, dict[str, str]] | None]:
    """For the record: the user name, domain name and scope a body asks for, whatever else it holds."""
    user = _dig(body, "auth", "identity", "password", "user")
    user_name, domain_name = _dig(user, "name"), _dig(user, "domain", "name")
    scope = _dig(body, "auth", "scope")
    kept = None
    if isinstance(scope, dict):
        kept = {
            kind: {
                key: value for key, value in part.items() if key in ("id", "name") and isinstance(value, str)
            }
            for kind, part in scope.items()
            if kind in ("project", "domain") and isinstance(part, dict)
        }
    return (
        user_name if isinstance(user_name, str) else None,
        domain_name if isinstance(domain_name, str) else None,
        kept,
    )


class FakeIam:
    """The fake server and its state. Thread-safe; use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_size: int = 6144,
        lifetime_seconds: float = 86400,
        clock: Callable[[], float] = time.time,
        token_factory: Callable[[], str] | None = None,
    ) -> None:
        """``token_factory`` makes each issued token (tests plant a marker in theirs); by default a
        :func:`make_token` of ``token_size`` characters."""
        if token_size < 4:
            raise ValueError("token size must be at least 4")
        self._address = (host, port)
        self._make_token = token_factory or partial(make_token, token_size)
        self._lifetime = lifetime_seconds
        self._clock = clock
        self.latency = 0.0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._domain_ids: dict[str, str] = {}
        self._users: dict[tuple[str, str], _User] = {}
        self._tokens: dict[str, _Issued] = {}  # SHA-256 of the token -> what it grants
        self._issued = 0
        self._calls: list[IamCall] = []
        self._faults: deque[_PendingFault] = deque()
        self.faults_fired = 0  # over the server's life; reset() leaves it

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeIam:
        if self._server is not None:
            raise RuntimeError("FakeIam is already running")
        self._stopping.clear()
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-iam", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers that are sleeping in a delay
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeIam:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeIam is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- users -----------------------------------------------------------------------------
    def add_user(
        self,
        domain_name: str,
        user_name: str,
        password: str,
        *,
        projects: dict[str, str] | None = None,
        locked: bool = False,
    ) -> str:
        """Add a user with access to ``projects`` (project id -> project name); returns the user's id.
        Users of one domain (account) share its domain id."""
        with self._lock:
            if (domain_name, user_name) in self._users:
                raise ValueError(f"user {user_name!r} already exists in domain {domain_name!r}")
            domain_id = self._domain_ids.setdefault(domain_name, uuid.uuid4().hex)
            user = _User(
                domain_name,
                domain_id,
                user_name,
                uuid.uuid4().hex,
                _digest(password),
                dict(projects or {}),
                locked,
            )
            self._users[(domain_name, user_name)] = user
            return user.user_id

    def set_password(self, domain_name: str, user_name: str, password: str) -> None:
        """Change the password; like IAM, the user's tokens are invalid from now on."""
        with self._lock:
            self._user(domain_name, user_name).password_digest = _digest(password)
            self._revoke(domain_name, user_name)

    def lock_user(self, domain_name: str, user_name: str, locked: bool = True) -> None:
        """Lock (or with ``locked=False`` unlock) a user; locking invalidates the user's tokens."""
        with self._lock:
            self._user(domain_name, user_name).locked = locked
            if locked:
                self._revoke(domain_name, user_name)

    def _user(self, domain_name: str, user_name: str) -> _User:
        """Call with the lock held."""
        try:
            return self._users[(domain_name, user_name)]
        except KeyError:
            raise KeyError(f"no user {user_name!r} in domain {domain_name!r}") from None

    def _revoke(self, domain_name: str, user_name: str) -> None:
        """Call with the lock held."""
        for key in [k for k, issued in self._tokens.items() if issued.user == (domain_name, user_name)]:
            del self._tokens[key]

    # -- tokens ----------------------------------------------------------------------------
    def token_project(self, token: str) -> str | None:
        """The project id a token issued by this IAM is scoped to, while it is valid; None otherwise."""
        with self._lock:
            issued = self._tokens.get(_digest(token))
            if issued is None or self._clock() >= issued.expires_at:
                return None
            return issued.project_id

    @property
    def lifetime_seconds(self) -> float:
        """How long the tokens issued from now on stay valid (24 h unless given or set)."""
        with self._lock:
            return self._lifetime

    @lifetime_seconds.setter
    def lifetime_seconds(self, seconds: float) -> None:
        """Issue tokens of this lifetime from now on (a test's short-lived token); tokens already issued
        keep theirs."""
        if seconds <= 0:
            raise ValueError("a token's lifetime must be more than 0 seconds")
        with self._lock:
            self._lifetime = seconds

    def revoke(self, token: str) -> bool:
        """Invalidate one issued token at once, as IAM's token revocation does; returns whether it was
        valid. The user's other tokens stay valid."""
        with self._lock:
            issued = self._tokens.pop(_digest(token), None)
            return issued is not None and self._clock() < issued.expires_at

    def expire_all(self) -> None:
        """Make every token issued so far expire now (by the fake's clock)."""
        with self._lock:
            now = self._clock()
            for issued in self._tokens.values():
                issued.expires_at = min(issued.expires_at, now)

    @property
    def issued_tokens(self) -> int:
        """How many tokens were issued (201 with ``X-Subject-Token``) since the start or reset()."""
        with self._lock:
            return self._issued

    @property
    def valid_tokens(self) -> int:
        """How many issued tokens are valid now (project- or domain-scoped)."""
        with self._lock:
            now = self._clock()
            return sum(issued.expires_at > now for issued in self._tokens.values())

    # -- faults ----------------------------------------------------------------------------
    def inject(self, fault: Fault, *, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` token requests, after the faults already queued."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(_PendingFault(fault, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self) -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            pending = self._faults[0]
            pending.remaining -= 1
            if pending.remaining == 0:
                self._faults.popleft()
            self.faults_fired += pending.fault != Fault()  # Fault() lets a request through
            return pending.fault

    # -- inspection ------------------------------------------------------------------------
    @property
    def calls(self) -> list[IamCall]:
        with self._lock:
            return [replace(call) for call in self._calls]

    def reset(self) -> None:
        """Forget calls, queued faults and issued tokens (which become invalid); users stay."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._tokens.clear()
            self._issued = 0

    def _record(self, call: IamCall) -> None:
        with self._lock:
            self._calls.append(call)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    # -- the route -------------------------------------------------------------------------
    def _answer(self, fault: Fault, known_route: bool, query: dict[str, str], body: object) -> Reply:
        """The fault, else 404 for an unknown route, else 400 for a bad body, else authentication."""
        if fault.status is not None:
            return self._fault_reply(fault.status, fault)
        if not known_route:
            return 404, iam_error(404, NOT_FOUND), {}
        request = _parse(body)
        if request is None:
            return 400, iam_error(400, BAD_BODY), {}
        try:
            return self._authenticate(request, catalog=not query.get("nocatalog"))
        except Exception as exc:  # a bug in the fake: answer it rather than print a traceback
            return 500, iam_error(500, f"fake_iam bug: {type(exc).__name__}"), {}

    def _fault_reply(self, status: int, fault: Fault) -> Reply:
        body = fault.body
        if body is None and 200 <= status < 300:
            now = self._clock()
            times = {"expires_at": format_time(now + self._lifetime), "issued_at": format_time(now)}
            body = {"token": {**times, "methods": ["password"], "catalog": []}}
        if body is None:
            body = iam_error(status, _FAULT_MESSAGES.get(status, f"{_title(status)}."))
        return status, body, dict(fault.headers)

    def _authenticate(self, request: _Request, *, catalog: bool) -> Reply:
        with self._lock:
            user = self._users.get((request.domain_name, request.user_name))
            sent = _digest(request.password)
            if user is None or not hmac.compare_digest(sent, user.password_digest):
                return 401, iam_error(401, WRONG_CREDENTIALS), {}
            if user.locked:
                return 401, iam_error(401, USER_LOCKED), {}
            allowed, project = _scope_for(user, request.scope)
            if not allowed:
                return 401, iam_error(401, NO_ACCESS), {}
            token = self._make_token()
            issued_at = self._clock()
            expires_at = issued_at + self._lifetime
            project_id = None if project is None else project[0]
            self._tokens[_digest(token)] = _Issued((user.domain_name, user.name), project_id, expires_at)
            self._issued += 1
            body = _token_body(user, project, issued_at, expires_at, catalog=catalog)
        return 201, body, {"X-Subject-Token": token}


def _scope_for(user: _User, scope: tuple[str, str, str]) -> tuple[bool, tuple[str, str] | None]:
    """Whether ``user`` may have the scope, and its project (id, name), None for a domain scope."""
    kind, key, value = scope
    if kind == "domain":
        mine = {"id": user.domain_id, "name": user.domain_name}
        return not value or mine[key] == value, None
    for project_id, name in user.projects.items():
        if (project_id if key == "id" else name) == value:
            return True, (project_id, name)
    return False, None


def _token_body(
    user: _User, project: tuple[str, str] | None, issued_at: float, expires_at: float, *, catalog: bool
) -> Json:
    domain = {"id": user.domain_id, "name": user.domain_name}
    token: Json = {"expires_at": format_time(expires_at), "issued_at": format_time(issued_at)}
    token["methods"] = ["password"]
    if catalog:
        token["catalog"] = []
    if project is None:
        token["domain"] = dict(domain)
    else:
        token["project"] = {"id": project[0], "name": project[1], "domain": dict(domain)}
    token["roles"] = [dict(role) for role in _ROLES]
    token["user"] = {"id": user.user_id, "name": user.name, "password_expires_at": "", "domain": domain}
    return {"token": token}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeIam) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

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

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _handle(self) -> None:
        fake = cast(_Server, self.server).fake
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        body = self._read_body()
        call = IamCall(
            self.command, split.path, query, *_asked(body), header_names=tuple(self.headers.keys())
        )
        fake._record(call)
        known_route = self.command == "POST" and split.path == TOKENS_PATH
        fault = (fake._take_fault() if known_route else None) or Fault()
        fake._sleep(fault.delay + fake.latency)
        if fault.drop:
            self._drop()
            return
        status, reply, headers = fake._answer(fault, known_route, query, body)
        with fake._lock:
            call.status = status
        self._send(status, reply, headers, fault.raw_body)

    def _read_body(self) -> object:
        """The JSON body; None if empty, and for anything that is not JSON (the request is then invalid)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length, self.close_connection = 0, True
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            return cast(object, json.loads(raw)) if raw else None
        except ValueError:  # UnicodeDecodeError included
            return None

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, status: int, reply: Json, headers: dict[str, str], raw_body: bytes | None = None) -> None:
        payload = json.dumps(reply).encode() if raw_body is None else raw_body
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Request-Id", uuid.uuid4().hex)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (e.g. its read timeout ran out)
            self.close_connection = True


def load_users(fake: FakeIam, path: str) -> int:
    """Add the users of a JSON file, a list of ``{"domain", "user", "password", "projects", "locked"}``
    (the last two optional); returns how many."""
    with open(path, encoding="utf-8") as handle:
        entries = json.load(handle)
    for entry in entries:
        fake.add_user(
            entry["domain"], entry["user"], entry["password"],
            projects=entry.get("projects", {}), locked=entry.get("locked", False),
        )  # fmt: skip
    return len(entries)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake IAM token service until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--user-file", required=True, help="JSON list of users (see load_users)")
    args = parser.parse_args(argv)
    fake = FakeIam(host=args.host, port=args.port)
    count = load_users(fake, args.user_file)
    with fake:
        print(f"fake IAM listening on {fake.url}{TOKENS_PATH} with {count} users")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")


if __name__ == "__main__":
    main()
