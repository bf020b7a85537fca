"""Following an import job to its end: one check per follow-up message, then the test's one event.

Like the job tracker (tracking.py) for exports, with the same statuses and the same timing: `pending`,
`running` or a status GES never documented: checked again later, by a new message delayed
JOB_POLL_INTERVAL_SECONDS x 2^checks (at most 900 s); `failed`/`partiallyFailed`: a failed event carrying
GES's reason; a job GES does not know (GES.7007): a failed event saying so; still not ended
JOB_TRACKING_TIMEOUT_SECONDS after GES accepted the import: a timed-out event. GES or the network failing:
checked again later.

`success`: the backup the import added is found and deleted (kept for an import by hand unless `keep` is
false), under a lock keyed on the test whose result is kept (announcements.TestRecords), so that a
redelivered message neither deletes twice nor forgets what it found. How the backup is found, since GES
says nothing of it (docs/ges-api.md, the open questions, each hedged here):

- the import job's answer carries no backup id: the graph's backups are listed before the import (the ids
  travel with the test) and after its job succeeded; the new ones are the candidates;
- among them, the one whose `backup_method` is `import` (Huawei's pages list that value; the SDK does not
  yet); if none says so and exactly one backup is new, that one;
- two or more candidates (another import, or an automatic backup meanwhile): none is deleted, since which
  one is this import's is not certain; the test fails and says so;
- a candidate still `backing_up` (GES may list it before it is whole): checked again later;
- a DELETE whose answer was lost is sent again, and GES.7024 ("does not exist or has been deleted")
  counts as deleted (ges.GesClient.delete_backup).

A test whose cleanup failed is a failed test: `deleted` false, `imported_backup_id` naming the backup to
delete. After the event, the graph's claim is given back (running.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ges_backup_export.aws.queues import SqsQueue, dead_letter, send_dead_letters
from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import ExportError, GesRefused, InvalidRequest
from ges_backup_export.core.ids import check_id
from ges_backup_export.core.job_messages import job_message, job_times
from ges_backup_export.core.message_format import format_time
from ges_backup_export.core.observability import log_failure, logger
from ges_backup_export.core.settings import MAX_DELAY_SECONDS
from ges_backup_export.core.times import request_time
from ges_backup_export.ges.client import GesClient
from ges_backup_export.restore.announcements import RestoreAnnouncer, TestRecords
from ges_backup_export.restore.imports import send_follow_up
from ges_backup_export.restore.messages import FollowUp, RestoreDetail, Result
from ges_backup_export.restore.running import RunningImports
from ges_backup_export.tracker.checks import MAX_STATUS_LENGTH, NO_REASON, STILL_GOING, UNKNOWN_JOB_CODES

IMPORTED = "import"  # backup_method of a backup an import added (Huawei's pages; the SDK lists auto, manual)
BACKING_UP = "backing_up"
_ENDED_BADLY = frozenset(NO_REASON)  # failed, partiallyFailed


class NotYet(Exception):
    """The import's backup is listed but not whole yet: check again later."""


class Follower:
    def __init__(
        self,
        ges: GesClient,
        records: TestRecords,
        announcer: RestoreAnnouncer,
        running: RunningImports,
        queue: SqsQueue,
        dead_letter_queue: SqsQueue | None,
        *,
        poll_interval_seconds: int,
        timeout_seconds: int,
    ) -> None:
        self._ges = ges
        self._records = records
        self._announcer = announcer
        self._running = running
        self._queue = queue
        self._dead_letter = dead_letter_queue
        self._poll_interval = poll_interval_seconds
        self._timeout = timedelta(seconds=timeout_seconds)

    def run_record(self, record: SQSRecord, deadline: Deadline) -> None:
        """One follow-up message: checked, or dead-lettered when it can never be read; raises to retry."""
        logger.append_keys(message_id=record.message_id)
        try:
            try:
                message = parse_follow_up(record.body)
            except InvalidRequest as error:
                self._refuse(record, error)
                return
            logger.append_keys(job_id=message["job_id"], graph_id=message["graph_id"])
            try:
                self.check(message, deadline)
            except ExportError as error:
                log_failure(error)
                raise
        finally:
            logger.remove_keys(["message_id", "job_id", "graph_id"])

    def check(self, message: FollowUp, deadline: Deadline, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        answer, unknown_job = self._status(message, deadline)
        status = (
            str(answer["status"])[:MAX_STATUS_LENGTH] if "status" in answer else message.get("last_status")
        )
        found = {**job_times(answer), **({"status": status} if status else {})}
        if unknown_job is not None:
            self._end(message, "failed", {**found, "fail_reason": unknown_job}, now)
        elif status == "success":
            self._succeeded(message, found, deadline, now)
        elif status in _ENDED_BADLY:
            reason = str(answer.get("fail_reason") or NO_REASON[str(status)])[:1024]
            self._end(message, "failed", {**found, "fail_reason": f"the import job {status}: {reason}"}, now)
        elif now - request_time(message["started_at"], "started_at") > self._timeout:
            self._end(message, "timed_out", found, now)
        else:
            self._later(message, status if answer else None)

    def _status(self, message: FollowUp, deadline: Deadline) -> tuple[dict[str, Any], str | None]:
        """GES's answer about the job ({} when there was none), or why GES does not know the job."""
        try:
            answer = self._ges.job_status(
                message["project_id"], message["graph_id"], message["job_id"], deadline
            )
        except GesRefused as error:
            if error.code in UNKNOWN_JOB_CODES:
                return (
                    {},
                    f"GES does not know import job {message['job_id']} ({error.code}: {error.ges_message})",
                )
            logger.error("GES refused the job's status; checking again later", extra={"error": str(error)})
            return {}, None
        except ExportError as error:
            logger.warning("no job status this time; checking again later", extra={"error": str(error)})
            return {}, None
        if answer.get("status") not in ("success", *_ENDED_BADLY, *STILL_GOING):
            logger.warning("GES answered a job status it never documented; checking again later")
        return answer, None

    def _succeeded(self, message: FollowUp, found: dict[str, str], deadline: Deadline, now: datetime) -> None:
        try:
            cleanup = self._records.cleanup_once(
                message["restore"]["test"], lambda: self._clean_up(message, deadline)
            )
        except NotYet:
            self._later(message, "success")
            return
        found = {**found, **{k: v for k, v in cleanup.items() if k == "imported_backup_id"}}
        problem = cleanup.get("problem")
        extra: dict[str, Any] = {"deleted": bool(cleanup.get("deleted"))}
        if problem:
            self._end(
                message,
                "failed",
                {**found, "fail_reason": f"the import job succeeded, but {problem}"},
                now,
                extra,
            )
        else:
            self._end(message, "passed", found, now, extra)

    def _clean_up(self, message: FollowUp, deadline: Deadline) -> dict[str, Any]:
        """Find the backup the import added and delete it (unless kept): what was found and done. A GES
        failure of the list raises (the message is retried); a failed delete is the test's failure."""
        info = message["restore"]
        backups = self._ges.list_backups(message["project_id"], message["graph_id"], deadline)
        backup, problem = imported_backup(backups, set(info["before"]))
        if backup is None:
            return {"deleted": False, "problem": problem}
        backup_id = str(backup["id"])
        if backup.get("status") == BACKING_UP:
            raise NotYet(backup_id)
        result: dict[str, Any] = {"imported_backup_id": backup_id, "deleted": False}
        if backup.get("status") not in (None, "success"):
            result["problem"] = (
                f"GES lists the imported backup {backup_id} as {str(backup.get('status'))[:64]}"
            )
        if info["keep"] and "problem" not in result:
            logger.info("imported backup kept", extra={"imported_backup_id": backup_id})
            return result
        try:
            self._ges.delete_backup(message["project_id"], message["graph_id"], backup_id, deadline)
        except ExportError as error:
            log_failure(error)
            problem = f"deleting the imported backup {backup_id} failed ({error}): delete it in GES"
            return {**result, "problem": result.get("problem", problem)}
        logger.info("imported backup deleted", extra={"imported_backup_id": backup_id})
        return {**result, "deleted": True}

    def _end(
        self,
        message: FollowUp,
        result: Result,
        found: dict[str, str],
        now: datetime,
        extra: dict[str, Any] | None = None,
    ) -> None:
        info = message["restore"]
        detail = cast(RestoreDetail, {
            "project_id": message["project_id"], "graph_id": message["graph_id"],
            "import_path": message["import_path"], "job_id": message["job_id"],
            **{key: info[key] for key in ("source_job_id", "source_ended_at") if key in info},
            "deleted": False, **(extra or {}), **found,
            "requested_at": message["requested_at"], "checked_at": format_time(now),
        })  # fmt: skip
        self._announcer.announce(info["test"], info["kind"], result, detail)
        self._running.release(message["project_id"], message["graph_id"], info["test"])

    def _later(self, message: FollowUp, status: str | None) -> None:
        checks = message.get("checks", 0)
        following: FollowUp = {**message, "checks": checks + 1}
        if status is not None:
            following["last_status"] = status
        delay = min(self._poll_interval * 2 ** min(checks, 16), MAX_DELAY_SECONDS)
        send_follow_up(self._queue, following, delay)
        logger.info(
            "import job not ended yet; checking again later", extra={"status": status, "delay_seconds": delay}
        )

    def _refuse(self, record: SQSRecord, error: InvalidRequest) -> None:
        log_failure(error)
        if self._dead_letter is None:
            raise error
        letter = dead_letter(record.body, error.code, error.message, group_id=record.message_id,
                             deduplication_id=record.message_id)  # fmt: skip
        send_dead_letters(self._dead_letter, [letter])


def imported_backup(
    backups: list[dict[str, Any]], before: set[str]
) -> tuple[dict[str, Any] | None, str | None]:
    """The backup an import added, from the graph's backups after it and the ids before it; else why
    none can be named (module docstring)."""
    new = [
        b for b in backups if isinstance(b.get("id"), str) and not check_id(b["id"]) and b["id"] not in before
    ]
    imported = [b for b in new if b.get("backup_method") == IMPORTED]
    candidates = imported or new
    if len(candidates) == 1:
        return candidates[0], None
    if not candidates:
        return None, "GES lists no backup the import added, so nothing was deleted"
    ids = ", ".join(str(b["id"]) for b in candidates[:10])
    return None, (
        f"GES lists {len(candidates)} new backups ({ids}): which one this import added is not certain, so "
        "none was deleted; delete the imported one in GES"
    )


_TEXTS = ("job_id", "project_id", "graph_id", "import_path", "requested_at", "started_at")


def parse_follow_up(body: str) -> FollowUp:
    """A follow-up message, or InvalidRequest naming what is wrong with it."""
    value = job_message(body, _TEXTS, ("requested_at", "started_at"))
    info = value.get("restore")
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("test"), str)
        or info.get("kind") not in ("test", "import")
        or not isinstance(info.get("keep"), bool)
        or not isinstance(info.get("before"), list)
    ):
        raise InvalidRequest("restore", "must be the test's object: test, kind, keep, before")
    return cast(FollowUp, value)
