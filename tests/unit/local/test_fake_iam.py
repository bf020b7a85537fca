"""The fake IAM token service, exercised through real HTTP.

No assert names a token or a password in its expression, so that a failure report can never show one.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.fake_iam import (
    BAD_BODY,
    NO_ACCESS,
    NOT_FOUND,
    USER_LOCKED,
    WRONG_CREDENTIALS,
    FakeIam,
    Fault,
    format_time,
    iam_error,
    load_users,
)

DOMAIN = "IAMDomain"
USER = "ges-rotator"
PASSWORD = "Pa55-word-never-kept"
PROJECT = "0123456789abcdef0123456789abcdef"
REGION = "cn-north-4"
OTHER_PROJECT = "fedcba9876543210fedcba9876543210"
ISSUED = 1578042322.701  # 2020-01-03T09:05:22.701000Z
TIME_PATTERN = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: float = ISSUED) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def iam(clock: Clock) -> Iterator[FakeIam]:
    with FakeIam(clock=clock) as fake:
        fake.add_user(DOMAIN, USER, PASSWORD, projects={PROJECT: REGION})
        yield fake


def auth_body(
    *, user: str = USER, password: str = PASSWORD, domain: str = DOMAIN, scope: Any = "default"
) -> dict[str, Any]:
    """IAM's password-method request; ``scope`` "default" is the project by id, None leaves it out."""
    identity = {
        "methods": ["password"],
        "password": {"user": {"name": user, "password": password, "domain": {"name": domain}}},
    }
    body: dict[str, Any] = {"auth": {"identity": identity}}
    if scope is not None:
        body["auth"]["scope"] = {"project": {"id": PROJECT}} if scope == "default" else scope
    return body


def post(iam: FakeIam, body: Any, *, query: str = "", timeout: float = 2.0) -> requests.Response:
    """POST /v3/auth/tokens; a str or bytes body goes as it is, anything else as JSON."""
    url = f"{iam.url}/v3/auth/tokens{query}"
    headers = {"Content-Type": "application/json;charset=utf8"}
    if isinstance(body, str | bytes):
        return requests.post(url, data=body, headers=headers, timeout=timeout)
    return requests.post(url, data=json.dumps(body), headers=headers, timeout=timeout)


def token_of(resp: requests.Response) -> str:
    status, token = resp.status_code, resp.headers.get("X-Subject-Token", "")
    assert status == 201
    return token


def project_of(iam: FakeIam, token: str) -> str | None:
    return iam.token_project(token)


def error_of(resp: requests.Response) -> tuple[int, dict[str, Any]]:
    return resp.status_code, resp.json()


def wait_for(condition: Any, seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


# --- success ----------------------------------------------------------------------------------------


def test_success_is_201_with_a_multi_kb_token_header_and_iam_body(iam: FakeIam) -> None:
    resp = post(iam, auth_body())
    token = token_of(resp)
    size, mii, url_safe = len(token), token.startswith("MII"), re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert (size, mii, url_safe is not None) == (6144, True, True)
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["X-Request-Id"]
    in_body = token in resp.text
    assert not in_body
    body = resp.json()["token"]
    domain = body["user"]["domain"]
    assert re.fullmatch(r"[0-9a-f]{32}", domain["id"])
    assert re.fullmatch(r"[0-9a-f]{32}", body["user"]["id"])
    assert body == {
        "expires_at": "2020-01-04T09:05:22.701000Z",
        "issued_at": "2020-01-03T09:05:22.701000Z",
        "methods": ["password"],
        "catalog": [],
        "project": {"id": PROJECT, "name": REGION, "domain": {"id": domain["id"], "name": DOMAIN}},
        "roles": [{"id": "0", "name": "te_admin"}],
        "user": {"id": body["user"]["id"], "name": USER, "password_expires_at": "", "domain": domain},
    }
    assert list(body) == ["expires_at", "issued_at", "methods", "catalog", "project", "roles", "user"]
    assert iam.issued_tokens == 1


def test_times_follow_the_clock_and_the_lifetime(clock: Clock) -> None:
    clock.now = 1_700_000_000.123456
    with FakeIam(clock=clock, lifetime_seconds=3600, token_size=4096) as iam:
        iam.add_user(DOMAIN, USER, PASSWORD, projects={PROJECT: REGION})
        resp = post(iam, auth_body())
        size = len(token_of(resp))
    body = resp.json()["token"]
    assert size == 4096
    assert (body["issued_at"], body["expires_at"]) == (
        "2023-11-14T22:13:20.123456Z",
        "2023-11-14T23:13:20.123456Z",
    )
    assert re.fullmatch(TIME_PATTERN, format_time(time.time()))


@pytest.mark.parametrize(("query", "has_catalog"), [("?nocatalog=true", False), ("?nocatalog=1", False),
                                                    ("?nocatalog=", True), ("", True)])  # fmt: skip
def test_nocatalog_with_any_value_omits_the_catalog(iam: FakeIam, query: str, has_catalog: bool) -> None:
    resp = post(iam, auth_body(), query=query)
    token_of(resp)
    assert ("catalog" in resp.json()["token"]) is has_catalog


def test_project_scope_by_name_gives_the_project_id(iam: FakeIam) -> None:
    iam.add_user(DOMAIN, "two-projects", PASSWORD, projects={OTHER_PROJECT: "cn-east-3", PROJECT: REGION})
    resp = post(iam, auth_body(user="two-projects", scope={"project": {"name": "cn-east-3"}}))
    token = token_of(resp)
    assert resp.json()["token"]["project"]["id"] == OTHER_PROJECT
    assert project_of(iam, token) == OTHER_PROJECT


def test_project_scope_wins_over_a_domain_scope(iam: FakeIam) -> None:
    resp = post(iam, auth_body(scope={"domain": {"name": DOMAIN}, "project": {"id": PROJECT}}))
    token = token_of(resp)
    assert project_of(iam, token) == PROJECT
    assert "domain" not in resp.json()["token"]


def test_users_of_one_domain_share_its_id(iam: FakeIam) -> None:
    iam.add_user(DOMAIN, "second", "other", projects={PROJECT: REGION})
    first = post(iam, auth_body()).json()["token"]
    second = post(iam, auth_body(user="second", password="other")).json()["token"]
    assert first["user"]["domain"] == second["user"]["domain"]
    assert first["user"]["id"] != second["user"]["id"]


def test_concurrent_requests_each_get_their_own_valid_token(iam: FakeIam) -> None:
    tokens: list[str] = []

    def fetch() -> None:
        tokens.append(post(iam, auth_body(), timeout=5).headers["X-Subject-Token"])

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    distinct = len(set(tokens))
    projects = {project_of(iam, token) for token in tokens}
    assert (distinct, projects, iam.issued_tokens, iam.valid_tokens) == (8, {PROJECT}, 8, 8)


# --- token validity ---------------------------------------------------------------------------------


def test_a_new_token_leaves_the_old_one_valid_until_it_expires(iam: FakeIam, clock: Clock) -> None:
    old = token_of(post(iam, auth_body()))
    clock.now += 3600
    new = token_of(post(iam, auth_body()))
    differ = old != new
    assert differ
    assert (project_of(iam, old), project_of(iam, new)) == (PROJECT, PROJECT)
    clock.now = ISSUED + 86400 - 0.001
    assert (project_of(iam, old), project_of(iam, new)) == (PROJECT, PROJECT)
    clock.now = ISSUED + 86400
    assert (project_of(iam, old), project_of(iam, new)) == (None, PROJECT)
    assert (iam.issued_tokens, iam.valid_tokens) == (2, 1)
    clock.now += 3600
    assert project_of(iam, new) is None


def test_expire_all_ends_every_issued_token_but_not_later_ones(iam: FakeIam) -> None:
    tokens = [token_of(post(iam, auth_body())) for _ in range(2)]
    iam.expire_all()
    assert [project_of(iam, token) for token in tokens] == [None, None]
    later = token_of(post(iam, auth_body()))
    assert project_of(iam, later) == PROJECT
    assert (iam.issued_tokens, iam.valid_tokens) == (3, 1)


def test_a_lifetime_set_later_applies_to_the_tokens_issued_from_then_on(iam: FakeIam, clock: Clock) -> None:
    before = post(iam, auth_body())
    iam.lifetime_seconds = 5 * 3600
    after = post(iam, auth_body())
    assert iam.lifetime_seconds == 5 * 3600
    assert (before.json()["token"]["expires_at"], after.json()["token"]["expires_at"]) == (
        format_time(ISSUED + 86400),
        format_time(ISSUED + 5 * 3600),
    )
    clock.now = ISSUED + 5 * 3600
    assert (project_of(iam, token_of(before)), project_of(iam, token_of(after))) == (PROJECT, None)
    with pytest.raises(ValueError, match="more than 0 seconds"):
        iam.lifetime_seconds = 0


def test_revoking_one_token_ends_it_alone(iam: FakeIam) -> None:
    kept, revoked = (token_of(post(iam, auth_body())) for _ in range(2))
    assert iam.revoke(revoked) is True
    assert (project_of(iam, kept), project_of(iam, revoked)) == (PROJECT, None)
    assert (iam.revoke(revoked), iam.revoke("MIIunknown")) == (False, False)
    assert (iam.issued_tokens, iam.valid_tokens) == (2, 1)


def test_unknown_and_tampered_tokens_have_no_project(iam: FakeIam) -> None:
    token = token_of(post(iam, auth_body()))
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert [project_of(iam, t) for t in ("", "MIIunknown", tampered)] == [None, None, None]


@pytest.mark.parametrize(
    "scope",
    [None, {}, {"domain": {"name": DOMAIN}}, {"domain": {"id": "own"}}],
    ids=["none", "empty", "name", "id"],
)
def test_domain_scoped_tokens_are_issued_but_have_no_project(iam: FakeIam, scope: Any) -> None:
    if scope == {"domain": {"id": "own"}}:
        domain_id = post(iam, auth_body()).json()["token"]["user"]["domain"]["id"]
        scope = {"domain": {"id": domain_id}}
    resp = post(iam, auth_body(scope=scope))
    token = token_of(resp)
    body = resp.json()["token"]
    assert "project" not in body
    assert body["domain"] == body["user"]["domain"]
    assert body["domain"]["name"] == DOMAIN
    assert project_of(iam, token) is None
    assert iam.valid_tokens >= 1


def test_a_new_password_or_a_lock_invalidates_the_users_tokens(iam: FakeIam) -> None:
    iam.add_user(DOMAIN, "bystander", "theirs", projects={PROJECT: REGION})
    bystander = token_of(post(iam, auth_body(user="bystander", password="theirs")))
    first = token_of(post(iam, auth_body()))
    iam.set_password(DOMAIN, USER, "new-password")
    assert project_of(iam, first) is None
    second = token_of(post(iam, auth_body(password="new-password")))
    iam.lock_user(DOMAIN, USER)
    assert (project_of(iam, second), project_of(iam, bystander)) == (None, PROJECT)


# --- refusals ---------------------------------------------------------------------------------------


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    body = auth_body()
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return body


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body = auth_body()
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return body


USER_PATH = ("auth", "identity", "password", "user")
MALFORMED: dict[str, Any] = {
    "not json": "{not json",
    "empty body": b"",
    "not utf-8": b'{"auth": "\xff"}',
    "a list": [auth_body()],
    "no auth": {"identity": auth_body()["auth"]["identity"]},
    "no identity": _without(("auth", "identity")),
    "no methods": _without(("auth", "identity", "methods")),
    "methods not a list": _with(("auth", "identity", "methods"), "password"),
    "token method only": _with(("auth", "identity", "methods"), ["token"]),
    "no password block": _without(("auth", "identity", "password")),
    "no user name": _without((*USER_PATH, "name")),
    "no password": _without((*USER_PATH, "password")),
    "empty password": _with((*USER_PATH, "password"), ""),
    "password not a string": _with((*USER_PATH, "password"), 1234),
    "no domain": _without((*USER_PATH, "domain")),
    "domain id only": _with((*USER_PATH, "domain"), {"id": "abc"}),
    "domain name not a string": _with((*USER_PATH, "domain", "name"), ["IAMDomain"]),
    "scope not an object": _with(("auth", "scope"), "project"),
    "project not an object": _with(("auth", "scope"), {"project": PROJECT}),
    "project without id or name": _with(("auth", "scope"), {"project": {"domain": {"name": DOMAIN}}}),
    "empty project id": _with(("auth", "scope"), {"project": {"id": ""}}),
    "domain scope without id or name": _with(("auth", "scope"), {"domain": {}}),
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_bodies_are_400_in_iam_format(iam: FakeIam, body: Any) -> None:
    resp = post(iam, body)
    assert error_of(resp) == (400, {"error": {"code": 400, "message": BAD_BODY, "title": "Bad Request"}})
    assert "X-Subject-Token" not in resp.headers
    assert [call.status for call in iam.calls] == [400]
    assert iam.issued_tokens == 0


WRONG = {"error": {"code": 401, "message": WRONG_CREDENTIALS, "title": "Unauthorized"}}


@pytest.mark.parametrize(
    "changes",
    [{"password": "wrong"}, {"password": PASSWORD.upper()}, {"user": "nobody"}, {"domain": "OtherDomain"}],
    ids=["wrong password", "password case", "unknown user", "unknown domain"],
)
def test_wrong_credentials_are_401(iam: FakeIam, changes: dict[str, str]) -> None:
    resp = post(iam, auth_body(**changes))
    assert error_of(resp) == (401, WRONG)
    assert "X-Subject-Token" not in resp.headers
    assert iam.issued_tokens == 0


def test_a_locked_user_is_401_locked_only_with_the_right_password(iam: FakeIam) -> None:
    iam.lock_user(DOMAIN, USER)
    locked = post(iam, auth_body())
    assert error_of(locked) == (
        401,
        {"error": {"code": 401, "message": USER_LOCKED, "title": "Unauthorized"}},
    )
    assert error_of(post(iam, auth_body(password="guess"))) == (401, WRONG)
    iam.lock_user(DOMAIN, USER, locked=False)
    token_of(post(iam, auth_body()))


def test_a_user_added_locked_gets_no_token(iam: FakeIam) -> None:
    iam.add_user(DOMAIN, "frozen", "pw", projects={PROJECT: REGION}, locked=True)
    assert error_of(post(iam, auth_body(user="frozen", password="pw")))[1]["error"]["message"] == USER_LOCKED


def test_old_password_is_wrong_after_a_change(iam: FakeIam) -> None:
    iam.set_password(DOMAIN, USER, "new-password")
    assert error_of(post(iam, auth_body())) == (401, WRONG)
    token_of(post(iam, auth_body(password="new-password")))


@pytest.mark.parametrize(
    "scope",
    [
        {"project": {"id": OTHER_PROJECT}},
        {"project": {"name": "cn-east-3"}},
        {"project": {"name": PROJECT}},  # an id is not a name
        {"domain": {"name": "OtherDomain"}},
        {"domain": {"id": "0" * 32}},
    ],
    ids=["project id", "project name", "id as name", "domain name", "domain id"],
)
def test_a_scope_the_user_may_not_have_is_401(iam: FakeIam, scope: dict[str, Any]) -> None:
    resp = post(iam, auth_body(scope=scope))
    assert error_of(resp) == (401, {"error": {"code": 401, "message": NO_ACCESS, "title": "Unauthorized"}})
    assert "X-Subject-Token" not in resp.headers
    assert iam.issued_tokens == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v3/auth/tokens"), ("DELETE", "/v3/auth/tokens"), ("POST", "/v3/auth/tokens/"),
     ("POST", "/v3/projects"), ("GET", "/")],
)  # fmt: skip
def test_unknown_routes_are_404_in_iam_format(iam: FakeIam, method: str, path: str) -> None:
    resp = requests.request(method, f"{iam.url}{path}", json=auth_body(), timeout=2)
    assert error_of(resp) == (404, {"error": {"code": 404, "message": NOT_FOUND, "title": "Not Found"}})
    assert resp.headers["Content-Type"] == "application/json"
    assert iam.calls[-1].status == 404


# --- faults -----------------------------------------------------------------------------------------


def test_503_fault_with_retry_after_then_normal_service(iam: FakeIam) -> None:
    iam.inject(Fault.http(503, retry_after=5))
    resp = post(iam, auth_body())
    assert error_of(resp) == (503, iam_error(503, "The service is temporarily unavailable."))
    assert resp.json()["error"]["title"] == "Service Unavailable"
    assert resp.headers["Retry-After"] == "5"
    assert "X-Subject-Token" not in resp.headers
    token_of(post(iam, auth_body()))
    assert [call.status for call in iam.calls] == [503, 201]
    assert (iam.faults_fired, iam.issued_tokens) == (1, 1)


def test_faults_come_before_validation_in_order_and_times(iam: FakeIam) -> None:
    iam.inject(Fault.http(429), times=2)
    iam.inject(Fault(status=500, body=iam_error(500, "chosen")))
    answers = [post(iam, "{not json") for _ in range(3)] + [post(iam, auth_body())]
    assert [r.status_code for r in answers] == [429, 429, 500, 201]
    assert answers[0].json()["error"] == {
        "code": 429,
        "message": "The throttling threshold has been reached.",
        "title": "Too Many Requests",
    }
    assert answers[2].json() == iam_error(500, "chosen")
    assert iam_error(599, "x") == {"error": {"code": 599, "message": "x", "title": "Error"}}
    with pytest.raises(ValueError, match="at least 1"):
        iam.inject(Fault.http(500), times=0)


def test_faults_are_not_taken_by_unknown_routes(iam: FakeIam) -> None:
    iam.inject(Fault.http(503))
    assert requests.get(f"{iam.url}/v3/projects", timeout=2).status_code == 404
    assert post(iam, auth_body()).status_code == 503


def test_201_fault_with_a_body_answers_without_a_token(iam: FakeIam) -> None:
    body = {"token": {"expires_at": "2020-01-04T09:05:22.701000Z", "methods": ["password"]}}
    iam.inject(Fault(status=201, body=body))
    iam.inject(Fault(status=201))
    with_body, default = post(iam, auth_body()), post(iam, auth_body())
    assert (with_body.status_code, with_body.json()) == (201, body)
    assert "X-Subject-Token" not in with_body.headers
    assert default.status_code == 201
    assert "X-Subject-Token" not in default.headers
    assert default.json() == {
        "token": {
            "expires_at": "2020-01-04T09:05:22.701000Z",
            "issued_at": "2020-01-03T09:05:22.701000Z",
            "methods": ["password"],
            "catalog": [],
        }
    }
    assert (iam.issued_tokens, iam.valid_tokens, iam.faults_fired) == (0, 0, 2)


def test_dropped_connection_is_a_connection_error_and_recorded(iam: FakeIam) -> None:
    iam.inject(Fault.dropped())
    with pytest.raises(requests.ConnectionError):
        post(iam, auth_body())
    [call] = iam.calls
    assert (call.status, call.user_name) == (None, USER)
    assert iam.issued_tokens == 0


def test_slow_fault_times_out_the_client_but_the_token_is_issued(iam: FakeIam) -> None:
    iam.inject(Fault.slow(0.3))
    with pytest.raises(requests.ReadTimeout):
        post(iam, auth_body(), timeout=0.1)
    assert wait_for(lambda: iam.issued_tokens == 1)  # the token exists; the client never saw it
    assert wait_for(lambda: iam.calls[0].status == 201)


def test_clear_faults_and_reset(iam: FakeIam) -> None:
    token = token_of(post(iam, auth_body()))
    iam.inject(Fault.http(503))
    iam.clear_faults()
    token_of(post(iam, auth_body()))
    iam.inject(Fault.http(503))
    iam.reset()
    assert (iam.calls, iam.issued_tokens, project_of(iam, token)) == ([], 0, None)
    token_of(post(iam, auth_body()))  # no fault left; users stay


# --- what is kept and printed -----------------------------------------------------------------------


def test_calls_record_who_asked_for_what_but_never_a_password_or_token(iam: FakeIam) -> None:
    token = token_of(post(iam, auth_body(), query="?nocatalog=true"))
    post(iam, auth_body(password=PASSWORD + "-wrong"))
    post(iam, '{"auth": {"identity": {"password": "' + PASSWORD + '"')  # malformed, password inside
    post(iam, auth_body(scope={"project": {"name": REGION, "password": PASSWORD}}))
    calls = iam.calls
    first = calls[0]
    assert (first.method, first.path, first.query) == ("POST", "/v3/auth/tokens", {"nocatalog": "true"})
    assert (first.user_name, first.domain_name, first.scope) == (USER, DOMAIN, {"project": {"id": PROJECT}})
    assert {"Content-Type", "Content-Length", "Host"} <= set(first.header_names)
    assert [c.status for c in calls] == [201, 401, 400, 201]
    assert (calls[2].user_name, calls[2].domain_name, calls[2].scope) == (None, None, None)
    assert calls[3].scope == {"project": {"name": REGION}}  # only ids and names of a scope are kept
    texts = [repr(calls), repr(vars(iam)), repr(iam._users), repr(iam._tokens)]
    token_found = any(token in text or token[:40] in text for text in texts)
    password_found = any(PASSWORD in text for text in texts)
    assert not token_found
    assert not password_found


def test_server_prints_nothing_even_for_aborted_connections(
    iam: FakeIam, capfd: pytest.CaptureFixture[str]
) -> None:
    iam.inject(Fault.dropped())
    iam.inject(Fault.slow(0.2))
    with pytest.raises(requests.ConnectionError):
        post(iam, auth_body())
    with pytest.raises(requests.ReadTimeout):
        post(iam, auth_body(), timeout=0.05)
    assert wait_for(lambda: len(iam.calls) == 2 and iam.calls[1].status == 201)
    post(iam, auth_body())
    post(iam, "{not json")
    requests.get(f"{iam.url}/nowhere", timeout=2)
    assert capfd.readouterr() == ("", "")


# --- setup ------------------------------------------------------------------------------------------


def test_user_admin_errors() -> None:
    fake = FakeIam()
    fake.add_user(DOMAIN, USER, PASSWORD)
    with pytest.raises(ValueError, match="already exists"):
        fake.add_user(DOMAIN, USER, "other")
    with pytest.raises(KeyError, match="no user"):
        fake.set_password(DOMAIN, "nobody", "x")
    with pytest.raises(KeyError, match="no user"):
        fake.lock_user("OtherDomain", USER)
    with pytest.raises(ValueError, match="token size"):
        FakeIam(token_size=3)
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.url


def test_start_twice_is_refused_and_stop_is_idempotent() -> None:
    fake = FakeIam().start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            fake.start()
    finally:
        fake.stop()
    fake.stop()


def test_load_users_reads_a_user_file(tmp_path: Path, clock: Clock) -> None:
    users = [
        {"domain": DOMAIN, "user": USER, "password": PASSWORD, "projects": {PROJECT: REGION}},
        {"domain": DOMAIN, "user": "frozen", "password": "pw", "locked": True},
    ]
    path = tmp_path / "users.json"
    path.write_text(json.dumps(users), encoding="utf-8")
    with FakeIam(clock=clock) as iam:
        assert load_users(iam, str(path)) == 2
        token = token_of(post(iam, auth_body()))
        assert project_of(iam, token) == PROJECT
        assert (
            error_of(post(iam, auth_body(user="frozen", password="pw")))[1]["error"]["message"] == USER_LOCKED
        )
