"""The job tracker's parts, built once per execution environment from its settings (as the export
function's: export/runtime.py)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import boto3

from ges_backup_export.aws.clients import CONFIG, EVENTS_CONFIG
from ges_backup_export.aws.queues import SqsQueue
from ges_backup_export.ges.client import GesClient
from ges_backup_export.ges.connect import ges_client
from ges_backup_export.tracker.announcements import Announcer
from ges_backup_export.tracker.checks import Tracker, TrackingRunner
from ges_backup_export.tracker.settings import TrackerSettings


@dataclass(frozen=True)
class TrackerRuntime:
    announcer: Announcer
    runner: TrackingRunner
    ges: GesClient


def current_tracker() -> TrackerRuntime:
    """The job tracker's parts for the current settings; raises ConfigurationError naming a bad setting."""
    return _build_tracker(TrackerSettings.from_env())


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
