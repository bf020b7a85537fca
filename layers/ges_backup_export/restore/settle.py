"""Settling an import whose outcome is unknown (`python -m ops.settle`, beside the exports).

An import's record is one of the export records (deduplication.py), so `ops.settle` lists it with the
exports (its trigger `restore-test` or `import`, its backup `import-<time>`); its reference is also the
test's key. Once a person has looked at the graph's jobs in GES:

- "it started, as job X": the record becomes that started import (ops.settle, settlement.Settlement), and
  its job goes to the restore tester's follow-up queue once (`hand_over`), undelayed: the job is followed
  to its end and the test's one event is put, as for any import (its timeout counts from the settling);
- "it did not start": the record is forgotten (the next request for the test imports: invoke the tester
  again with the same event, scheduled_time included), and the graph's claim is given back
  (`forget`), so the graph's next test is not skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ges_backup_export.aws.queues import SqsQueue
from ges_backup_export.core.message_format import ExportDetails
from ges_backup_export.export.deduplication import ExportRecords, StartedExport
from ges_backup_export.restore.imports import follow_up_of, send_follow_up
from ges_backup_export.restore.running import RunningImports

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def is_import(details: ExportDetails | dict[str, Any]) -> bool:
    """Whether an export record is a restore test's (or a console) import."""
    return "restore" in details


def hand_over(records: ExportRecords, started: StartedExport, queue: SqsQueue) -> StartedExport:
    """The settled import's job, to the follow-up queue once; returns the record's new result."""
    details = cast(ExportDetails, {k: v for k, v in started["message"].items() if k != "job_id"})
    return records.send_owed_once(
        details, started, "delivered", lambda: send_follow_up(queue, follow_up_of(started), 0)
    )


def forget(table_name: str, client: DynamoDBClient, details: dict[str, Any], reference: str) -> None:
    """Give the graph of an import that did not start back to the restore tests."""
    RunningImports(table_name, client, 0).release(details["project_id"], details["graph_id"], reference)
