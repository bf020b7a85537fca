"""The token rotation under test: the rotation function invoked as Secrets Manager invokes it, over moto and
the fake IAM and GES (fixtures in tests/integration/rotation/test_rotation.py).

The IAM password carries the canary, like every token: any of them in captured output fails the run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ges_backup_export.core.errors import ExportError
from ges_backup_export.rotation.runtime import current_rotation
from local.aws import Stack
from local.lambda_runtime import Handler
from local.rotation import ROTATION_FUNCTION, STEPS, LocalRotation, load_rotation_handler
from tests.function_under_test import FunctionUnderTest
from tests.tokens import CANARY, assert_no_token

DOMAIN = "acme-account"
USER = "ges-token-rotator"
PASSWORD = f"correct-horse-{CANARY}-battery"
REGION = "cn-north-4"


def credentials_json(*, password: str | None = PASSWORD, **changes: Any) -> str:
    """The credentials secret's JSON; a field given as None is left out."""
    data: dict[str, Any] = {"domain_name": DOMAIN, "user_name": USER, "password": password, **changes}
    return json.dumps({key: value for key, value in data.items() if value is not None})


@dataclass
class Clock:
    """The time the rotation function and the fake IAM see: the real time, `hours_later`."""

    hours_later: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.hours_later * 3600


class Rotating(FunctionUnderTest):
    """A stack whose token secret rotates: run steps through the real handler and read the secret. Its
    environment is the process's (the `rotating` fixture sets both functions' there).

    The IAM and GES clients' waits between attempts are recorded in `pauses` instead of slept, and the
    rotation function reads the time from `clock`, which the fake IAM shares (`later`)."""

    name = ROTATION_FUNCTION

    def __init__(self, stack: Stack, local: LocalRotation, credentials_arn: str, clock: Clock) -> None:
        self.local = local
        self.credentials_arn = credentials_arn
        self.clock = clock
        self.pauses: list[float] = []
        super().__init__(stack)

    def load(self) -> Handler:
        return load_rotation_handler()

    def install_waits(self) -> None:
        runtime = current_rotation()
        runtime.iam.sleep = runtime.rotation.sleep = self.pauses.append
        runtime.rotation.clock = self.clock

    @property
    def secret_arn(self) -> str:
        return self.stack.secret_arn

    def later(self, hours: float) -> None:
        """`hours` pass, for the rotation function and the fake IAM (and so the fake GES)."""
        self.clock.hours_later += hours

    def start(self) -> str:
        return self.local.start()

    def step(self, version_id: str, step: str) -> None:
        result = self.local.step(self.handler, version_id, step)
        assert result is None

    def failing_step(self, version_id: str, step: str) -> ExportError:
        with pytest.raises(ExportError) as raised:
            self.local.step(self.handler, version_id, step)
        assert_no_token(str(raised.value))
        return raised.value

    def start_refused(self) -> ClientError:
        """A new rotation that Secrets Manager refuses to start (a failed one still holds AWSPENDING)."""
        with pytest.raises(ClientError) as raised:
            self.local.start()
        return raised.value

    def attempt(self, version_id: str) -> ExportError | None:
        """One attempt at the rotation of `version_id` (Secrets Manager's first, or a retry with the same
        version): the steps until one fails; that failure, or None."""
        error = self.local.attempt(self.handler, version_id)
        assert error is None or isinstance(error, ExportError), repr(error)
        assert_no_token(str(error))
        return error

    def rotate(self) -> str:
        version_id = self.start()
        for step in STEPS:
            self.step(version_id, step)
        return version_id

    # -- the secret -------------------------------------------------------------------------
    def versions(self) -> dict[str, list[str]]:
        stages: dict[str, list[str]] = boto3.client("secretsmanager").describe_secret(
            SecretId=self.secret_arn
        )["VersionIdsToStages"]
        return {version: sorted(labels) for version, labels in stages.items()}

    def pending_elsewhere(self) -> list[str]:
        """The versions other than the AWSCURRENT one that hold AWSPENDING: a rotation that blocks every
        later one (Secrets Manager refuses RotateSecret while there is one)."""
        return [
            version
            for version, labels in self.versions().items()
            if "AWSPENDING" in labels and "AWSCURRENT" not in labels
        ]

    def current_version(self) -> str:
        [version] = [version for version, labels in self.versions().items() if "AWSCURRENT" in labels]
        return version

    def current_value(self) -> str:
        value: str = boto3.client("secretsmanager").get_secret_value(
            SecretId=self.secret_arn, VersionStage="AWSCURRENT"
        )["SecretString"]
        return value

    def current(self) -> dict[str, Any]:
        """The value at AWSCURRENT, when it is JSON (a rotated token)."""
        data: dict[str, Any] = json.loads(self.current_value())
        return data

    def value_of(self, version_id: str) -> str | None:
        """The version's SecretString, None while it has none."""
        secretsmanager = boto3.client("secretsmanager")
        try:
            value: str = secretsmanager.get_secret_value(SecretId=self.secret_arn, VersionId=version_id)[
                "SecretString"
            ]
        except secretsmanager.exceptions.ResourceNotFoundException:
            return None
        return value

    def set_credentials(self, text: str) -> None:
        boto3.client("secretsmanager").put_secret_value(SecretId=self.credentials_arn, SecretString=text)
