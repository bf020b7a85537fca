"""Secrets Manager's rotation event as the rotation reads it, and how it tells whether an event's secret is
the configured one."""

from __future__ import annotations

import pytest

from ges_backup_export.core.errors import InvalidRequest
from ges_backup_export.rotation.request import STEPS, RotationRequest, same_secret

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ges/token-AbC123"
VERSION = "0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"


@pytest.mark.parametrize("step", STEPS)
def test_an_event_gives_its_secret_version_and_step(step: str) -> None:
    event = {"SecretId": ARN, "ClientRequestToken": VERSION, "Step": step, "RotationToken": "ignored"}

    assert RotationRequest.from_event(event) == RotationRequest(ARN, VERSION, step)


@pytest.mark.parametrize("key", ["SecretId", "ClientRequestToken", "Step"])
@pytest.mark.parametrize("value", [None, "", 42, ["x"]])
def test_an_event_without_a_key_names_it(key: str, value: object) -> None:
    event: dict[str, object] = {"SecretId": ARN, "ClientRequestToken": VERSION, "Step": "createSecret"}
    event[key] = value

    with pytest.raises(InvalidRequest) as raised:
        RotationRequest.from_event(event)

    assert raised.value.message == f"{key}: is required (a non-empty string)"


@pytest.mark.parametrize("step", ["create", "CreateSecret", "rotateSecret", "finishSecret\n"])
def test_an_unknown_step_is_refused_by_name(step: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        RotationRequest.from_event({"SecretId": ARN, "ClientRequestToken": VERSION, "Step": step})

    assert raised.value.message.startswith(
        "Step: must be one of createSecret, setSecret, testSecret, finishSecret, got "
    )


@pytest.mark.parametrize("event", [None, [], "createSecret", 42])
def test_an_event_that_is_not_an_object_is_refused(event: object) -> None:
    with pytest.raises(InvalidRequest) as raised:
        RotationRequest.from_event(event)

    assert raised.value.field == "event"


@pytest.mark.parametrize(
    ("configured", "secret_id", "same"),
    [
        pytest.param(ARN, ARN, True, id="same-arn"),
        pytest.param("ges/token", ARN, True, id="name-and-arn"),
        pytest.param(ARN, "ges/token", True, id="arn-and-name"),
        pytest.param("ges/token", "ges/token", True, id="same-name"),
        pytest.param(ARN.replace("AbC123", "XyZ789"), ARN, False, id="arn-of-a-recreated-secret"),
        pytest.param(ARN.replace("eu-west-1", "us-east-1"), ARN, False, id="other-region"),
        pytest.param("ges/token-2", ARN, False, id="other-name"),
        pytest.param("ges/tok", ARN, False, id="name-prefix"),
        pytest.param("ges/token-AbC123", ARN, False, id="name-with-the-suffix"),
    ],
)
def test_secrets_are_the_same_by_full_arn_or_else_by_name(
    configured: str, secret_id: str, same: bool
) -> None:
    assert same_secret(configured, secret_id) is same
