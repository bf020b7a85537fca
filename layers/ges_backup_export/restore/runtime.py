"""The restore tester's parts, built once per execution environment from its settings (as runtime.py
builds the other functions'): the GES client and its token reader are the export function's."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import boto3
from botocore.config import Config

from ges_backup_export.aws.clients import CONFIG, EVENTS_CONFIG
from ges_backup_export.aws.queues import SqsQueue
from ges_backup_export.export.concurrency import Requests, threads_for
from ges_backup_export.export.deduplication import ExportRecords
from ges_backup_export.ges.client import GesClient
from ges_backup_export.ges.connect import ges_client
from ges_backup_export.restore.announcements import RestoreAnnouncer, TestRecords
from ges_backup_export.restore.follow import Follower
from ges_backup_export.restore.history import History
from ges_backup_export.restore.running import RunningImports
from ges_backup_export.restore.settings import RestoreSettings
from ges_backup_export.restore.tester import Tester


@dataclass(frozen=True)
class RestoreRuntime:
    records: ExportRecords
    tests: TestRecords
    tester: Tester
    follower: Follower
    ges: GesClient


def current_restore_tester() -> RestoreRuntime:
    """The restore tester's parts for the current settings; ConfigurationError naming a bad setting."""
    return _build(RestoreSettings.from_env())


@lru_cache(maxsize=1)
def _build(settings: RestoreSettings) -> RestoreRuntime:
    follow = settings.follow
    config = CONFIG.merge(Config(max_pool_connections=max(10, 2 * threads_for(settings.ges_concurrency))))
    dynamodb = boto3.client("dynamodb", config=config)
    sqs = boto3.client("sqs", config=config)
    records = ExportRecords(follow.idempotency_table_name, settings.idempotency_ttl_seconds, dynamodb)
    tests = TestRecords(follow.idempotency_table_name, dynamodb)
    announcer = RestoreAnnouncer(boto3.client("events", config=EVENTS_CONFIG), follow.event_bus_name, tests)
    running = RunningImports(follow.idempotency_table_name, dynamodb, follow.job_tracking_timeout_seconds)
    ges = ges_client(follow, settings.ges_concurrency)
    queue = SqsQueue(follow.tracking_queue_url, sqs)
    tester = Tester(
        ges,
        records,
        History(settings.history_table_name, dynamodb),
        running,
        announcer,
        tests,
        queue,
        default_project_id=settings.ges_project_id,
        window_days=settings.window_days,
        poll_interval_seconds=follow.job_poll_interval_seconds,
        requests=Requests(settings.ges_concurrency),
    )
    dead_letter = SqsQueue(follow.dead_letter_queue_url, sqs) if follow.dead_letter_queue_url else None
    follower = Follower(
        ges,
        tests,
        announcer,
        running,
        queue,
        dead_letter,
        poll_interval_seconds=follow.job_poll_interval_seconds,
        timeout_seconds=follow.job_tracking_timeout_seconds,
    )
    return RestoreRuntime(records=records, tests=tests, tester=tester, follower=follower, ges=ges)
