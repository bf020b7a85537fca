"""Following a started export's GES job to its end: one check per tracking message.

A tracking message is the export's downstream message, `started_at` (when GES accepted the export), and
what the tracker carries from one check to the next (`checks`, `last_status`). Each check asks GES for the
job's status:

- `success`: a succeeded event; `failed` or `partiallyFailed` (Huawei's job-status page lists it: a backup
  that partly landed has not landed): a failed event carrying GES's status (announcements.py);
- `pending`, `running`, or a status GES never documented (logged): checked again later, by a new
  tracking message delayed JOB_POLL_INTERVAL_SECONDS times 2^checks, at most 900 s (SQS's limit); the state
  lives in the message, never in the function's memory;
- GES answers that the job does not exist (GES.7007): a failed event saying so;
- anything else GES or the network says (429, 5xx, a refusal, a rejected token): checked again later;
- still not ended JOB_TRACKING_TIMEOUT_SECONDS after `started_at`: one timed-out event. Never counted
  from `requested_at`, which a redrive keeps: a request redriven days later is a fresh job. A message
  without `started_at` (sent by an older version) counts from its first check, whose time the tracker
  adds to the message it sends for the next check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ges_backup_export.aws.queues import SqsQueue, dead_letter, send_dead_letters, send_downstream
from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import ExportError, GesRefused, InvalidRequest
from ges_backup_export.core.job_messages import job_message, job_times
from ges_backup_export.core.message_format import (
    FAILED,
    SUCCEEDED,
    TIMED_OUT,
    TrackingMessage,
    format_time,
)
from ges_backup_export.core.observability import log_failure, logger
from ges_backup_export.core.settings import MAX_DELAY_SECONDS
from ges_backup_export.core.times import request_time
from ges_backup_export.ges.client import GesClient
from ges_backup_export.restore.history import record_export
from ges_backup_export.tracker.announcements import Announcer, CompletionDetail

ENDED = {"success": SUCCEEDED, "failed": FAILED, "partiallyFailed": FAILED}
# A failed event's fail_reason when GES gave none.
NO_REASON = {
    "failed": "GES gave no reason",
    "partiallyFailed": "GES says the job partially failed, without a reason: part of the backup is missing",
}
STILL_GOING = frozenset({"pending", "running"})
UNKNOWN_JOB_CODES = frozenset({"GES.7007", "GES.8301"})  # GES.8301: the older API's spelling
_IDS = ("job_id", "project_id", "graph_id")
_TEXTS = ("backup_id", "export_path", "trigger", "requested_at")
MAX_STATUS_LENGTH = 64


def parse_tracking_message(body: str) -> TrackingMessage:
    """A tracking message, or InvalidRequest naming what is wrong with it."""
    value = job_message(body, _TEXTS, ("requested_at", "started_at"))
    last_status = value.get("last_status", "")  # it ends up in an event's detail
    if not isinstance(last_status, str) or len(last_status) > MAX_STATUS_LENGTH:
        raise InvalidRequest("last_status", f"must be a string of at most {MAX_STATUS_LENGTH} characters")
    return cast(TrackingMessage, value)


@dataclass(frozen=True)
class Check:
    """What one status check found: GES's answer (None when there was none), or the job unknown."""

    answer: dict[str, Any] | None
    unknown_job: str | None = None


class Tracker:
    def __init__(
        self,
        ges: GesClient,
        announcer: Announcer,
        queue: SqsQueue,
        *,
        poll_interval_seconds: int,
        timeout_seconds: int,
    ) -> None:
        self._ges = ges
        self._announcer = announcer
        self._queue = queue
        self._poll_interval = poll_interval_seconds
        self._timeout = timedelta(seconds=timeout_seconds)

    def check(self, message: TrackingMessage, deadline: Deadline, now: datetime | None = None) -> None:
        """Check the job once: announce its end, or hand it on to a later check."""
        now = now or datetime.now(UTC)
        if "started_at" not in message:  # sent by an older version: counted from this first check
            message = {**message, "started_at": format_time(now)}
        check = self._status(message, deadline)
        answer = check.answer or {}
        status = _status_of(answer) if "status" in answer else message.get("last_status", "unknown")
        if check.unknown_job is not None:
            self._announce(FAILED, message, {"status": status, "fail_reason": check.unknown_job}, now)
        elif status in ENDED and check.answer is not None:
            if ENDED[status] == SUCCEEDED:  # restore tests choose from these (restore/history.py)
                record_export(message, answer, now)
            self._announce(ENDED[status], message, _ended(status, answer), now)
        elif now - request_time(message["started_at"], "started_at") > self._timeout:
            self._announce(TIMED_OUT, message, {**job_times(answer), "status": status}, now)
        else:
            self._later(message, status if check.answer is not None else None)

    def _status(self, message: TrackingMessage, deadline: Deadline) -> Check:
        """GES's answer about the job; no answer (and a log line) when GES or the network failed."""
        try:
            answer = self._ges.job_status(
                message["project_id"], message["graph_id"], message["job_id"], deadline
            )
        except GesRefused as error:
            if error.code in UNKNOWN_JOB_CODES:
                return Check(
                    None, f"GES does not know job {message['job_id']} ({error.code}: {error.ges_message})"
                )
            logger.error("GES refused the job's status; checking again later", extra={"error": str(error)})
            return Check(None)
        except ExportError as error:  # transient, a rejected token, the secret unreadable: a later check
            logger.warning("no job status this time; checking again later", extra={"error": str(error)})
            return Check(None)
        if answer.get("status") not in (*ENDED, *STILL_GOING):
            logger.warning(
                "GES answered a job status it never documented; checking again later",
                extra={"status": str(answer.get("status"))[:MAX_STATUS_LENGTH]},
            )
        return Check(answer)

    def _announce(
        self, detail_type: str, message: TrackingMessage, found: dict[str, str], now: datetime
    ) -> None:
        downstream = {key: message[key] for key in (*_IDS, *_TEXTS)}  # type: ignore[literal-required]
        detail = cast(CompletionDetail, {**downstream, **found, "checked_at": format_time(now)})
        self._announcer.announce(detail_type, detail)

    def _later(self, message: TrackingMessage, status: str | None) -> None:
        checks = message.get("checks", 0)
        following: TrackingMessage = {**message, "checks": checks + 1}
        if status is not None:
            following["last_status"] = status
        delay = min(self._poll_interval * 2 ** min(checks, 16), MAX_DELAY_SECONDS)
        send_downstream(self._queue, following, delay_seconds=delay)
        logger.info(
            "job not ended yet; checking again later", extra={"status": status, "delay_seconds": delay}
        )


def _status_of(answer: dict[str, Any]) -> str:
    """GES's status, as the tracking message carries it and an event shows it: cut to a bounded length (a
    status GES never documented could be anything)."""
    return str(answer["status"])[:MAX_STATUS_LENGTH]


def _ended(status: str, answer: dict[str, Any]) -> dict[str, str]:
    """What an event says of a job that ended: its status and times, and why it failed (GES's reason)."""
    found = {**job_times(answer), "status": status}
    if status in NO_REASON:
        found["fail_reason"] = str(answer.get("fail_reason") or NO_REASON[status])[:1024]
    return found


class TrackingRunner:
    """One tracking message of an SQS batch: checked, or dead-lettered when it can never be read."""

    def __init__(self, tracker: Tracker, dead_letter: SqsQueue | None) -> None:
        self._tracker = tracker
        self._dead_letter = dead_letter

    def run_record(self, record: SQSRecord, deadline: Deadline) -> None:
        """Returns when the job was checked (or the message dead-lettered); raises to have SQS retry."""
        logger.append_keys(message_id=record.message_id)
        try:
            message = parse_tracking_message(record.body)
        except InvalidRequest as error:
            self._refuse(record, error)
            return
        else:
            logger.append_keys(job_id=message["job_id"], graph_id=message["graph_id"])
            try:
                self._tracker.check(message, deadline)
            except ExportError as error:
                log_failure(error)
                raise
        finally:
            logger.remove_keys(["message_id", "job_id", "graph_id"])

    def _refuse(self, record: SQSRecord, error: InvalidRequest) -> None:
        """Never retried again and again: to the dead-letter queue with its reason (or to SQS's redrive)."""
        log_failure(error)
        if self._dead_letter is None:
            raise error
        letter = dead_letter(
            record.body,
            error.code,
            error.message,
            group_id=record.attributes.message_group_id or record.message_id,
            deduplication_id=record.message_id,
        )
        send_dead_letters(self._dead_letter, [letter])
