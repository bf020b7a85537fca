"""The token rotation through both functions' lambda_handler, over real sockets: moto server (behind the
counting, fault-injecting proxy) for Secrets Manager, the fake IAM for tokens, the fake GES, which accepts
the fake IAM's tokens.

Each step as Secrets Manager runs it (the pending version registered first, without a value), each step
again and out of order, every refusal, every failure (which leaves AWSCURRENT on the old token), an export
with the new token, and no token or password in any log line, error or stored record, DEBUG included.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.scrubbing import Scrubber
from ges_backup_export.core.settings import DEFAULT_GES_MAX_ATTEMPTS
from ges_backup_export.ges.token_source import TOKEN_EXPIRING
from ges_backup_export.rotation.iam import IAM_MAX_ATTEMPTS, IamClient, IamCredentials
from local.aws_proxy import AwsFault, AwsProxy
from local.fake_ges import FakeGes, Fault
from local.fake_iam import USER_LOCKED, WRONG_CREDENTIALS, FakeIam
from local.lambda_runtime import ROOT
from local.rotation import STEPS
from tests.doubles import closed_port
from tests.rotation_stand_ins import DOMAIN, PASSWORD, USER, Rotating, credentials_json
from tests.stand_ins import MOVIES_BACKUP, PROJECT, Function, Graphs
from tests.tokens import CANARY, assert_no_token, canary_token

Logs = Callable[[], list[dict[str, Any]]]
REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/rotated/"}
IAM_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def digest(text: str | None) -> str | None:
    """A value's fingerprint, to compare secrets without ever showing one."""
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def assert_nothing_changed(rotating: Rotating, current: str, pending: str) -> None:
    """AWSCURRENT still on the old version, and the pending version still without a value."""
    assert rotating.current_version() == current
    assert rotating.versions()[pending] == ["AWSPENDING"]
    assert rotating.value_of(pending) is None


def given_up(version: str) -> str:
    """How the error of a step that gives its version up ends."""
    return (
        f"version {version} is given up: AWSPENDING was removed from it, so it never becomes current, "
        "its retries fail at once and the next rotation fetches a new token; "
        "AWSCURRENT keeps the token in use"
    )


def refused_as_given_up(rotating: Rotating, version: str) -> str:
    """The refusal of a step for a version that was given up."""
    return (
        f"version {version} of secret {rotating.stack.name}-ges-token was given up (AWSPENDING was removed "
        "from it: its token was dead or expired too soon) and can never become current: this retry does "
        "nothing; the next rotation fetches a new token"
    )


def assert_too_short(message: str, expires_at: str, hours: int, now: float) -> None:
    """The error says when the token expires, the period, the margin, and until when it had to last."""
    start = (
        f"the pending token expires at {expires_at}, before the next rotation is due "
        f"(TOKEN_ROTATION_HOURS={hours}) plus a margin of 1 hour: it must stay valid until "
    )
    assert message.startswith(start), message
    needed = datetime.strptime(message[len(start) :][:20], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(needed.timestamp() - (now + (hours + 1) * 3600)) < 5


def stored_expiry(rotating: Rotating, version: str) -> str:
    value = rotating.value_of(version)
    assert value is not None
    expires_at: str = json.loads(value)["expires_at"]
    return expires_at


def failures(logs: Logs) -> list[dict[str, Any]]:
    return [line for line in logs() if line["message"] == "token rotation step failed"]


# --- a whole rotation ----------------------------------------------------------------------------------


def test_a_rotation_puts_a_new_iam_token_at_awscurrent_and_keeps_the_old_one_previous(
    rotating: Rotating, iam: FakeIam, ges: FakeGes, function_logs: Logs
) -> None:
    old = rotating.current_version()

    new = rotating.rotate()

    assert rotating.versions() == {old: ["AWSPREVIOUS"], new: ["AWSCURRENT", "AWSPENDING"]}
    stored = rotating.current()
    scoped = iam.token_project(stored["token"])
    assert list(stored) == ["token", "expires_at", "project_id"]
    assert (scoped, stored["project_id"]) == (PROJECT, PROJECT)
    left = datetime.strptime(stored["expires_at"], IAM_TIME).replace(tzinfo=UTC) - datetime.now(UTC)
    assert 23 * 3600 < left.total_seconds() <= 24 * 3600  # IAM's own expires_at: 24 hours on
    assert iam.issued_tokens == 1
    [check] = ges.calls
    assert (check.method, check.path, check.query) == (
        "GET",
        f"/v2/{PROJECT}/graphs",
        {"offset": "0", "limit": "1"},
    )
    assert (check.token_valid, check.status) == (True, 200)
    assert [line["message"] for line in function_logs() if line["level"] != "DEBUG"] == [
        "stored a new token from IAM at AWSPENDING",
        "nothing to set: GES takes the token as it is",
        "GES accepted the pending token",
        "the new token is AWSCURRENT",
    ]


def test_each_step_does_its_part_and_no_more(rotating: Rotating, iam: FakeIam, ges: FakeGes) -> None:
    old = rotating.current_version()
    before = digest(rotating.current_value())
    new = rotating.start()
    assert rotating.value_of(new) is None  # Secrets Manager registers the version without a value

    rotating.step(new, "createSecret")
    pending = digest(rotating.value_of(new))
    assert pending is not None
    assert (rotating.current_version(), iam.issued_tokens, ges.calls) == (old, 1, [])

    rotating.step(new, "setSecret")
    assert (digest(rotating.value_of(new)), rotating.current_version(), ges.calls) == (pending, old, [])

    rotating.step(new, "testSecret")
    assert [call.status for call in ges.calls] == [200]
    assert rotating.current_version() == old

    rotating.step(new, "finishSecret")
    assert rotating.current_version() == new
    assert (digest(rotating.current_value()), digest(rotating.value_of(old))) == (pending, before)


def test_the_secret_is_read_at_its_stages_and_written_only_by_put_and_stage_moves(
    rotating: Rotating, aws: AwsProxy
) -> None:
    version = rotating.start()
    aws.reset_counts()

    for step in STEPS:
        rotating.step(version, step)

    assert dict(aws.requests) == {
        "secretsmanager.DescribeSecret": 4,
        "secretsmanager.GetSecretValue": 4,  # the pending version x3 (create, test, finish), the credentials
        "secretsmanager.PutSecretValue": 1,
        "secretsmanager.UpdateSecretVersionStage": 1,
    }


def test_iam_s_old_tokens_keep_working_after_a_rotation(
    rotating: Rotating, iam: FakeIam, ges: FakeGes, graphs: Graphs
) -> None:
    rotating.rotate()
    ges.rotate_token()  # the token the operator put there first is gone: only IAM's are valid
    function = Function(rotating.stack)
    function.invoke({**REQUEST, "export_path": "ges-backups/movies/first/"})  # reads and caches the token

    rotating.rotate()
    function.invoke({**REQUEST, "export_path": "ges-backups/movies/second/"})  # with the cached, older one

    assert [call.status for call in ges.export_calls] == [200, 200]
    assert iam.valid_tokens == 2


# --- then an export ------------------------------------------------------------------------------------


def test_after_a_rotation_an_export_uses_the_new_token(
    rotating: Rotating, ges: FakeGes, graphs: Graphs
) -> None:
    rotating.rotate()
    ges.rotate_token()  # the previous token is refused from now on

    result = Function(rotating.stack).invoke(REQUEST)

    assert result["export_path"] == REQUEST["export_path"]
    [export] = ges.export_calls
    assert (export.token_valid, export.status) == (True, 200)
    assert [call.status for call in ges.calls if call.status == 401] == []


def test_an_export_whose_cached_token_ges_refuses_after_a_rotation_reads_the_secret_again(
    rotating: Rotating, ges: FakeGes, graphs: Graphs, function_logs: Logs
) -> None:
    function = Function(rotating.stack)
    function.invoke({**REQUEST, "export_path": "ges-backups/movies/before/"})  # caches the old token
    rotating.rotate()
    ges.rotate_token()  # the old token is rejected (401) from now on

    result = function.invoke({**REQUEST, "export_path": "ges-backups/movies/after/"})

    assert result["export_path"] == "ges-backups/movies/after/"
    assert [call.status for call in ges.export_calls] == [200, 401, 200]
    assert "GES rejected the token; reading the secret again" in [line["message"] for line in function_logs()]
    assert len(function.downstream()) == 2


def test_a_token_that_expires_within_the_hour_is_one_warning_per_read_of_the_secret(
    rotating: Rotating, iam: FakeIam, graphs: Graphs, function_logs: Logs
) -> None:
    # A rotation never makes a token this short-lived current (it must outlive the rotation period by an
    # hour), so it is put there as an operator would, in the rotation's format, IAM's expires_at included.
    iam.lifetime_seconds = 1800
    credentials = IamCredentials.from_secret(credentials_json())
    issued = IamClient(iam.url, Scrubber()).issue_token(credentials, PROJECT, Deadline(at=None))
    boto3.client("secretsmanager").put_secret_value(
        SecretId=rotating.secret_arn, SecretString=issued.secret_string()
    )
    function = Function(rotating.stack)
    function.invoke({**REQUEST, "export_path": "ges-backups/movies/w1/"})
    function.invoke({**REQUEST, "export_path": "ges-backups/movies/w2/"})  # the cached token: no read

    [warning] = [line for line in function_logs() if line["message"] == TOKEN_EXPIRING]
    assert warning["level"] == "WARNING"
    assert warning["token_expires_at"] == rotating.current()["expires_at"][:19] + "Z"
    assert 1700 < warning["seconds_left"] <= 1800


# --- steps again, and out of order ---------------------------------------------------------------------


def test_every_step_twice_makes_one_iam_call_and_one_version(
    rotating: Rotating, iam: FakeIam, ges: FakeGes
) -> None:
    old = rotating.current_version()
    new = rotating.start()

    for step in STEPS:
        rotating.step(new, step)
        rotating.step(new, step)

    assert iam.issued_tokens == 1
    assert rotating.versions() == {old: ["AWSPREVIOUS"], new: ["AWSCURRENT", "AWSPENDING"]}
    assert len(ges.calls) == 2  # testSecret is a read: running it twice is harmless


def test_create_secret_for_a_version_that_holds_a_token_calls_iam_no_more(
    rotating: Rotating, iam: FakeIam, ges: FakeGes, function_logs: Logs
) -> None:
    version = rotating.start()
    rotating.step(version, "createSecret")
    stored = digest(rotating.value_of(version))
    ges.inject(Fault.http(503), route="list_graphs", times=DEFAULT_GES_MAX_ATTEMPTS)
    rotating.failing_step(version, "testSecret")  # the rotation failed; Secrets Manager starts it over

    for step in STEPS:
        rotating.step(version, step)

    assert iam.issued_tokens == 1
    assert digest(rotating.current_value()) == stored
    assert "the pending version already holds a token: nothing to do" in [
        m["message"] for m in function_logs()
    ]


@pytest.mark.parametrize("step", STEPS)
def test_a_step_for_the_version_already_current_does_nothing(
    rotating: Rotating, iam: FakeIam, ges: FakeGes, aws: AwsProxy, step: str
) -> None:
    version = rotating.rotate()
    versions = rotating.versions()
    aws.reset_counts()

    rotating.step(version, step)

    assert dict(aws.requests) == {"secretsmanager.DescribeSecret": 1}
    assert (rotating.versions(), iam.issued_tokens, len(ges.calls)) == (versions, 1, 1)


@pytest.mark.parametrize("step", ["testSecret", "finishSecret"])
def test_testing_or_promoting_a_version_without_a_token_fails_and_changes_nothing(
    rotating: Rotating, iam: FakeIam, ges: FakeGes, step: str
) -> None:
    current = rotating.current_version()
    version = rotating.start()

    error = rotating.failing_step(version, step)

    assert error.code == "RotationRefused"
    assert error.message == f"version {version} holds no token yet: createSecret has not stored one"
    assert_nothing_changed(rotating, current, version)
    assert (iam.issued_tokens, ges.calls) == (0, [])


# --- a failed rotation never stays stuck ----------------------------------------------------------------


def test_a_failed_rotation_that_keeps_awspending_blocks_the_next_one_as_secrets_manager_does(
    rotating: Rotating, ges: FakeGes
) -> None:
    version = rotating.start()
    ges.inject(Fault.http(503), route="list_graphs", times=DEFAULT_GES_MAX_ATTEMPTS)
    rotating.attempt(version)

    refusal = rotating.start_refused()

    assert refusal.response["Error"] == {
        "Code": "InvalidRequestException",
        "Message": "A previous rotation isn't complete. That rotation will be reattempted.",
    }
    assert rotating.pending_elsewhere() == [version]


def test_a_transient_failure_keeps_the_version_pending_and_a_retry_of_it_completes(
    rotating: Rotating, iam: FakeIam, ges: FakeGes
) -> None:
    old = rotating.current_version()
    version = rotating.start()
    ges.inject(Fault.http(503), route="list_graphs", times=DEFAULT_GES_MAX_ATTEMPTS)

    error = rotating.attempt(version)

    assert error is not None
    assert error.code == "GesUnavailable"
    assert rotating.versions()[version] == ["AWSPENDING"]  # a retry may still succeed: the label stays
    assert rotating.current_version() == old
    assert rotating.attempt(version) is None  # Secrets Manager's retry, with the same version
    assert rotating.versions() == {old: ["AWSPREVIOUS"], version: ["AWSCURRENT", "AWSPENDING"]}
    assert iam.issued_tokens == 1


@pytest.mark.parametrize("death", ["revoked", "password-changed", "expired-early"])
def test_a_pending_token_that_dies_after_a_failed_test_is_given_up_and_the_next_rotation_brings_a_live_one(
    rotating: Rotating, iam: FakeIam, ges: FakeGes, graphs: Graphs, function_logs: Logs, death: str
) -> None:
    old = rotating.current_version()
    stuck = rotating.start()
    ges.inject(Fault.http(503), route="list_graphs", times=DEFAULT_GES_MAX_ATTEMPTS)
    first = rotating.attempt(stuck)  # testSecret fails once: GES is unavailable
    assert first is not None
    assert (first.code, rotating.versions()[stuck]) == ("GesUnavailable", ["AWSPENDING"])
    pending = json.loads(rotating.value_of(stuck) or "{}")["token"]
    if death == "revoked":
        assert iam.revoke(pending)
    elif death == "password-changed":  # IAM revokes the user's tokens; the operator updates the secret
        iam.set_password(DOMAIN, USER, "new-" + PASSWORD)
        rotating.set_credentials(credentials_json(password="new-" + PASSWORD))
    else:  # IAM ends it before its stored expires_at says
        iam.expire_all()

    retry = rotating.attempt(stuck)  # Secrets Manager retries the same version

    assert retry is not None
    assert retry.code == "TokenRejected"
    assert retry.message.endswith(given_up(stuck))
    assert (rotating.versions()[stuck], rotating.pending_elsewhere()) == ([], [])
    assert rotating.current_version() == old
    again = rotating.attempt(stuck)  # a later retry of it fails fast, saying why
    assert again is not None
    assert (again.code, again.message) == ("RotationRefused", refused_as_given_up(rotating, stuck))
    assert iam.issued_tokens == 1  # no retry of the stuck version could get a new token
    assert [line["rotation_step"] for line in failures(function_logs)] == [
        "testSecret",
        "testSecret",
        "createSecret",
    ]

    new = rotating.rotate()  # the next rotation is not refused, and brings a live token

    assert rotating.current_version() == new
    assert iam.token_project(rotating.current()["token"]) == PROJECT
    ges.rotate_token()  # only IAM's tokens are valid now
    result = Function(rotating.stack).invoke(REQUEST)
    assert result["export_path"] == REQUEST["export_path"]
    [export] = ges.export_calls
    assert (export.token_valid, export.status) == (True, 200)


def test_a_retry_whose_stored_token_has_since_run_short_is_given_up_at_create_secret(
    rotating: Rotating, iam: FakeIam, ges: FakeGes
) -> None:
    old = rotating.current_version()
    stuck = rotating.start()
    ges.inject(Fault.http(503), route="list_graphs", times=DEFAULT_GES_MAX_ATTEMPTS)
    rotating.attempt(stuck)
    expires_at = stored_expiry(rotating, stuck)
    rotating.later(12)  # the retry comes 12 hours later: the token has 12 of the 13 hours it needs
    calls = len(ges.calls)

    error = rotating.failing_step(stuck, "createSecret")

    assert error.code == "TokenExpiresTooSoon"
    assert_too_short(error.message, expires_at, 12, rotating.clock())
    assert error.message.endswith(given_up(stuck))
    assert (iam.issued_tokens, len(ges.calls)) == (1, calls)  # found out without IAM or GES
    assert (rotating.versions()[stuck], rotating.pending_elsewhere()) == ([], [])
    assert rotating.current_version() == old
    new = rotating.rotate()
    assert rotating.current_version() == new
    assert iam.token_project(rotating.current()["token"]) == PROJECT


@pytest.mark.parametrize(
    ("hours", "lifetime_hours"),
    [
        pytest.param("12", 12.9, id="12h-period-12.9h-token"),
        pytest.param(None, 12.9, id="default-period-12.9h-token"),
        pytest.param("4", 4.9, id="4h-period-4.9h-token"),
        pytest.param("22", 22.9, id="22h-period-22.9h-token"),
    ],
)
def test_a_token_expiring_before_the_next_rotation_plus_an_hour_is_refused_at_test_secret(
    rotating: Rotating,
    iam: FakeIam,
    ges: FakeGes,
    monkeypatch: pytest.MonkeyPatch,
    hours: str | None,
    lifetime_hours: float,
) -> None:
    if hours is None:
        monkeypatch.delenv("TOKEN_ROTATION_HOURS")
    else:
        monkeypatch.setenv("TOKEN_ROTATION_HOURS", hours)
    iam.lifetime_seconds = lifetime_hours * 3600
    old = rotating.current_version()
    before = digest(rotating.current_value())
    version = rotating.start()
    rotating.step(version, "createSecret")
    rotating.step(version, "setSecret")

    error = rotating.failing_step(version, "testSecret")

    assert error.code == "TokenExpiresTooSoon"
    assert_too_short(error.message, stored_expiry(rotating, version), int(hours or 12), time.time())
    assert error.message.endswith(given_up(version))
    assert ges.calls == []  # refused before GES is asked
    assert (rotating.current_version(), digest(rotating.current_value())) == (old, before)
    assert (rotating.versions()[version], rotating.pending_elsewhere()) == ([], [])
    refusal = rotating.failing_step(version, "finishSecret")
    assert (refusal.code, refusal.message) == ("RotationRefused", refused_as_given_up(rotating, version))
    assert rotating.current_version() == old


@pytest.mark.parametrize(("hours", "lifetime_hours"), [("4", 5.1), ("12", 13.1), ("22", 23.1)])
def test_a_token_outliving_the_next_rotation_by_more_than_an_hour_becomes_current(
    rotating: Rotating, iam: FakeIam, monkeypatch: pytest.MonkeyPatch, hours: str, lifetime_hours: float
) -> None:
    monkeypatch.setenv("TOKEN_ROTATION_HOURS", hours)
    iam.lifetime_seconds = lifetime_hours * 3600

    version = rotating.rotate()

    assert rotating.current_version() == version


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda token: token, id="plain-token"),
        pytest.param(lambda token: json.dumps({"token": token}), id="json-without-expires_at"),
        pytest.param(lambda token: json.dumps({"token": token, "expires_at": "tomorrow"}), id="not-a-time"),
    ],
)
def test_a_pending_value_without_a_usable_expires_at_is_given_up(
    rotating: Rotating, iam: FakeIam, value: Callable[[str], str]
) -> None:
    version = rotating.start()
    boto3.client("secretsmanager").put_secret_value(  # filled by hand: Secrets Manager allows it once
        SecretId=rotating.secret_arn,
        ClientRequestToken=version,
        SecretString=value(canary_token()),
        VersionStages=["AWSPENDING"],
    )

    error = rotating.failing_step(version, "createSecret")

    assert error.code == "TokenExpiresTooSoon"
    assert error.message.startswith(
        "the pending token has no usable expires_at: a token must be shown to stay valid until the next "
        "rotation is due (TOKEN_ROTATION_HOURS=12) plus a margin of 1 hour, until "
    )
    assert error.message.endswith(given_up(version))
    assert (iam.issued_tokens, rotating.pending_elsewhere()) == (0, [])


def test_finish_secret_never_makes_current_a_token_that_has_since_run_short(
    rotating: Rotating, iam: FakeIam
) -> None:
    old = rotating.current_version()
    version = rotating.start()
    for step in ("createSecret", "setSecret", "testSecret"):
        rotating.step(version, step)
    rotating.later(11.5)  # finishSecret, retried much later: 12.5 hours left, 13 needed

    error = rotating.failing_step(version, "finishSecret")

    assert error.code == "TokenExpiresTooSoon"
    assert error.message.endswith(given_up(version))
    assert rotating.current_version() == old
    assert rotating.versions()[version] == []


def test_a_give_up_that_secrets_manager_refuses_keeps_the_label_and_the_retry_gives_it_up(
    rotating: Rotating, ges: FakeGes, aws: AwsProxy
) -> None:
    version = rotating.start()
    rotating.step(version, "createSecret")
    ges.accept_tokens_from(None)
    aws.inject("secretsmanager.UpdateSecretVersionStage", AwsFault.error(400, "AccessDeniedException"))

    error = rotating.failing_step(version, "testSecret")

    assert error.code == "TokenRejected"
    assert (
        f"; removing AWSPENDING from version {version} failed too (Secrets Manager UpdateSecretVersionStage "
        f"on {rotating.secret_arn} failed: "
    ) in error.message
    assert error.message.endswith("): a retry of this rotation tries again")
    assert rotating.pending_elsewhere() == [version]
    retry = rotating.attempt(version)
    assert retry is not None
    assert (retry.code, retry.message.endswith(given_up(version))) == ("TokenRejected", True)
    assert rotating.pending_elsewhere() == []


def test_a_given_up_version_that_describe_secret_no_longer_lists_is_refused_saying_so(
    rotating: Rotating, ges: FakeGes, aws: AwsProxy
) -> None:
    version = rotating.start()
    rotating.step(version, "createSecret")
    ges.accept_tokens_from(None)
    rotating.failing_step(version, "testSecret")
    # Secrets Manager lists only versions with a label (moto keeps the given-up one, with none).
    described = boto3.client("secretsmanager").describe_secret(SecretId=rotating.secret_arn)
    listed = {key: labels for key, labels in described["VersionIdsToStages"].items() if labels}
    aws.inject(
        "secretsmanager.DescribeSecret",
        AwsFault.answer(
            {
                "ARN": described["ARN"],
                "Name": described["Name"],
                "RotationEnabled": True,
                "VersionIdsToStages": listed,
            }
        ),
    )

    error = rotating.failing_step(version, "createSecret")

    assert (error.code, error.message) == ("RotationRefused", refused_as_given_up(rotating, version))


# --- refusals --------------------------------------------------------------------------------------------


def test_an_event_for_another_secret_is_refused_before_any_call(
    rotating: Rotating, iam: FakeIam, aws: AwsProxy
) -> None:
    other = boto3.client("secretsmanager").create_secret(
        Name=f"{rotating.stack.name}-other", SecretString="x"
    )
    version = rotating.start()
    aws.reset_counts()

    error = rotating.invoke_failing(
        {"SecretId": other["ARN"], "ClientRequestToken": version, "Step": "createSecret"}
    )

    assert error.code == "RotationRefused"
    assert error.message == (
        f"this function rotates GES_TOKEN_SECRET_ID ({rotating.secret_arn}), not {other['ARN']}"
    )
    assert (aws.count(), iam.calls) == (0, [])


def test_the_token_secret_setting_may_name_the_secret_by_name(
    rotating: Rotating, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GES_TOKEN_SECRET_ID", f"{rotating.stack.name}-ges-token")

    version = rotating.rotate()

    assert rotating.current_version() == version


def test_a_secret_without_rotation_enabled_is_refused(
    rotating: Rotating, iam: FakeIam, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GES_TOKEN_SECRET_ID")  # any secret may be named now: the rotation check decides
    secretsmanager = boto3.client("secretsmanager")
    plain = secretsmanager.create_secret(Name=f"{rotating.stack.name}-plain", SecretString=canary_token())
    version = secretsmanager.put_secret_value(
        SecretId=plain["ARN"], SecretString=canary_token(), VersionStages=["AWSPENDING"]
    )["VersionId"]

    error = rotating.invoke_failing(
        {"SecretId": plain["ARN"], "ClientRequestToken": version, "Step": "createSecret"}
    )

    assert error.code == "RotationRefused"
    assert error.message == f"secret {rotating.stack.name}-plain does not have rotation enabled"
    assert iam.calls == []


def test_a_version_that_is_not_the_secret_s_is_refused(rotating: Rotating, iam: FakeIam) -> None:
    current = rotating.current_version()
    pending = rotating.start()
    stranger = str(uuid.uuid4())

    error = rotating.failing_step(stranger, "createSecret")

    assert error.code == "RotationRefused"
    assert error.message == f"version {stranger} is not a version of secret {rotating.stack.name}-ges-token"
    assert_nothing_changed(rotating, current, pending)
    assert iam.calls == []


def test_a_version_secrets_manager_cannot_read_is_refused_as_not_the_secret_s(
    rotating: Rotating, iam: FakeIam, aws: AwsProxy
) -> None:
    rotating.start()
    stranger = "not-a-version-" + "x" * 40
    aws.inject("secretsmanager.GetSecretValue", AwsFault.error(400, "ValidationException"))

    error = rotating.failing_step(stranger, "createSecret")

    assert (error.code, error.message) == (
        "RotationRefused",
        f"version {stranger} is not a version of secret {rotating.stack.name}-ges-token",
    )
    assert iam.calls == []


def test_a_version_whose_label_was_removed_before_it_held_a_token_is_refused(
    rotating: Rotating, iam: FakeIam
) -> None:
    version = rotating.start()
    boto3.client("secretsmanager").update_secret_version_stage(  # an operator's clean-up, by hand
        SecretId=rotating.secret_arn, VersionStage="AWSPENDING", RemoveFromVersionId=version
    )

    error = rotating.failing_step(version, "createSecret")

    assert (error.code, error.message) == (
        "RotationRefused",
        f"version {version} of secret {rotating.stack.name}-ges-token is not at AWSPENDING (its stages: [])",
    )
    assert iam.calls == []


def test_a_version_that_is_not_pending_is_refused(rotating: Rotating, iam: FakeIam) -> None:
    old = rotating.current_version()
    rotating.rotate()  # the first version is AWSPREVIOUS now
    calls = len(iam.calls)

    error = rotating.failing_step(old, "finishSecret")

    assert error.code == "RotationRefused"
    assert error.message == (
        f"version {old} of secret {rotating.stack.name}-ges-token is not at AWSPENDING (its stages: "
        "['AWSPREVIOUS'])"
    )
    assert len(iam.calls) == calls


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        pytest.param(
            {"ClientRequestToken": "v", "Step": "createSecret"}, "SecretId: is required", id="no-secret"
        ),
        pytest.param(
            {"SecretId": "s", "Step": "createSecret"}, "ClientRequestToken: is required", id="no-version"
        ),
        pytest.param({"SecretId": "s", "ClientRequestToken": "v"}, "Step: is required", id="no-step"),
        pytest.param(
            {"SecretId": "s", "ClientRequestToken": "v", "Step": "rotateSecret"},
            "Step: must be one of",
            id="bad-step",
        ),
        pytest.param(["createSecret"], "event: must be a JSON object", id="not-an-object"),
    ],
)
def test_an_event_that_is_not_a_rotation_step_is_refused_by_name(
    rotating: Rotating, iam: FakeIam, function_logs: Logs, event: Any, problem: str
) -> None:
    error = rotating.invoke_failing(event)

    assert error.code == "InvalidRequest"
    assert error.message.startswith(problem)
    assert [line["error_code"] for line in failures(function_logs)] == ["InvalidRequest"]
    assert iam.calls == []


# --- failures: the step fails, AWSCURRENT keeps the old token ---------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param("wrong-password", WRONG_CREDENTIALS, id="wrong-password"),
        pytest.param("locked-user", USER_LOCKED, id="locked-user"),
    ],
)
def test_iam_rejecting_the_credentials_fails_create_secret_once(
    rotating: Rotating, iam: FakeIam, function_logs: Logs, change: str, message: str
) -> None:
    if change == "wrong-password":
        rotating.set_credentials(credentials_json(password="not-" + PASSWORD))
    else:
        iam.lock_user(DOMAIN, USER)
    current = rotating.current_version()
    version = rotating.start()

    error = rotating.failing_step(version, "createSecret")

    assert error.code == "IamCredentialsRejected"
    assert error.message == (
        f"IAM rejected the IAM credentials of user {USER} in domain {DOMAIN}: Unauthorized: {message}"
    )
    assert len(iam.calls) == 1  # never retried: every wrong password counts towards locking the user
    assert_nothing_changed(rotating, current, version)
    [logged] = failures(function_logs)
    assert (logged["level"], logged["error_code"], logged["rotation_step"]) == (
        "ERROR",
        "IamCredentialsRejected",
        "createSecret",
    )


def test_once_the_credentials_are_fixed_the_retried_rotation_completes(
    rotating: Rotating, iam: FakeIam
) -> None:
    rotating.set_credentials(credentials_json(password="not-" + PASSWORD))
    version = rotating.start()
    rotating.failing_step(version, "createSecret")

    rotating.set_credentials(credentials_json())
    for step in STEPS:
        rotating.step(version, step)

    assert rotating.current_version() == version
    assert iam.issued_tokens == 1


@pytest.mark.parametrize("status", [503, 500, 429])
def test_iam_unavailable_is_retried_briefly_then_fails_the_step(
    rotating: Rotating, iam: FakeIam, status: int
) -> None:
    iam.inject(Fault.http(status), times=IAM_MAX_ATTEMPTS)
    current = rotating.current_version()
    version = rotating.start()

    error = rotating.failing_step(version, "createSecret")

    assert error.code == "IamUnavailable"
    assert error.message.startswith(f"IAM answered {status}: ")
    assert error.message.endswith(f"(after {IAM_MAX_ATTEMPTS} attempts)")
    assert len(iam.calls) == IAM_MAX_ATTEMPTS
    assert len(rotating.pauses) == IAM_MAX_ATTEMPTS - 1
    assert_nothing_changed(rotating, current, version)


def test_iam_answering_after_a_transient_failure_gives_the_token(rotating: Rotating, iam: FakeIam) -> None:
    iam.inject(Fault.http(503))

    version = rotating.rotate()

    assert rotating.current_version() == version
    assert [call.status for call in iam.calls] == [503, 201]
    assert len(rotating.pauses) == 1


def test_iam_refusing_connections_fails_the_step(rotating: Rotating, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAM_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    current = rotating.current_version()
    version = rotating.start()

    error = rotating.failing_step(version, "createSecret")

    assert error.code == "IamUnavailable"
    assert "failed: ConnectionError: " in error.message
    assert_nothing_changed(rotating, current, version)


def test_an_iam_answer_without_x_subject_token_fails_the_step(rotating: Rotating, iam: FakeIam) -> None:
    iam.inject(Fault(status=201))
    current = rotating.current_version()
    version = rotating.start()

    error = rotating.failing_step(version, "createSecret")

    assert error.code == "IamAnswerInvalid"
    assert error.message == "IAM answered 201 without an X-Subject-Token header"
    assert_nothing_changed(rotating, current, version)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(credentials_json()[:-1], id="cut-json"),
        pytest.param(PASSWORD, id="the-password-alone"),
        pytest.param("[]", id="json-array"),
    ],
)
def test_malformed_credentials_fail_the_step_without_repeating_them(
    rotating: Rotating, iam: FakeIam, text: str
) -> None:
    rotating.set_credentials(text)
    current = rotating.current_version()
    version = rotating.start()

    error = rotating.failing_step(version, "createSecret")

    assert error.code == "ConfigurationError"
    assert error.message.startswith("IAM_CREDENTIALS_SECRET_ID: the secret must be a JSON object with ")
    assert iam.calls == []
    assert_nothing_changed(rotating, current, version)


@pytest.mark.parametrize("field", ["domain_name", "user_name", "password"])
def test_credentials_missing_a_field_fail_the_step_naming_it(
    rotating: Rotating, iam: FakeIam, field: str
) -> None:
    rotating.set_credentials(credentials_json(**{field: None}))
    current = rotating.current_version()
    version = rotating.start()

    error = rotating.failing_step(version, "createSecret")

    assert error.message == f"IAM_CREDENTIALS_SECRET_ID: the secret's JSON has no '{field}' string"
    assert iam.calls == []
    assert_nothing_changed(rotating, current, version)


def test_ges_rejecting_the_pending_token_fails_test_secret_gives_the_version_up_and_keeps_the_old_token(
    rotating: Rotating, ges: FakeGes
) -> None:
    current = rotating.current_version()
    version = rotating.start()
    rotating.step(version, "createSecret")
    ges.accept_tokens_from(None)  # e.g. the IAM user was changed: its tokens are refused

    error = rotating.failing_step(version, "testSecret")

    assert error.code == "TokenRejected"
    assert error.message.startswith("GES rejected the pending token: ")
    assert error.message.endswith(given_up(version))
    assert [call.status for call in ges.calls] == [401, 401]  # the pending version is read again, once
    assert rotating.current_version() == current
    assert rotating.versions()[version] == []  # no longer AWSPENDING: no retry can promote it
    assert rotating.pending_elsewhere() == []  # nor block the next rotation


def test_ges_refusing_the_pending_token_s_rights_fails_test_secret_with_ges_s_code(
    rotating: Rotating, ges: FakeGes
) -> None:
    ges.inject(Fault.ges_error(403, "GES.7041", "Insufficient permission."), route="list_graphs")
    current = rotating.current_version()
    version = rotating.start()
    rotating.step(version, "createSecret")

    error = rotating.failing_step(version, "testSecret")

    assert (error.code, error.message) == ("GES.7041", f"project {PROJECT}: Insufficient permission.")
    assert rotating.current_version() == current
    assert rotating.versions()[version] == ["AWSPENDING"]  # the token lives: rights granted, a retry passes


def test_ges_unavailable_at_test_secret_is_retried_then_fails_the_step(
    rotating: Rotating, ges: FakeGes
) -> None:
    ges.inject(Fault.http(503), route="list_graphs", times=DEFAULT_GES_MAX_ATTEMPTS)
    current = rotating.current_version()
    version = rotating.start()
    rotating.step(version, "createSecret")

    error = rotating.failing_step(version, "testSecret")

    assert error.code == "GesUnavailable"
    assert len(rotating.pauses) == DEFAULT_GES_MAX_ATTEMPTS - 1
    assert rotating.current_version() == current
    assert rotating.versions()[version] == ["AWSPENDING"]  # transient: the retry of the version may pass


def test_secrets_manager_failing_to_store_the_token_fails_the_step_and_a_retry_stores_one(
    rotating: Rotating, iam: FakeIam, aws: AwsProxy
) -> None:
    aws.inject("secretsmanager.PutSecretValue", AwsFault.error(500, "InternalServiceError"), times=2)
    current = rotating.current_version()
    version = rotating.start()

    error = rotating.failing_step(version, "createSecret")

    assert error.code == "DependencyUnavailable"
    assert error.message.startswith(f"Secrets Manager PutSecretValue on {rotating.secret_arn} failed: ")
    assert_nothing_changed(rotating, current, version)
    rotating.step(version, "createSecret")
    assert rotating.value_of(version) is not None
    assert iam.issued_tokens == 2  # the first token was never stored; IAM keeps it valid, unused


@pytest.mark.parametrize("name", ["IAM_ENDPOINT", "IAM_CREDENTIALS_SECRET_ID", "GES_PROJECT_ID"])
def test_a_missing_setting_fails_the_step_naming_it(
    rotating: Rotating, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delenv(name)
    version = rotating.start()

    error = rotating.failing_step(version, "createSecret")

    assert (error.code, error.message) == ("ConfigurationError", f"{name} is not set")


# --- no secret leaves the process ------------------------------------------------------------------------


def test_the_stored_token_record_holds_the_token_and_never_the_password(rotating: Rotating) -> None:
    rotating.rotate()

    stored = rotating.current_value()

    leaked = PASSWORD in stored
    assert not leaked
    assert set(json.loads(stored)) == {"token", "expires_at", "project_id"}


RUNTIME_LOGGING = """
    import logging, sys
    # What the Lambda Python runtime does before it imports a handler: the root logger at the function's
    # level (AWS_LAMBDA_LOG_LEVEL), with a handler that writes every record.
    logging.basicConfig(
        stream=sys.stdout, level=logging.DEBUG, format="%(levelname)s %(name)s %(message)s", force=True
    )
    logging.getLogger("probe").debug("debug lines are written")
    import boto3
    from local.rotation import STEPS, LocalRotation, load_rotation_handler
    handler = load_rotation_handler()
    rotation = LocalRotation({secret_arn!r}, {function_arn!r})
    version = rotation.start()
    for step in STEPS:
        print(step, rotation.step(handler, version, step))
    boto3.client("secretsmanager").put_secret_value(SecretId={credentials_arn!r}, SecretString={wrong!r})
    try:
        rotation.step(handler, rotation.start(), "createSecret")
    except Exception as error:
        print("failed:", error)
"""


def test_no_token_or_password_reaches_the_logs_at_debug_under_the_runtime_s_logging(
    rotating: Rotating, iam: FakeIam, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    old = rotating.current_version()
    script = textwrap.dedent(RUNTIME_LOGGING).format(
        secret_arn=rotating.secret_arn,
        function_arn=rotating.local.function_arn,
        credentials_arn=rotating.credentials_arn,
        wrong=credentials_json(password="not-" + PASSWORD),
    )

    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )

    output = run.stdout + run.stderr
    assert run.returncode == 0, output.replace(CANARY, "<secret>")
    assert "DEBUG probe debug lines are written" in output
    assert [f"{step} None" in output for step in STEPS] == [True] * 4
    assert "failed: IamCredentialsRejected: IAM rejected the IAM credentials of user " in output
    assert '"message":"stored a new token from IAM at AWSPENDING"' in output
    assert CANARY not in output, "a token or the IAM password reached the logs"
    assert rotating.versions()[old] == ["AWSPREVIOUS"]
    assert iam.issued_tokens == 1
    assert_no_token(output)
