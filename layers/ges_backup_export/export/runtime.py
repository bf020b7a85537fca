"""The export function's parts, built once per execution environment from its settings.

Clients, the HTTP session and the token cache are reused across warm invocations. The settings are
read on every invocation (a few dictionary lookups), so a changed setting gets parts built from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import boto3
from botocore.config import Config

from ges_backup_export.aws.clients import CONFIG
from ges_backup_export.aws.queues import QueuesByArn, SqsQueue
from ges_backup_export.export.all_graphs import AllGraphs
from ges_backup_export.export.concurrency import Requests, threads_for
from ges_backup_export.export.deduplication import ExportRecords
from ges_backup_export.export.delivery import Delivery
from ges_backup_export.export.exporter import Exporter
from ges_backup_export.export.runner import Runner
from ges_backup_export.export.settings import Settings
from ges_backup_export.ges.client import GesClient
from ges_backup_export.ges.connect import ges_client


@dataclass(frozen=True)
class Runtime:
    records: ExportRecords
    runner: Runner
    ges: GesClient
    requests: Requests


def current_runtime() -> Runtime:
    """The export function's parts for the current settings; raises ConfigurationError naming a bad
    setting."""
    return _build(Settings.from_env())


@lru_cache(maxsize=1)
def _build(settings: Settings) -> Runtime:
    # Each thread makes one AWS call at a time; records holding lists run a pool of threads each.
    config = CONFIG.merge(Config(max_pool_connections=max(10, 2 * threads_for(settings.ges_concurrency))))
    sqs = boto3.client("sqs", config=config)
    records = ExportRecords(
        settings.idempotency_table_name,
        settings.idempotency_ttl_seconds,
        boto3.client("dynamodb", config=config),
    )
    ges = ges_client(settings, settings.ges_concurrency)
    requests = Requests(settings.ges_concurrency)
    tracking = SqsQueue(settings.tracking_queue_url, sqs) if settings.tracking_queue_url else None
    delivery = Delivery(
        SqsQueue(settings.downstream_queue_url, sqs), tracking, settings.job_poll_interval_seconds
    )
    exporter = Exporter(ges, records, delivery, settings.ges_project_id)
    dead_letter = SqsQueue(settings.dead_letter_queue_url, sqs) if settings.dead_letter_queue_url else None
    all_graphs = AllGraphs(ges, settings.ges_project_id, QueuesByArn(sqs))
    runner = Runner(exporter, all_graphs, dead_letter, requests)
    return Runtime(records=records, runner=runner, ges=ges, requests=requests)
