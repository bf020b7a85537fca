"""The fake IAM itself: its users, the tokens it issued (as SHA-256 digests), its calls and faults
behind one lock, and the token route's handling (:class:`IamHandler`)."""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, cast

from local.fake_ges.faults import Fault, FaultedFake, FaultQueue
from local.fake_ges.tokens import make_token
from local.fake_http import FakeHandler, ServedFake
from local.fake_iam.answers import (
    BAD_BODY,
    NO_ACCESS,
    NOT_FOUND,
    TOKENS_PATH,
    USER_LOCKED,
    WRONG_CREDENTIALS,
    Issued,
    User,
    bare_token_body,
    digest,
    fault_error,
    iam_error,
    token_body,
)
from local.fake_iam.parsing import IamCall, PasswordRequest, asked, parse

Json = dict[str, Any]
Reply = tuple[int, Json, dict[str, str]]  # status, body, extra headers


class IamHandler(FakeHandler["FakeIam"]):
    """One connection: the token route (POST /v3/auth/tokens), and 404 for anything else."""

    def respond(self) -> None:
        fake = self.fake
        path, query = self.path_and_query()
        body = self._read_json()
        call = IamCall(self.command, path, query, *asked(body), header_names=tuple(self.headers.keys()))
        fake._record(call)
        known_route = self.command == "POST" and path == TOKENS_PATH
        fault = (fake._take_fault(TOKENS_PATH, call) if known_route else None) or Fault()
        fake._sleep(fault.delay + fake.latency)
        if fault.drop:
            self.drop()
            return
        status, reply, headers = fake._answer(fault, known_route, query, body)
        with fake._lock:
            call.status = status
        self.send(status, reply, headers, fault.raw_body)

    def _read_json(self) -> object:
        """The JSON body; None if empty, and for anything that is not JSON (the request is then invalid)."""
        raw = self.read_body()
        try:
            return cast(object, json.loads(raw)) if raw else None
        except ValueError:  # UnicodeDecodeError included
            return None


class FakeIam(ServedFake, FaultedFake):
    """The fake server and its state. Thread-safe; use as a context manager or start()/stop()."""

    handler = IamHandler

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
        super().__init__(host, port)
        self._make_token = token_factory or partial(make_token, token_size)
        self._lifetime = lifetime_seconds
        self._clock = clock
        self.latency = 0.0
        self._lock = threading.Lock()
        self._domain_ids: dict[str, str] = {}
        self._users: dict[tuple[str, str], User] = {}
        self._tokens: dict[str, Issued] = {}  # SHA-256 of the token -> what it grants
        self._issued = 0
        self._calls: list[IamCall] = []
        self._faults = FaultQueue()

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
            user = User(
                domain_name,
                domain_id,
                user_name,
                uuid.uuid4().hex,
                digest(password),
                dict(projects or {}),
                locked,
            )
            self._users[(domain_name, user_name)] = user
            return user.user_id

    def set_password(self, domain_name: str, user_name: str, password: str) -> None:
        """Change the password; like IAM, the user's tokens are invalid from now on."""
        with self._lock:
            self._user(domain_name, user_name).password_digest = digest(password)
            self._revoke(domain_name, user_name)

    def lock_user(self, domain_name: str, user_name: str, locked: bool = True) -> None:
        """Lock (or with ``locked=False`` unlock) a user; locking invalidates the user's tokens."""
        with self._lock:
            self._user(domain_name, user_name).locked = locked
            if locked:
                self._revoke(domain_name, user_name)

    def _user(self, domain_name: str, user_name: str) -> User:
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
            issued = self._tokens.get(digest(token))
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
            issued = self._tokens.pop(digest(token), None)
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
        with self._lock:
            self._faults.add(fault, times, TOKENS_PATH)

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

    # -- the route -------------------------------------------------------------------------
    def _answer(self, fault: Fault, known_route: bool, query: dict[str, str], body: object) -> Reply:
        """The fault, else 404 for an unknown route, else 400 for a bad body, else authentication."""
        if fault.status is not None:
            return self._fault_reply(fault.status, fault)
        if not known_route:
            return 404, iam_error(404, NOT_FOUND), {}
        request = parse(body)
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
            body = bare_token_body(now, now + self._lifetime)
        if body is None:
            body = fault_error(status)
        return status, body, dict(fault.headers)

    def _authenticate(self, request: PasswordRequest, *, catalog: bool) -> Reply:
        with self._lock:
            user = self._users.get((request.domain_name, request.user_name))
            sent = digest(request.password)
            if user is None or not hmac.compare_digest(sent, user.password_digest):
                return 401, iam_error(401, WRONG_CREDENTIALS), {}
            if user.locked:
                return 401, iam_error(401, USER_LOCKED), {}
            allowed, project = user.scope_for(request.scope)
            if not allowed:
                return 401, iam_error(401, NO_ACCESS), {}
            token = self._make_token()
            issued_at = self._clock()
            expires_at = issued_at + self._lifetime
            project_id = None if project is None else project[0]
            self._tokens[digest(token)] = Issued((user.domain_name, user.name), project_id, expires_at)
            self._issued += 1
            body = token_body(user, project, issued_at, expires_at, catalog=catalog)
        return 201, body, {"X-Subject-Token": token}


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
