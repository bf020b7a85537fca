"""The token rotation function's parts, built once per execution environment from its settings.

As for the export function (export/runtime.py): clients, the HTTP session and the scrubber's memory are reused
across warm invocations; the settings are read on every invocation, so a changed setting gets parts built
from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import boto3

from ges_backup_export.aws.clients import CONFIG
from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import ExportError
from ges_backup_export.core.observability import logger
from ges_backup_export.core.scrubbing import Scrubber
from ges_backup_export.core.settings import DEFAULT_GES_MAX_ATTEMPTS, DEFAULT_GES_TIMEOUT_SECONDS
from ges_backup_export.ges.client import GesClient
from ges_backup_export.ges.http import BoundedSession
from ges_backup_export.ges.token_source import TokenReader
from ges_backup_export.rotation.iam import IamClient
from ges_backup_export.rotation.request import RotationRequest
from ges_backup_export.rotation.secret_versions import SecretVersions
from ges_backup_export.rotation.settings import RotationSettings
from ges_backup_export.rotation.steps import MARGIN_SECONDS, Sleep, TokenRotation


@dataclass(frozen=True)
class RotationRuntime:
    rotation: TokenRotation
    iam: IamClient


def run_step(event: object, remaining_ms: int) -> None:
    """The rotation step Secrets Manager's event asks for, within the invocation's remaining time. A failure
    is logged (ERROR, with its code) and raised, so that Secrets Manager marks the rotation failed."""
    deadline = replace(Deadline.after_ms(remaining_ms), margin=MARGIN_SECONDS)
    try:
        request = RotationRequest.from_event(event)
        logger.append_keys(rotation_step=request.step, secret_version=request.version_id)
        current_rotation().rotation.run(request, deadline)
    except ExportError as error:
        logger.error(
            "token rotation step failed", extra={"error_code": error.code, "error_message": error.message}
        )
        raise


def current_rotation() -> RotationRuntime:
    """The rotation for the current settings; raises ConfigurationError naming a bad setting."""
    return _build(RotationSettings.from_env())


@lru_cache(maxsize=1)
def _build(settings: RotationSettings) -> RotationRuntime:
    scrubber = Scrubber()
    http = BoundedSession()
    secrets = SecretVersions(boto3.client("secretsmanager", config=CONFIG), scrubber)
    iam = IamClient(settings.iam_endpoint, scrubber, http=http)

    def ges(tokens: TokenReader, sleep: Sleep) -> GesClient:
        return GesClient(
            settings.ges_endpoint,
            tokens,
            timeout=DEFAULT_GES_TIMEOUT_SECONDS,
            max_attempts=DEFAULT_GES_MAX_ATTEMPTS,
            http=http,
            sleep=sleep,
        )

    return RotationRuntime(TokenRotation(settings, secrets, iam, ges, scrubber), iam)
