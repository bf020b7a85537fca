"""One import at a time per graph: a claim in the idempotency table while a test's import runs.

The backup an import added is told apart from the others by comparing the graph's backup list before and
after (follow.py), and GES runs one operation at a time on a graph: so a graph whose previous import is
still being followed is skipped (and logged), never imported into a second time. The claim
(`ges-backup-export:restore-running#<project>#<graph>`) names the test holding it; the test takes it
before its import and gives it back once its event is put, or when GES refused the import. A claim
outlives its test by no more than the follow-up's timeout and an hour (`expiration`), so a test whose
follow-up was lost blocks the graph no longer than that. The same test takes its own claim again (a
retried tick).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ges_backup_export.core.errors import DependencyUnavailable
from ges_backup_export.core.idempotency import KEY_PREFIX
from ges_backup_export.core.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MARGIN_SECONDS = 3600


class RunningImports:
    def __init__(self, table_name: str, client: DynamoDBClient, hold_seconds: int) -> None:
        self._table = table_name
        self._client = client
        self._hold = hold_seconds + MARGIN_SECONDS

    def claim(self, project_id: str, graph_id: str, test: str) -> tuple[str | None, bool]:
        """Claim the graph for `test`: (None, whether this call took it rather than found it the test's own
        already), or (the test that holds it, False)."""
        now = int(time.time())
        try:
            answer = self._client.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": _key(project_id, graph_id)},
                    "test": {"S": test},
                    "expiration": {"N": str(now + self._hold)},
                },
                ConditionExpression="attribute_not_exists(id) OR expiration < :now OR test = :test",
                ExpressionAttributeValues={":now": {"N": str(now)}, ":test": {"S": test}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise DependencyUnavailable(f"the idempotency table failed: {error}") from None
            item: dict[str, Any] = error.response.get("Item") or {}  # type: ignore[assignment]
            return str(item.get("test", {}).get("S", "another test")), False
        except BotoCoreError as error:
            raise DependencyUnavailable(f"the idempotency table failed: {error}") from None
        old = answer.get("Attributes") or {}
        held = old.get("test", {}).get("S") == test and int(old.get("expiration", {}).get("N", "0")) >= now
        return None, not held

    def release(self, project_id: str, graph_id: str, test: str) -> None:
        """Give the graph back, if `test` still holds it. Best effort: a claim left behind expires."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"id": {"S": _key(project_id, graph_id)}},
                ConditionExpression="test = :test",
                ExpressionAttributeValues={":test": {"S": test}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                logger.warning(
                    "could not give the graph back; its claim expires", extra={"error": str(error)}
                )
        except BotoCoreError as error:
            logger.warning("could not give the graph back; its claim expires", extra={"error": str(error)})


def _key(project_id: str, graph_id: str) -> str:
    return f"{KEY_PREFIX}:restore-running#{project_id}#{graph_id}"
