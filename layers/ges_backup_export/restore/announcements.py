"""The restore tests' events: one per test (or per import by hand), put once, and their metrics.

Each event is put under a Powertools idempotency lock keyed on the test (`ges-backup-export:restore-event#`
in the idempotency table), as the job tracker puts one event per export job (announcements.py): a
follow-up message delivered twice, a retried tick, announce nothing a second time. The same caveat:
EventBridge has no idempotency key, so a put whose answer never came may be put again by the retry
(logged); consumers key on the test (`detail.job_id`, or project, graph and `requested_at` for a test
that imported nothing).

Metrics (namespace GesBackupExport): RestoreTestsPassed, RestoreTestsFailed (failed, timed out, nothing
to restore), RestoreTestSeconds (the import job's own time, GES's begin to end); imports by hand count
in none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from ges_backup_export.aws.events import put_event
from ges_backup_export.core import metrics
from ges_backup_export.core.idempotency import KEY_PREFIX, guarded, ran_once
from ges_backup_export.core.observability import logger
from ges_backup_export.restore.history import ges_time
from ges_backup_export.restore.messages import DETAIL_TYPES, Kind, RestoreDetail, Result
from ges_backup_export.tracker.announcements import ANNOUNCED_TTL_SECONDS

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient

RESTORE_TESTS_PASSED = "RestoreTestsPassed"
RESTORE_TESTS_FAILED = "RestoreTestsFailed"
RESTORE_TEST_SECONDS = "RestoreTestSeconds"


def _run(key: dict[str, str], action: Callable[[], Any]) -> Any:
    """What the idempotent wrappers call: `key` holds the test, `action` the work."""
    return action()


_IN_PROGRESS = "this restore test is being handled by another invocation right now"


class TestRecords:
    """A test's once-only steps, each under its own lock keyed on the test: its cleanup (whose result,
    the backup found and whether it was deleted, is kept for a redelivered follow-up) and its event."""

    __test__ = False  # not a pytest class

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="test",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ANNOUNCED_TTL_SECONDS,
        )
        self._steps = {
            name: self._once(table_name, client, name)
            for name in ("restore-choice", "restore-cleanup", "restore-event")
        }

    def _once(self, table_name: str, client: DynamoDBClient, name: str) -> Callable[..., Any]:
        store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        key_prefix = f"{KEY_PREFIX}:{name}"
        once: Callable[..., Any] = idempotent_function(
            data_keyword_argument="key", persistence_store=store, config=self._config, key_prefix=key_prefix
        )(_run)
        store.configure(self._config, key_prefix=key_prefix)  # now, as deduplication.ExportRecords does
        return once

    def register_lambda_context(self, context: LambdaContext) -> None:
        self._config.register_lambda_context(context)

    def choice_once(self, tick: str, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """`action()`'s result (the export a tick tests on a graph) the first time for `tick` (the graph and
        the tick's time), the stored one afterwards: a retry of the tick tests the same export even when the
        history has grown meanwhile (the tracker records an export minutes after its job ended)."""
        result, _ = self._step(
            "restore-choice", tick, action, "a retry of this tick waits until this invocation's lock expires"
        )
        return cast(dict[str, Any], result)

    def cleanup_once(self, test: str, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """`action()`'s result the first time for the test, the stored one afterwards."""
        result, _ = self._step(
            "restore-cleanup",
            test,
            action,
            "a redelivery of this follow-up waits until this invocation's lock expires",
        )
        return cast(dict[str, Any], result)

    def event_once(self, test: str, action: Callable[[], Any]) -> bool:
        """Run `action` (the put) unless it ran for the test before; whether this call ran it."""
        _, ran_here = self._step(
            "restore-event",
            test,
            action,
            "a redelivery waits until this invocation's lock expires, and may put the event again",
        )
        return ran_here

    def _step(self, name: str, test: str, action: Callable[[], Any], note: str) -> tuple[Any, bool]:
        """`action()` under the step's lock for `test`: its result (or the stored one) and whether it ran
        here; `note` says, when the table fails after the work, what a retry will do."""
        return ran_once(
            lambda keep: guarded(lambda: self._steps[name](key={"test": test}, action=keep), _IN_PROGRESS),
            action,
            note=note,
            extra={"test": test},
        )


class RestoreAnnouncer:
    def __init__(self, events: EventBridgeClient, bus: str, records: TestRecords) -> None:
        self._events = events
        self._bus = bus
        self._records = records

    def announce(self, test: str, kind: Kind, result: Result, detail: RestoreDetail) -> bool:
        """Put the test's event unless it was put before; whether this call put it."""
        return self._records.event_once(test, lambda: self._put(kind, result, detail))

    def _put(self, kind: Kind, result: Result, detail: RestoreDetail) -> dict[str, bool]:
        detail_type = DETAIL_TYPES[(kind, result)]
        put_event(self._events, self._bus, detail_type, detail, what="restore event", retried="the follow-up")
        log = logger.info if result == "passed" else logger.error
        log("restore event put", extra={"detail_type": detail_type, "job_id": detail.get("job_id")})
        if kind == "test":
            _count(result, detail)
        return {"put": True}


def _count(result: Result, detail: RestoreDetail) -> None:
    metrics.count(RESTORE_TESTS_PASSED if result == "passed" else RESTORE_TESTS_FAILED)
    begin, end = ges_time(detail.get("begin_time")), ges_time(detail.get("end_time"))
    if begin is not None and end is not None and result != "timed_out":
        metrics.seconds(RESTORE_TEST_SECONDS, (end - begin).total_seconds())
