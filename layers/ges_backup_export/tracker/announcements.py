"""The completion events: one EventBridge event per export job, however often its end is seen.

The event is put under a Powertools idempotency lock keyed on the job (key prefix
`ges-backup-export:announce`, in the idempotency table), so a tracking message delivered twice, or one
whose event was put but which was not deleted, announces nothing a second time. A put that fails
(the call, or an entry EventBridge refused: `FailedEntryCount`) raises inside the lock, so the lock is
given back and the message is checked again later. Once the event is put, the job's metrics are counted.

One case cannot be made exactly-once: a put sent whose answer never came may have put the event, and the
retry puts it again. The events client never repeats a put by itself (aws_clients.EVENTS_CONFIG), so such a
case is always logged, as a WARNING that names the job.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, NotRequired

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from ges_backup_export.aws.events import put_event
from ges_backup_export.core import metrics
from ges_backup_export.core.idempotency import KEY_PREFIX, guarded, ran_once
from ges_backup_export.core.message_format import (
    FAILED,
    SUCCEEDED,
    TIMED_OUT,
    DownstreamMessage,
)
from ges_backup_export.core.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient

_IN_PROGRESS = "the job's end is being announced by another invocation right now"
# How long an announced job is remembered: longer than a tracking message can live in its queues.
ANNOUNCED_TTL_SECONDS = 1_296_000
# GES's begin_time and end_time, UTC without a zone: yyyy-MM-ddTHH:mm:ss (the SDK, the Chinese pages) or
# yyyy-MM-dd HH:mm:ss (the current English job-status page).
GES_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
# The tracker's metrics (core/metrics.py).
JOBS_SUCCEEDED = "ExportJobsSucceeded"
JOBS_FAILED = "ExportJobsFailed"
JOBS_TIMED_OUT = "ExportJobsTimedOut"
JOB_SECONDS = "ExportJobSeconds"
_METRIC = {SUCCEEDED: JOBS_SUCCEEDED, FAILED: JOBS_FAILED, TIMED_OUT: JOBS_TIMED_OUT}


class CompletionDetail(DownstreamMessage):
    """An event's detail: exactly the downstream message and how the job ended, nothing else."""

    status: str
    begin_time: NotRequired[str]
    end_time: NotRequired[str]
    fail_reason: NotRequired[str]
    checked_at: str


def _announce(job: dict[str, str], action: Any) -> Any:
    """What the idempotent wrapper calls: `job` holds the key, `action` the put."""
    return action()


class Announcer:
    def __init__(
        self, events: EventBridgeClient, bus: str, table_name: str, dynamodb: DynamoDBClient
    ) -> None:
        self._events = events
        self._bus = bus
        self._config = IdempotencyConfig(
            event_key_jmespath="[project_id, job_id]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ANNOUNCED_TTL_SECONDS,
        )
        self._once = idempotent_function(
            data_keyword_argument="job",
            persistence_store=DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb),
            config=self._config,
            key_prefix=f"{KEY_PREFIX}:announce",
        )(_announce)

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Let a lock expire with the invocation that took it; call before any announcement."""
        self._config.register_lambda_context(context)

    def announce(self, detail_type: str, detail: CompletionDetail) -> bool:
        """Put the job's event unless it was put before; whether this call put it."""
        job = {"project_id": detail["project_id"], "job_id": detail["job_id"]}
        _, put_here = ran_once(
            lambda keep: guarded(lambda: self._once(job=job, action=keep), _IN_PROGRESS),
            lambda: self._put(detail_type, detail),
            note="a copy of this tracking message waits until this invocation's lock expires, and may "
            "announce the job again (consumers key on job_id)",
            extra={"job_id": detail["job_id"]},
        )
        return put_here

    def _put(self, detail_type: str, detail: CompletionDetail) -> dict[str, bool]:
        put_event(
            self._events,
            self._bus,
            detail_type,
            detail,
            what="completion event",
            retried="the tracking message",
        )
        logger.info("completion event put", extra={"detail_type": detail_type, "job_id": detail["job_id"]})
        _count(detail_type, detail)
        return {"put": True}


def _count(detail_type: str, detail: CompletionDetail) -> None:
    metrics.count(_METRIC[detail_type])
    begin, end = _ges_time(detail.get("begin_time")), _ges_time(detail.get("end_time"))
    # A time GES wrote some other way gives no duration, rather than a wrong one.
    if begin is not None and end is not None and detail_type != TIMED_OUT:
        metrics.seconds(JOB_SECONDS, (end - begin).total_seconds())


def _ges_time(text: str | None) -> datetime | None:
    """A time as GES writes it (either spelling of GES_TIME_FORMATS), or None."""
    for spelling in GES_TIME_FORMATS:
        try:
            return datetime.strptime(text or "", spelling)
        except ValueError:
            continue
    return None
