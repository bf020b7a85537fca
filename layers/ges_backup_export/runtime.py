"""The parts of the job, built once per execution environment from its settings.

Clients, the HTTP session and the token cache are reused across warm invocations. The settings are
read on every invocation (a few dictionary lookups), so a changed setting gets parts built from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from ges_backup_export.aws_clients import CONFIG
from ges_backup_export.deduplication import ExportRecords
from ges_backup_export.exporter import Exporter
from ges_backup_export.ges import GesClient
from ges_backup_export.queues import SqsQueue
from ges_backup_export.runner import Runner
from ges_backup_export.settings import Settings
from ges_backup_export.token_source import TokenSource


@dataclass(frozen=True)
class Runtime:
    records: ExportRecords
    runner: Runner
    ges: GesClient


def current_runtime() -> Runtime:
    """The runtime for the current settings; raises ConfigurationError naming a bad setting."""
    return _build(Settings.from_env())


@lru_cache(maxsize=1)
def _build(settings: Settings) -> Runtime:
    sqs = boto3.client("sqs", config=CONFIG)
    tokens = TokenSource(
        settings.token_secret_id,
        SecretsProvider(boto3_client=boto3.client("secretsmanager", config=CONFIG)),
    )
    records = ExportRecords(
        settings.idempotency_table_name,
        settings.idempotency_ttl_seconds,
        boto3.client("dynamodb", config=CONFIG),
    )
    ges = GesClient(
        settings.ges_endpoint,
        tokens,
        timeout=settings.ges_timeout_seconds,
        max_attempts=settings.ges_max_attempts,
    )
    exporter = Exporter(ges, records, SqsQueue(settings.downstream_queue_url, sqs), settings.ges_project_id)
    dead_letter = SqsQueue(settings.dead_letter_queue_url, sqs) if settings.dead_letter_queue_url else None
    return Runtime(records=records, runner=Runner(exporter, dead_letter), ges=ges)
