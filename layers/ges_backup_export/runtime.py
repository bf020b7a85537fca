"""The parts of each function, built once per execution environment from its settings.

Clients, the HTTP session and the token cache are reused across warm invocations. The settings are
read on every invocation (a few dictionary lookups), so a changed setting gets parts built from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config

from ges_backup_export.all_graphs import AllGraphs
from ges_backup_export.announcements import Announcer
from ges_backup_export.aws_clients import CONFIG, EVENTS_CONFIG
from ges_backup_export.bounded_http import BoundedSession
from ges_backup_export.concurrency import Requests, threads_for
from ges_backup_export.deduplication import ExportRecords
from ges_backup_export.delivery import Delivery
from ges_backup_export.exporter import Exporter
from ges_backup_export.ges import GesClient
from ges_backup_export.queues import SqsQueue
from ges_backup_export.runner import Runner
from ges_backup_export.settings import Settings, TrackerSettings
from ges_backup_export.token_source import TokenSource
from ges_backup_export.tracking import Tracker, TrackingRunner


@dataclass(frozen=True)
class Runtime:
    records: ExportRecords
    runner: Runner
    ges: GesClient
    requests: Requests


@dataclass(frozen=True)
class TrackerRuntime:
    announcer: Announcer
    runner: TrackingRunner
    ges: GesClient


def current_runtime() -> Runtime:
    """The export function's parts for the current settings; raises ConfigurationError naming a bad
    setting."""
    return _build(Settings.from_env())


def current_tracker() -> TrackerRuntime:
    """The job tracker's parts for the current settings."""
    return _build_tracker(TrackerSettings.from_env())


def ges_client(settings: Settings | TrackerSettings, concurrency: int = 1) -> GesClient:
    """A GES client whose token comes from the secret (cached, read again on a 401), for `concurrency`
    requests at a time."""
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
    all_graphs = AllGraphs(ges, settings.ges_project_id, sqs)
    runner = Runner(exporter, all_graphs, dead_letter, requests)
    return Runtime(records=records, runner=runner, ges=ges, requests=requests)


@lru_cache(maxsize=1)
def _build_tracker(settings: TrackerSettings) -> TrackerRuntime:
    sqs = boto3.client("sqs", config=CONFIG)
    announcer = Announcer(
        boto3.client("events", config=EVENTS_CONFIG),
        settings.event_bus_name,
        settings.idempotency_table_name,
        boto3.client("dynamodb", config=CONFIG),
    )
    ges = ges_client(settings)
    tracker = Tracker(
        ges,
        announcer,
        SqsQueue(settings.tracking_queue_url, sqs),
        poll_interval_seconds=settings.job_poll_interval_seconds,
        timeout_seconds=settings.job_tracking_timeout_seconds,
    )
    dead_letter = SqsQueue(settings.dead_letter_queue_url, sqs) if settings.dead_letter_queue_url else None
    return TrackerRuntime(announcer=announcer, runner=TrackingRunner(tracker, dead_letter), ges=ges)
