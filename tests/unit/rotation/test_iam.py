"""The IAM token client against the fake IAM, over real HTTP: the request, the token, IAM's errors, retries.

Every token the fake issues carries the canary, and so does the password: any of them in captured output
fails the run (tests/conftest.py). No assert names a token or the password in its expression, so that a
failure report can never show one.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator

import pytest

from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import ConfigurationError, ExportError
from ges_backup_export.core.scrubbing import Scrubber
from ges_backup_export.rotation.errors import (
    IamAnswerInvalid,
    IamCredentialsRejected,
    IamRefused,
    IamUnavailable,
)
from ges_backup_export.rotation.iam import IAM_MAX_ATTEMPTS, IamClient, IamCredentials, IssuedToken
from local.fake_ges import DEEP_JSON
from local.fake_iam import TOKENS_PATH, USER_LOCKED, WRONG_CREDENTIALS, FakeIam, Fault, iam_error
from tests.doubles import closed_port
from tests.tokens import CANARY, assert_no_token, canary_token

DOMAIN = "IAMDomain"
USER = "ges-rotator"
PASSWORD = f"correct-horse-{CANARY}-battery"
PROJECT = "0123456789abcdef0123456789abcdef"
OTHER_PROJECT = "fedcba9876543210fedcba9876543210"
CREDENTIALS = IamCredentials(DOMAIN, USER, PASSWORD)
IAM_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
NO_LIMIT = Deadline(at=None, margin=0)


@pytest.fixture(scope="module")
def iam_server() -> Iterator[FakeIam]:
    with FakeIam(token_factory=canary_token) as fake:
        fake.add_user(DOMAIN, USER, PASSWORD, projects={PROJECT: "cn-north-4"})
        fake.add_user(DOMAIN, "locked-user", PASSWORD, projects={PROJECT: "cn-north-4"}, locked=True)
        yield fake


@pytest.fixture
def iam(iam_server: FakeIam) -> FakeIam:
    iam_server.reset()
    return iam_server


@pytest.fixture
def pauses() -> list[float]:
    return []


@pytest.fixture
def scrubber() -> Scrubber:
    return Scrubber()


@pytest.fixture
def client(iam: FakeIam, pauses: list[float], scrubber: Scrubber) -> IamClient:
    return IamClient(iam.url, scrubber, timeout=2.0, sleep=pauses.append, rng=random.Random(7))


def failing(client: IamClient, credentials: IamCredentials = CREDENTIALS) -> ExportError:
    with pytest.raises(ExportError) as raised:
        client.issue_token(credentials, PROJECT, NO_LIMIT)
    text = str(raised.value)
    assert_no_token(text)
    return raised.value


# --- a token ---------------------------------------------------------------------------------------------


def test_a_token_is_issued_for_the_project_and_iam_accepts_it_as_its_own(
    client: IamClient, iam: FakeIam
) -> None:
    issued = client.issue_token(CREDENTIALS, PROJECT, NO_LIMIT)

    scoped = iam.token_project(issued.token)
    size = len(issued.token)
    assert scoped == PROJECT
    assert size > 6000  # IAM's tokens are several KB
    assert IAM_TIME.fullmatch(issued.expires_at)
    assert issued.project_id == PROJECT
    assert_no_token(repr(issued))


def test_the_request_is_the_password_method_scoped_to_the_project_by_id_without_catalog(
    client: IamClient, iam: FakeIam
) -> None:
    client.issue_token(CREDENTIALS, PROJECT, NO_LIMIT)

    [call] = iam.calls
    assert (call.method, call.path, call.query) == ("POST", TOKENS_PATH, {"nocatalog": "true"})
    assert (call.domain_name, call.user_name) == (DOMAIN, USER)
    assert call.scope == {"project": {"id": PROJECT}}
    assert call.status == 201


def test_the_stored_value_is_exactly_the_token_its_expiry_and_its_project(client: IamClient) -> None:
    issued = client.issue_token(CREDENTIALS, PROJECT, NO_LIMIT)

    stored = json.loads(issued.secret_string())
    keys, same_token = list(stored), stored["token"] == issued.token
    assert keys == ["token", "expires_at", "project_id"]
    assert same_token
    assert (stored["expires_at"], stored["project_id"]) == (issued.expires_at, PROJECT)


def test_every_token_and_the_password_are_scrubbed_from_text(client: IamClient, scrubber: Scrubber) -> None:
    issued = client.issue_token(CREDENTIALS, PROJECT, NO_LIMIT)

    text = scrubber.scrub(f"sent {PASSWORD}, got {issued.token}")
    assert text == "sent ***, got ***"


# --- IAM's refusals: never retried ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        pytest.param(
            IamCredentials(DOMAIN, USER, "wrong-" + PASSWORD), WRONG_CREDENTIALS, id="wrong-password"
        ),
        pytest.param(IamCredentials(DOMAIN, "nobody", PASSWORD), WRONG_CREDENTIALS, id="unknown-user"),
        pytest.param(IamCredentials(DOMAIN, "locked-user", PASSWORD), USER_LOCKED, id="locked-user"),
    ],
)
def test_iam_s_401_says_the_iam_credentials_were_rejected_and_is_not_retried(
    client: IamClient, iam: FakeIam, pauses: list[float], credentials: IamCredentials, message: str
) -> None:
    error = failing(client, credentials)

    assert isinstance(error, IamCredentialsRejected)
    assert str(error).startswith("IamCredentialsRejected: IAM rejected the IAM credentials of user ")
    assert f"in domain {DOMAIN}: Unauthorized: {message}" in error.message
    assert len(iam.calls) == 1
    assert pauses == []


def test_a_project_the_user_has_no_access_to_is_a_rejection(client: IamClient) -> None:
    with pytest.raises(IamCredentialsRejected) as raised:
        client.issue_token(CREDENTIALS, OTHER_PROJECT, NO_LIMIT)

    assert "requires authentication" in raised.value.message


@pytest.mark.parametrize("status", [400, 403, 404])
def test_another_4xx_is_a_refusal_with_iam_s_message(client: IamClient, iam: FakeIam, status: int) -> None:
    iam.inject(Fault(status=status, body=iam_error(status, "The request body is invalid")))

    error = failing(client)

    assert isinstance(error, IamRefused)
    assert error.message.startswith(f"IAM answered {status}: ")
    assert error.message.endswith("The request body is invalid")
    assert len(iam.calls) == 1


def test_an_error_that_is_not_in_iam_s_format_is_shown_as_it_came(client: IamClient, iam: FakeIam) -> None:
    iam.inject(Fault(status=403, body={"detail": "forbidden by a proxy"}))

    error = failing(client)

    assert isinstance(error, IamRefused)
    assert error.message == 'IAM answered 403: Forbidden: {"detail": "forbidden by a proxy"}'


def test_an_error_that_repeats_the_password_shows_it_scrubbed(client: IamClient, iam: FakeIam) -> None:
    iam.inject(Fault(status=400, body=iam_error(400, f"bad password {PASSWORD}")))

    error = failing(client)

    assert error.message.endswith("bad password ***")


# --- IAM unavailable: retried briefly, then a failed step -------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_transient_answer_is_retried_and_a_token_follows(
    client: IamClient, iam: FakeIam, pauses: list[float], status: int
) -> None:
    iam.inject(Fault.http(status))

    issued = client.issue_token(CREDENTIALS, PROJECT, NO_LIMIT)

    scoped = iam.token_project(issued.token)
    assert scoped == PROJECT
    assert [call.status for call in iam.calls] == [status, 201]
    assert len(pauses) == 1


def test_retry_after_is_honoured(client: IamClient, iam: FakeIam, pauses: list[float]) -> None:
    iam.inject(Fault.http(429, retry_after=3))

    client.issue_token(CREDENTIALS, PROJECT, NO_LIMIT)

    assert len(pauses) == 1
    assert pauses[0] >= 3


def test_iam_unavailable_for_every_attempt_fails_with_its_last_answer(
    client: IamClient, iam: FakeIam, pauses: list[float]
) -> None:
    iam.inject(Fault.http(503), times=IAM_MAX_ATTEMPTS)

    error = failing(client)

    assert isinstance(error, IamUnavailable)
    assert error.message.startswith("IAM answered 503: Service Unavailable: ")
    assert error.message.endswith(f"(after {IAM_MAX_ATTEMPTS} attempts)")
    assert len(iam.calls) == IAM_MAX_ATTEMPTS
    assert len(pauses) == IAM_MAX_ATTEMPTS - 1


def test_a_dropped_connection_is_retried(client: IamClient, iam: FakeIam) -> None:
    iam.inject(Fault.dropped())

    client.issue_token(CREDENTIALS, PROJECT, NO_LIMIT)

    assert iam.issued_tokens == 1


def test_a_refused_connection_is_retried_then_iam_is_unavailable(
    scrubber: Scrubber, pauses: list[float]
) -> None:
    client = IamClient(f"http://127.0.0.1:{closed_port()}", scrubber, sleep=pauses.append)

    error = failing(client)

    assert isinstance(error, IamUnavailable)
    assert error.message.startswith(f"POST {TOKENS_PATH} failed: ConnectionError: ")
    assert len(pauses) == IAM_MAX_ATTEMPTS - 1


def test_no_whole_answer_within_the_timeout_is_retried(
    iam: FakeIam, scrubber: Scrubber, pauses: list[float]
) -> None:
    client = IamClient(iam.url, scrubber, timeout=0.2, sleep=pauses.append)
    iam.inject(Fault.slow(2.0))

    client.issue_token(CREDENTIALS, PROJECT, NO_LIMIT)

    assert len(pauses) == 1
    assert iam.issued_tokens == 1


def test_no_attempt_is_made_without_the_time_for_one(client: IamClient, iam: FakeIam) -> None:
    with pytest.raises(IamUnavailable) as raised:
        client.issue_token(CREDENTIALS, PROJECT, Deadline(at=0.0, margin=0, clock=lambda: 0.0))

    assert "too little of the invocation's time is left" in raised.value.message
    assert iam.calls == []


def test_a_retry_that_would_outlast_the_invocation_is_not_waited_for(client: IamClient, iam: FakeIam) -> None:
    iam.inject(Fault.http(503, retry_after=60))

    with pytest.raises(IamUnavailable) as raised:
        client.issue_token(CREDENTIALS, PROJECT, Deadline(at=10.0, margin=0, clock=lambda: 0.0))

    assert "to retry would outlast the invocation" in raised.value.message
    assert len(iam.calls) == 1


# --- success answers without a usable token --------------------------------------------------------------


def test_an_answer_without_x_subject_token_is_invalid_and_not_retried(
    client: IamClient, iam: FakeIam
) -> None:
    iam.inject(Fault(status=201))

    error = failing(client)

    assert isinstance(error, IamAnswerInvalid)
    assert error.message == "IAM answered 201 without an X-Subject-Token header"
    assert len(iam.calls) == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param({"token": {}}, "IAM's answer has no token.expires_at", id="no-expires_at"),
        pytest.param(
            {"token": {"expires_at": "tomorrow"}},
            "IAM's answer has no usable token.expires_at: must be an ISO-8601 time",
            id="not-a-time",
        ),
        pytest.param(None, "IAM's answer has no token.expires_at", id="not-json"),
    ],
)
def test_an_answer_without_a_usable_expiry_is_invalid(
    client: IamClient, iam: FakeIam, body: dict[str, object] | None, problem: str
) -> None:
    iam.inject(Fault(status=201, body=body or {"not": "iam"}, headers={"X-Subject-Token": canary_token()}))

    error = failing(client)

    assert isinstance(error, IamAnswerInvalid)
    assert error.message.startswith(problem)


def test_a_token_scoped_to_another_project_is_invalid(client: IamClient, iam: FakeIam) -> None:
    body = {"token": {"expires_at": "2026-11-30T02:00:00.000000Z", "project": {"id": OTHER_PROJECT}}}
    iam.inject(Fault(status=201, body=body, headers={"X-Subject-Token": canary_token()}))

    error = failing(client)

    assert isinstance(error, IamAnswerInvalid)
    assert error.message == f"IAM scoped the token to project {OTHER_PROJECT}, not to {PROJECT}"


# --- the credentials secret --------------------------------------------------------------------------------


def credentials_error(value: str | None) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as raised:
        IamCredentials.from_secret(value)
    assert_no_token(str(raised.value))
    return raised.value


def test_credentials_are_read_from_the_secret_s_json() -> None:
    secret = json.dumps({"domain_name": DOMAIN, "user_name": USER, "password": PASSWORD, "note": "kept"})

    credentials = IamCredentials.from_secret(secret)

    same = credentials == CREDENTIALS
    assert same
    assert_no_token(repr(credentials))


@pytest.mark.parametrize("field", ["domain_name", "user_name", "password"])
@pytest.mark.parametrize("problem", ["missing", "empty", "not-a-string"])
def test_a_credentials_secret_without_a_field_names_it(field: str, problem: str) -> None:
    data: dict[str, object] = {"domain_name": DOMAIN, "user_name": USER, "password": PASSWORD}
    if problem == "missing":
        del data[field]
    else:
        data[field] = "" if problem == "empty" else 42

    error = credentials_error(json.dumps(data))

    assert error.message == f"IAM_CREDENTIALS_SECRET_ID: the secret's JSON has no '{field}' string"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(f'{{"domain_name": "{DOMAIN}", "password": "{PASSWORD}"', id="cut-json"),
        pytest.param(PASSWORD, id="plain-text"),
        pytest.param(json.dumps([DOMAIN, USER, PASSWORD]), id="json-array"),
        pytest.param("", id="empty"),
    ],
)
def test_a_credentials_secret_that_is_not_a_json_object_is_refused_without_repeating_it(value: str) -> None:
    error = credentials_error(value)

    assert error.message == (
        "IAM_CREDENTIALS_SECRET_ID: the secret must be a JSON object with domain_name, user_name, "
        "password; it does not parse as one"
    )


def test_a_credentials_secret_without_a_secret_string_is_refused() -> None:
    assert credentials_error(None).message == "IAM_CREDENTIALS_SECRET_ID: the secret holds no SecretString"


def test_an_issued_token_never_shows_in_its_repr() -> None:
    issued = IssuedToken(canary_token(), "2026-11-30T02:00:00.000000Z", PROJECT)

    assert_no_token(repr(issued))


# --- answers no JSON reader can decode --------------------------------------------------------------


def test_a_token_answer_whose_body_cannot_be_decoded_is_invalid_not_a_crash(
    client: IamClient, iam: FakeIam
) -> None:
    iam.inject(Fault(status=201, raw_body=DEEP_JSON, headers={"X-Subject-Token": canary_token()}))

    error = failing(client)

    assert isinstance(error, IamAnswerInvalid)
    assert error.message == "IAM's answer has no token.expires_at"


def test_an_error_whose_body_cannot_be_decoded_is_retried_then_iam_is_unavailable(
    client: IamClient, iam: FakeIam, pauses: list[float]
) -> None:
    iam.inject(Fault(status=500, raw_body=DEEP_JSON), times=IAM_MAX_ATTEMPTS)

    error = failing(client)

    assert isinstance(error, IamUnavailable)
    assert error.message.startswith("IAM answered 500: Internal Server Error: [[[")
    assert len(pauses) == IAM_MAX_ATTEMPTS - 1
