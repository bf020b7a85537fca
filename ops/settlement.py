"""Exports whose outcome is unknown, and how a person settles them (`python -m ops.settle`).

An export's record (the layer's export/deduplication.py) is unknown when it stores an UnknownOutcome (GES
answered 500, 504 or nothing after the request was sent), or when it is the lock of an invocation whose
time ran out. Every request for it ends ExportOutcomeUnknown until a person, having looked at the graph's
jobs in GES, says either

- "it started, as job X": the record becomes that started export, not yet delivered, started at the time
  of settling (the tracker's timeout counts from it: when GES accepted the job is not known); the caller
  then delivers its messages once (Delivery.owed), and every later request for the export gets job X as a
  duplicate; or
- "it did not start": the record is deleted, so the next request for the export (a redrive of its
  dead-lettered request) exports.

Both are conditional writes: they change a record only while it is still unknown, so two people (or a
person and a late invocation) cannot settle one export twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ges_backup_export.core.ids import check_id
from ges_backup_export.core.message_format import DownstreamMessage, ExportDetails, format_time
from ges_backup_export.export.deduplication import EXPORT_KEY_PREFIX, StartedExport

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

_UNKNOWN = (
    "#exp >= :now AND ((#status = :inprogress AND #lock < :now_ms) "
    "OR (#status = :completed AND begins_with(#data, :unknown)))"
)
_NAMES = {"#exp": "expiration", "#status": "status", "#lock": "in_progress_expiration", "#data": "data"}


class SettleError(Exception):
    """Why an export cannot be settled, worded for the person settling it."""


@dataclass(frozen=True)
class UnknownExport:
    reference: str
    export: ExportDetails
    since: str
    reason: str


class Settlement:
    def __init__(self, table_name: str, client: DynamoDBClient, clock: Any = time.time) -> None:
        self._table = table_name
        self._client = client
        self._clock = clock

    def unknown(self) -> list[UnknownExport]:
        """Every export whose outcome is unknown, oldest first."""
        found: list[UnknownExport] = []
        paginator = self._client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self._table,
            ConsistentRead=True,
            FilterExpression=f"begins_with(id, :prefix) AND {_UNKNOWN}",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={**self._values(), ":prefix": {"S": f"{EXPORT_KEY_PREFIX}#"}},
        )
        for page in self._guarded(lambda: list(pages)):
            found += [_unknown_export(item) for item in page.get("Items", [])]
        return sorted(found, key=lambda unknown: unknown.since)

    def started(self, reference: str, job_id: str, *, tracked: bool) -> StartedExport:
        """Record that the export started as job `job_id`; returns it, its messages owed (the tracking
        message too when the job tracker is `tracked`)."""
        problem = check_id(job_id)
        if problem:
            raise SettleError(f"the job id {job_id!r} {problem}")
        export = self._find(reference).export
        message: DownstreamMessage = {"job_id": job_id, **export}
        started_at = format_time(datetime.fromtimestamp(self._clock(), UTC))
        started: StartedExport = {"message": message, "delivered": False, "started_at": started_at}
        if tracked:
            started["tracked"] = False
        self._guarded(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=_key(reference),
                UpdateExpression="SET #status = :completed, #data = :started REMOVE #lock",
                ConditionExpression=_UNKNOWN,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={**self._values(), ":started": {"S": json.dumps(started)}},
            )
        )
        return started

    def not_started(self, reference: str) -> ExportDetails:
        """Forget the export, so that the next request for it exports; returns what it was."""
        export = self._find(reference).export
        self._guarded(
            lambda: self._client.delete_item(
                TableName=self._table,
                Key=_key(reference),
                ConditionExpression=_UNKNOWN,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=self._values(),
            )
        )
        return export

    def _find(self, reference: str) -> UnknownExport:
        item = self._guarded(
            lambda: self._client.get_item(TableName=self._table, Key=_key(reference), ConsistentRead=True)
        ).get("Item")
        now = self._clock()
        if not item or int(item["expiration"]["N"]) < now:
            raise SettleError(f"no export {reference} is remembered (a wrong reference, or it expired)")
        status = item["status"]["S"]
        lock = int(item.get("in_progress_expiration", {}).get("N", "0"))
        data = item.get("data", {}).get("S", "")
        if status == "INPROGRESS" and lock >= now * 1000:
            raise SettleError(f"export {reference} is being handled right now; try again in a few minutes")
        if status != "INPROGRESS" and not data.startswith('{"unknown"'):
            raise SettleError(f"export {reference} is not unknown: it started, as {_started_job(data)}")
        unknown = _unknown_export(item)
        if not unknown.export:
            raise SettleError(
                f"export {reference}'s record does not say what it exports (it was written by an older "
                "version); delete the dead-lettered request instead, or send its downstream message by hand"
            )
        return unknown

    def _values(self) -> dict[str, AttributeValueTypeDef]:
        now = self._clock()
        return {
            ":now": {"N": str(int(now))},
            ":now_ms": {"N": str(int(now * 1000))},
            ":inprogress": {"S": "INPROGRESS"},
            ":completed": {"S": "COMPLETED"},
            ":unknown": {"S": '{"unknown"'},
        }

    def _guarded(self, call: Any) -> Any:
        try:
            return call()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise SettleError(
                    "the export changed meanwhile (someone else settled it?); list again"
                ) from None
            raise SettleError(f"the idempotency table failed: {error}") from None
        except BotoCoreError as error:
            raise SettleError(f"the idempotency table failed: {error}") from None


def _key(reference: str) -> dict[str, AttributeValueTypeDef]:
    reference = reference.removeprefix(f"{EXPORT_KEY_PREFIX}#")
    return {"id": {"S": f"{EXPORT_KEY_PREFIX}#{reference}"}}


def _unknown_export(item: dict[str, Any]) -> UnknownExport:
    """An unknown record as a person reads it: a stored unknown outcome, or an abandoned lock."""
    reference = item["id"]["S"].partition("#")[2]
    data = json.loads(item.get("data", {}).get("S", "{}"))
    if "unknown" in data:
        unknown = data["unknown"]
        return UnknownExport(reference, unknown["export"], unknown["since"], unknown["reason"])
    lock = int(item.get("in_progress_expiration", {}).get("N", "0")) / 1000
    return UnknownExport(
        reference,
        data.get("export", {}),
        format_time(datetime.fromtimestamp(lock, UTC)),
        "the invocation handling it ended (timed out or ran out of memory) before it finished",
    )


def _started_job(data: str) -> str:
    try:
        return f"job {json.loads(data)['message']['job_id']}"
    except (ValueError, KeyError, TypeError):
        return "a job"
