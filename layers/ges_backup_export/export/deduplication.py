"""One GES export and one downstream message per export identity, with Powertools idempotency.

Each identity has one record in the idempotency table, `ges-backup-export:export#<reference>`, where the
reference is the MD5 of the identity that Powertools keys it by. What the record holds:

- while an invocation handles the export: the lock (INPROGRESS, expiring with that invocation's time,
  `register_lambda_context`), carrying the export's details so that a person can settle it;
- once GES accepted it: the downstream message and whether it was delivered (a StartedExport). A later
  request for the identity finds it (its PutItem fails and returns the record) and sends nothing;
- once its outcome is unknown (GES answered 500/504 or nothing after the request was sent): that, with
  the reason (an UnknownOutcome). Every later request for it ends ExportOutcomeUnknown, without a POST,
  until a person settles it (`ops/settle.py`).

An export GES refused, or a transient failure before GES could have started anything, raises inside the
lock: Powertools deletes the record and a retry exports.

Powertools takes over a lock whose invocation's time ran out, and runs the function again. Here that
could POST an export a second time (the invocation that died may have sent it, and GES has no
idempotency key), so `_ExportStore` never takes over a lock: a request that finds an abandoned one ends
ExportOutcomeUnknown too. Its lock write (`_put_record`) is Powertools' own without that clause.

Costs: a new export is a PutItem and an UpdateItem; a duplicate is a PutItem. When GES accepted the export
but a send failed, the failure is stored (`delivered: false`, or `tracked: false` for the job tracker's
message) rather than raised, so the job_id is kept; the next request sends what is owed under a lock of
its own (key prefixes `redelivery`, `retracking`), so two racing retries send it once, and marks the
record. One persistence-layer instance per lock, because Powertools configures a layer once, with the
first config and key prefix it sees.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord
from botocore.exceptions import BotoCoreError, ClientError

from ges_backup_export.core.errors import DependencyUnavailable, ExportOutcomeUnknown
from ges_backup_export.core.idempotency import KEY_PREFIX, guarded, ran_once
from ges_backup_export.core.message_format import DownstreamMessage, ExportDetails, format_time
from ges_backup_export.core.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

EXPORT_KEY_PREFIX = f"{KEY_PREFIX}:export"
_IDENTITY_FIELDS = ("project_id", "graph_id", "backup_id", "export_path")
_INPROGRESS = STATUS_CONSTANTS["INPROGRESS"]


class StartedExport(TypedDict):  # an export GES accepted
    message: DownstreamMessage  # its downstream message, holding the job_id
    delivered: bool  # whether the downstream message was sent
    tracked: NotRequired[bool]  # whether the tracking message was sent (when the tracker follows exports)
    started_at: NotRequired[str]  # when GES accepted it, for the tracking message (older records: none)


class UnknownDetail(TypedDict):
    reason: str
    since: str
    export: ExportDetails


class UnknownOutcome(TypedDict):
    """GES may have started the export; no one knows, until a person settles it."""

    unknown: UnknownDetail


Outcome = StartedExport | UnknownOutcome
# What a started export may still owe: its downstream message, its tracking message.
Owed = Literal["delivered", "tracked"]


def export_reference(details: ExportDetails) -> str:
    """The reference of an export's record (what follows `#` in its key), as Powertools hashes the
    identity: the MD5 of its four fields as a JSON list."""
    identity = [details[name] for name in _IDENTITY_FIELDS]  # type: ignore[literal-required]
    return hashlib.md5(json.dumps(identity).encode(), usedforsecurity=False).hexdigest()


def unknown_outcome(details: ExportDetails, reason: str, since: str) -> UnknownOutcome:
    return {"unknown": {"reason": reason, "since": since, "export": details}}


class AbandonedLock(Exception):
    """The lock of an invocation whose time ran out (timeout, out of memory) while it may have sent the
    export to GES."""

    def __init__(self, record: DataRecord, locked_at: float) -> None:
        super().__init__(record.idempotency_key)
        self.locked_at = locked_at


def _run(identity: dict[str, str], action: Callable[[], Any]) -> Any:
    """What the idempotent wrappers call: `identity` holds the key, `action` is the work."""
    return action()


class ExportRecords:
    def __init__(self, table_name: str, ttl_seconds: int, client: DynamoDBClient) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath=f"[{', '.join(_IDENTITY_FIELDS)}]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ttl_seconds,
        )
        self._exports = _ExportStore(table_name=table_name, boto3_client=client)
        self._export_once = self._once(self._exports, "export")
        # One lock per owed message, so that two racing retries send each once.
        self._send_once: dict[Owed, Callable[..., Any]] = {
            "delivered": self._once(
                DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client), "redelivery"
            ),
            "tracked": self._once(
                DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client), "retracking"
            ),
        }

    def _once(self, store: DynamoDBPersistenceLayer, name: str) -> Callable[..., Any]:
        """`_run`, made idempotent on its `identity` argument, with its records under `<prefix>:<name>#`."""
        key_prefix = f"{KEY_PREFIX}:{name}"
        once: Callable[..., Any] = idempotent_function(
            data_keyword_argument="identity",
            persistence_store=store,
            config=self._config,
            key_prefix=key_prefix,
        )(_run)
        # Configured now rather than at the wrapper's first call (Powertools' way): Powertools marks a
        # store configured before it sets the key expression, so on a cold start a second thread could
        # hash a whole payload in between; and `send_owed_once` writes the export record through the
        # layer directly, which, in a process that never exported (ops.settle), would key that write by
        # the whole message and mark a stray record instead of the export's.
        store.configure(self._config, key_prefix=key_prefix)
        return once

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Let a lock expire with the invocation that took it; call before any export of the invocation."""
        self._config.register_lambda_context(context)

    def export_once(self, details: ExportDetails, start: Callable[[], Outcome]) -> tuple[Outcome, bool]:
        """`start()`'s outcome the first time for this identity, the stored one afterwards; and whether
        this call started it. When the record cannot be completed after `start()` ran, its outcome all the
        same: a retry would find the lock abandoned once it expires (an unknown outcome, for a person to
        settle), while what happened still goes downstream."""
        return ran_once(
            lambda keep: self._guarded(
                details, lambda: self._export_once(identity=dict(details), action=keep)
            ),
            start,
            note="a duplicate of this export waits until this invocation's lock expires, then ends "
            "ExportOutcomeUnknown",
            extra={"export_reference": export_reference(details)},
        )

    def send_owed_once(
        self, details: ExportDetails, started: StartedExport, owed: Owed, send: Callable[[], None]
    ) -> StartedExport:
        """Run `send()` once for this identity and what it owes, then mark the export record so; returns
        the record's new result."""

        def deliver() -> dict[str, bool]:
            send()
            return {"sent": True}

        self._guarded(details, lambda: self._send_once[owed](identity=dict(details), action=deliver))
        done: StartedExport = {**started, owed: True}  # type: ignore[misc]
        try:
            self._exports.save_success(dict(details), dict(done))
        except (BotoCoreError, ClientError) as error:
            # The lock above already stops a second send; the next duplicate marks the record again.
            logger.warning("could not mark the export's message sent", extra={"error": str(error)})
        return done

    def _guarded(self, details: ExportDetails, call: Callable[[], Any]) -> Any:
        """Powertools' idempotency errors as ours; a lock found abandoned is an unknown outcome."""
        try:
            return guarded(call, "the same export is being handled by another invocation right now")
        except DependencyUnavailable as error:
            if isinstance(error.__cause__, AbandonedLock):
                raise ExportOutcomeUnknown(_abandoned(details, error.__cause__.locked_at)) from None
            raise


def _abandoned(details: ExportDetails, locked_at: float) -> str:
    locked = format_time(datetime.fromtimestamp(locked_at, UTC))
    return (
        f"an invocation took this export's lock at {locked} and ended (timed out or ran out of memory) "
        f"before it finished, so it may have sent the export to GES. {settle_hint(details)}"
    )


def settle_hint(details: ExportDetails) -> str:
    """What a person does about an unknown outcome (README, the runbook)."""
    return (
        f"It is not sent to GES again: check the graph's jobs in GES (graph {details['graph_id']}), then "
        f"settle export {export_reference(details)} with `python -m ops.settle`: it started (with its "
        "job_id), or it did not"
    )


class _ExportStore(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB layer, except that its lock carries the export's details and is never taken
    over once expired (module docstring)."""

    def save_inprogress(self, data: dict[str, Any], remaining_time_in_millis: int | None = None) -> None:
        key = self._get_hashed_idempotency_key(data=data)
        if key is None:  # pragma: no cover - raise_on_no_idempotency_key is set
            return
        record = DataRecord(
            idempotency_key=key,
            status=_INPROGRESS,
            expiry_timestamp=self._get_expiry_timestamp(),
            response_data=json.dumps({"export": data}, sort_keys=True),
        )
        if remaining_time_in_millis is not None:
            record.in_progress_expiry_timestamp = int(time.time() * 1000) + remaining_time_in_millis
        self._put_record(record)

    def _put_record(self, data_record: DataRecord) -> None:
        item: dict[str, Any] = {
            **self._get_key(data_record.idempotency_key),
            self.expiry_attr: {"N": str(data_record.expiry_timestamp)},
            self.status_attr: {"S": data_record.status},
            self.data_attr: {"S": data_record.response_data},
        }
        if data_record.in_progress_expiry_timestamp is not None:
            item[self.in_progress_expiry_attr] = {"N": str(data_record.in_progress_expiry_timestamp)}
        now = time.time()
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                # Powertools' condition, without "or an INPROGRESS record whose lock expired".
                ConditionExpression="attribute_not_exists(#id) OR #expiry < :now",
                ExpressionAttributeNames={"#id": self.key_attr, "#expiry": self.expiry_attr},
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise self._existing(error, now) from error

    def _existing(self, error: ClientError, now: float) -> Exception:
        """What a failed lock write found: an abandoned lock, or a record Powertools handles."""
        item: dict[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
        if not item:
            return IdempotencyItemAlreadyExistsError()
        old = self._item_to_data_record(item)
        expiry = old.in_progress_expiry_timestamp
        if old.status == _INPROGRESS and expiry is not None and expiry < now * 1000:
            locked_at = float(old.expiry_timestamp or 0) - self.expires_after_seconds
            return AbandonedLock(old, locked_at=locked_at)
        return IdempotencyItemAlreadyExistsError(old_data_record=old)
