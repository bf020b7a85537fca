"""A secret's versions and stages, as a rotation reads and moves them (the Secrets Manager API).

Every read names its stage: `AWSCURRENT` for the value in use, `AWSPENDING` with the version id for the
value a rotation is bringing in. Errors name the call and the secret, and never repeat a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from ges_backup_export.errors import ConfigurationError, DependencyUnavailable, ExportError
from ges_backup_export.scrubbing import Scrubber
from ges_backup_export.token_source import CURRENT_STAGE

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import (
        GetSecretValueResponseTypeDef,
        UpdateSecretVersionStageRequestTypeDef,
    )

PENDING_STAGE = "AWSPENDING"
# A version registered by Secrets Manager but not given a value yet, or an unknown version.
_NO_VALUE = "ResourceNotFoundException"
# Answers no retry can fix: the secret, its permissions or its key must change.
_REFUSALS = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "DecryptionFailure",
        "InvalidRequestException",
        "InvalidParameterException",
    }
)
_Answer = TypeVar("_Answer")


@dataclass(frozen=True)
class SecretState:
    """What DescribeSecret tells a rotation: the secret's names, whether it rotates, and the stages of
    each version (by version id)."""

    arn: str
    name: str
    rotation_enabled: bool
    stages: Mapping[str, tuple[str, ...]]

    def current_version(self) -> str | None:
        return next((version for version, stages in self.stages.items() if CURRENT_STAGE in stages), None)


class SecretVersions:
    def __init__(self, client: SecretsManagerClient, scrubber: Scrubber) -> None:
        self._client = client
        self._scrubber = scrubber

    def describe(self, secret_id: str) -> SecretState:
        answer = self._call(
            "DescribeSecret", secret_id, lambda: self._client.describe_secret(SecretId=secret_id)
        )
        return SecretState(
            arn=answer["ARN"],
            name=answer["Name"],
            rotation_enabled=bool(answer.get("RotationEnabled")),
            stages={
                version: tuple(stages) for version, stages in answer.get("VersionIdsToStages", {}).items()
            },
        )

    def current_value(self, secret_id: str) -> str | None:
        """The SecretString at AWSCURRENT (None for a binary secret)."""
        answer = self._call(
            "GetSecretValue",
            secret_id,
            lambda: self._client.get_secret_value(SecretId=secret_id, VersionStage=CURRENT_STAGE),
        )
        return answer.get("SecretString")

    def pending_value(self, secret_id: str, version_id: str) -> str | None:
        """The SecretString of the version at AWSPENDING; None while the version holds no value (Secrets
        Manager registers it before the rotation's first step)."""
        answer = self._value_or_none(secret_id, version_id, PENDING_STAGE)
        return None if answer is None else answer.get("SecretString")

    def holds_value(self, secret_id: str, version_id: str) -> bool:
        """Whether the version exists with a value, whatever its stages (a version without any is still
        readable by its id until Secrets Manager deletes it). The value is not kept."""
        return self._value_or_none(secret_id, version_id, None) is not None

    def _value_or_none(
        self, secret_id: str, version_id: str, stage: str | None
    ) -> GetSecretValueResponseTypeDef | None:
        """GetSecretValue of the version (at `stage`, if given); None when there is no such value."""
        try:
            if stage is None:
                return self._client.get_secret_value(SecretId=secret_id, VersionId=version_id)
            return self._client.get_secret_value(SecretId=secret_id, VersionId=version_id, VersionStage=stage)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == _NO_VALUE:
                return None
            raise self._error("GetSecretValue", secret_id, error) from None
        except BotoCoreError as error:
            raise self._error("GetSecretValue", secret_id, error) from None

    def put_pending(self, secret_id: str, version_id: str, value: str) -> None:
        """Give the version `version_id` its value, at AWSPENDING."""
        self._call(
            "PutSecretValue",
            secret_id,
            lambda: self._client.put_secret_value(
                SecretId=secret_id,
                ClientRequestToken=version_id,
                SecretString=value,
                VersionStages=[PENDING_STAGE],
            ),
        )

    def make_current(self, secret_id: str, version_id: str, current_version: str | None) -> None:
        """Move AWSCURRENT to `version_id`; Secrets Manager gives the version it leaves AWSPREVIOUS."""
        request: UpdateSecretVersionStageRequestTypeDef = {
            "SecretId": secret_id,
            "VersionStage": CURRENT_STAGE,
            "MoveToVersionId": version_id,
        }
        if current_version is not None:
            request["RemoveFromVersionId"] = current_version
        self._call(
            "UpdateSecretVersionStage", secret_id, lambda: self._client.update_secret_version_stage(**request)
        )

    def give_up_pending(self, secret_id: str, version_id: str) -> None:
        """Remove AWSPENDING from `version_id`: AWS's own recipe for a rotation stuck on a version that can
        never pass (UpdateSecretVersionStage with RemoveFromVersionId and no MoveToVersionId). Secrets
        Manager then starts the next rotation with a new version instead of refusing it."""
        self._call(
            "UpdateSecretVersionStage",
            secret_id,
            lambda: self._client.update_secret_version_stage(
                SecretId=secret_id, VersionStage=PENDING_STAGE, RemoveFromVersionId=version_id
            ),
        )

    def _call(self, action: str, secret_id: str, call: Callable[[], _Answer]) -> _Answer:
        try:
            return call()
        except (BotoCoreError, ClientError) as error:
            raise self._error(action, secret_id, error) from None

    def _error(self, action: str, secret_id: str, error: BotoCoreError | ClientError) -> ExportError:
        text = f"Secrets Manager {action} on {secret_id} failed: {self._scrubber.scrub(str(error))}"
        code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
        return ConfigurationError(text) if code in _REFUSALS else DependencyUnavailable(text)
