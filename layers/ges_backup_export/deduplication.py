"""One GES export and one downstream message per export identity, with Powertools idempotency.

Each identity has one record in the idempotency table. Its stored result is the downstream message and
whether it was delivered:

- a new export takes the record's lock (PutItem), calls GES, sends the message, and stores both
  (UpdateItem): three AWS requests;
- a later request for the same identity finds the stored result (its PutItem fails and returns the
  record) and sends nothing: one AWS request;
- an export GES refused, or whose outcome is unknown, raises inside the lock, so Powertools deletes the
  record and nothing is remembered;
- when the record cannot be marked done after GES accepted the export (the table failed in between),
  the job_id is still returned and sent: a retry of the request would export again once the lock
  expires, which is worse than a record left locked until then;
- when GES accepted the export but the send failed, the job_id must not be forgotten: the send failure is
  stored as `delivered: false` rather than raised. The next request for the identity then delivers the
  stored message under a second lock (key prefix `redelivery`), so that two retries racing each other send
  it once, and marks the export record delivered.

Two persistence-layer instances, because Powertools configures a layer once, with the first config and
key prefix it sees (Powertools notes 1.9.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
)
from botocore.exceptions import BotoCoreError, ClientError

from ges_backup_export.errors import DependencyUnavailable, ExportInProgress
from ges_backup_export.export_request import ExportIdentity
from ges_backup_export.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "ges-backup-export"
_IDENTITY_FIELDS = "[project_id, graph_id, backup_id, export_path]"


class StartedExport(TypedDict):
    """The result stored for an identity: the downstream message (holding the job_id) and its fate."""

    message: dict[str, str]
    delivered: bool


def _run(identity: dict[str, str], action: Callable[[], Any]) -> Any:
    """What the idempotent wrappers call: `identity` is the key, `action` the work."""
    return action()


class ExportRecords:
    def __init__(self, table_name: str, ttl_seconds: int, client: DynamoDBClient) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath=_IDENTITY_FIELDS,
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ttl_seconds,
        )
        self._exports = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self._redeliveries = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self._export_once = self._once(self._exports, "export")
        self._redeliver_once = self._once(self._redeliveries, "redelivery")

    def _once(self, store: DynamoDBPersistenceLayer, name: str) -> Callable[..., Any]:
        """`_run`, made idempotent on its `identity` argument, with its records under `<prefix>:<name>#`."""
        once: Callable[..., Any] = idempotent_function(
            data_keyword_argument="identity",
            persistence_store=store,
            config=self._config,
            key_prefix=f"{KEY_PREFIX}:{name}",
        )(_run)
        return once

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Let a lock expire with the invocation that took it; call before any export of the invocation."""
        self._config.register_lambda_context(context)

    def export_once(self, identity: ExportIdentity, start: Callable[[], StartedExport]) -> StartedExport:
        """`start()`'s result the first time for this identity; the stored result afterwards."""
        finished: list[StartedExport] = []

        def start_and_keep() -> StartedExport:
            finished.append(start())
            return finished[0]

        try:
            result: StartedExport = _guarded(
                lambda: self._export_once(identity=identity.as_dict(), action=start_and_keep)
            )
        except DependencyUnavailable as error:
            if not finished:
                raise
            # GES accepted the export, but its record could not be marked done. Raising would have the
            # request retried, and once the lock expires a retry would export again: return the job_id.
            logger.error(
                "export started but its idempotency record was not completed; a duplicate of it waits "
                "until this invocation's lock expires, and after that would export again",
                extra={"job_id": finished[0]["message"]["job_id"], "error": error.message},
            )
            return finished[0]
        return result

    def redeliver_once(
        self, identity: ExportIdentity, started: StartedExport, send: Callable[[], None]
    ) -> None:
        """Run `send()` once for this identity, then mark its export record delivered."""

        def deliver() -> dict[str, bool]:
            send()
            return {"sent": True}

        _guarded(lambda: self._redeliver_once(identity=identity.as_dict(), action=deliver))
        try:
            self._exports.save_success(identity.as_dict(), {**started, "delivered": True})
        except (BotoCoreError, ClientError) as error:
            # The redelivery record already stops a second send; the next duplicate marks it again.
            logger.warning("could not mark the export delivered", extra={"error": str(error)})


def _guarded(call: Callable[[], Any]) -> Any:
    """Turn Powertools' idempotency errors into ours."""
    try:
        return call()
    except IdempotencyAlreadyInProgressError:
        raise ExportInProgress("the same export is being handled by another invocation right now") from None
    except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as error:
        raise DependencyUnavailable(f"the idempotency table failed: {error}") from None
