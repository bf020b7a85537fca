"""The history of successful exports: what a restore test chooses from.

The job tracker records every export whose job succeeded (`record_export`, called where it announces the
success), one item per job in the history table (HISTORY_TABLE_NAME): partition key `graph`
(`<project_id>#<graph_id>`), sort key `ended` (`<end time>#<job_id>`: ordered by GES's end time, unique
per job), and the export's project, graph, backup, path, job id and end time. An item expires
(`expiration`, the table's TTL attribute) a day after it leaves RESTORE_TEST_WINDOW_DAYS, so the history
keeps every export a test may choose. Recording a job twice (a tracking message delivered twice) writes
the same item again: harmless.

The end time is GES's `end_time` (UTC, written either way GES writes it), else when the tracker saw the
job ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ges_backup_export.aws.clients import CONFIG
from ges_backup_export.core.errors import DependencyUnavailable
from ges_backup_export.core.message_format import TrackingMessage, format_time
from ges_backup_export.core.observability import logger
from ges_backup_export.restore.settings import HistorySettings
from ges_backup_export.tracker.announcements import GES_TIME_FORMATS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEEP_AFTER_WINDOW = timedelta(days=1)
_AFTER_EVERY_JOB_ID = "~"  # sorts after "#<job id>": the window's end includes its last second


@dataclass(frozen=True)
class HistoryEntry:
    """One export whose job succeeded."""

    project_id: str
    graph_id: str
    backup_id: str
    export_path: str
    job_id: str
    ended_at: str  # ISO-8601 UTC, e.g. 2026-11-27T02:01:00Z


class History:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client

    def record(self, entry: HistoryEntry, keep_days: int) -> None:
        """Store the entry, to expire `keep_days` (the window) and a day after the job ended."""
        ended = datetime.fromisoformat(entry.ended_at)
        expiration = int((ended + timedelta(days=keep_days) + KEEP_AFTER_WINDOW).timestamp())
        item = {
            "graph": {"S": _graph_key(entry.project_id, entry.graph_id)},
            "ended": {"S": f"{entry.ended_at}#{entry.job_id}"},
            "project_id": {"S": entry.project_id},
            "graph_id": {"S": entry.graph_id},
            "backup_id": {"S": entry.backup_id},
            "export_path": {"S": entry.export_path},
            "job_id": {"S": entry.job_id},
            "ended_at": {"S": entry.ended_at},
            "expiration": {"N": str(expiration)},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailable(f"the history table did not take the export: {error}") from None

    def within(self, project_id: str, graph_id: str, since: datetime, until: datetime) -> list[HistoryEntry]:
        """The graph's exports whose job ended from `since` to `until` (both included), oldest first."""
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            ConsistentRead=True,
            KeyConditionExpression="#graph = :graph AND #ended BETWEEN :since AND :until",
            ExpressionAttributeNames={"#graph": "graph", "#ended": "ended"},
            ExpressionAttributeValues={
                ":graph": {"S": _graph_key(project_id, graph_id)},
                ":since": {"S": format_time(since)},
                ":until": {"S": format_time(until) + _AFTER_EVERY_JOB_ID},
            },
        )
        try:
            items = [item for page in pages for item in page.get("Items", [])]
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailable(f"the history table could not be read: {error}") from None
        return [_entry(item) for item in items]


def _graph_key(project_id: str, graph_id: str) -> str:
    return f"{project_id}#{graph_id}"


def _entry(item: dict[str, Any]) -> HistoryEntry:
    def text(name: str) -> str:
        return str(item[name]["S"])

    return HistoryEntry(
        text("project_id"), text("graph_id"), text("backup_id"), text("export_path"), text("job_id"),
        text("ended_at"),
    )  # fmt: skip


# --- the tracker's side -------------------------------------------------------------------------------


def record_export(message: TrackingMessage, answer: dict[str, Any], now: datetime) -> None:
    """Record an export whose job GES says succeeded (`answer`: its job status), when the tracker has a
    history (HISTORY_TABLE_NAME); DependencyUnavailable when the table failed, so that the tracking message
    is retried (and the success announced only once the history holds it)."""
    settings = HistorySettings.from_env()
    if settings.table_name is None:
        return
    entry = HistoryEntry(
        project_id=message["project_id"],
        graph_id=message["graph_id"],
        backup_id=message["backup_id"],
        export_path=message["export_path"],
        job_id=message["job_id"],
        ended_at=format_time(ges_time(answer.get("end_time")) or now),
    )
    History(settings.table_name, _dynamodb()).record(entry, settings.window_days)
    logger.info(
        "export recorded for restore tests", extra={"job_id": entry.job_id, "ended_at": entry.ended_at}
    )


def ges_time(text: object) -> datetime | None:
    """A time as GES writes it (UTC without a zone, with a T or a space), or None."""
    for spelling in GES_TIME_FORMATS:
        try:
            return datetime.strptime(str(text or ""), spelling).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


@lru_cache(maxsize=1)
def _dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=CONFIG)
