"""A GES client for a function's settings: its token read from the secret (cached, read again on a 401)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from ges_backup_export.aws.clients import CONFIG
from ges_backup_export.core.settings import GesSettings
from ges_backup_export.ges.client import GesClient
from ges_backup_export.ges.http import BoundedSession
from ges_backup_export.ges.token_source import TokenSource


def ges_client(settings: GesSettings, concurrency: int = 1) -> GesClient:
    """A GES client for `concurrency` requests at a time."""
    secrets = SecretsProvider(boto3_client=boto3.client("secretsmanager", config=CONFIG))
    tokens = TokenSource(settings.token_secret_id, secrets)
    return GesClient(
        settings.ges_endpoint,
        tokens,
        timeout=settings.ges_timeout_seconds,
        max_attempts=settings.ges_max_attempts,
        concurrency=concurrency,
        http=BoundedSession(pool_size=max(10, concurrency)),
    )
