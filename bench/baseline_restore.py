"""The restore tester's floor: the calls a restore test makes, made with bare boto3 and requests. Not shipped.

The same calls as TestRestoreFunction, in the same order, and nothing else: no Powertools, no checks beyond
what the calls need, no logging, no retries of our own. A tick for one graph: the graph's details (GES),
the history's window (one Query), the graph's claim (a conditional PutItem), the graph's backups (GES), the
import's lock (a conditional PutItem of the shape Powertools' idempotency writes; a duplicate's fails and
returns the stored record), the import (GES), the follow-up (SendMessage, delayed) and the record's
completion (UpdateItem). A follow-up: the import job's status (GES); still running, the follow-up again;
ended well, the cleanup under its own lock (PutItem, the backups listed and the imported one deleted in
GES, UpdateItem), the event under its own lock (PutItem, PutEvents, UpdateItem), and the claim given back
(DeleteItem). The token comes from Secrets Manager, cached 5 minutes; clients are created at import. It
reads the tester's environment as the template sets it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

TOKEN_CACHE_SECONDS = 300
_CONFIG = Config(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
_secrets = boto3.client("secretsmanager", config=_CONFIG)
_dynamodb = boto3.client("dynamodb", config=_CONFIG)
_sqs = boto3.client("sqs", config=_CONFIG)
_events = boto3.client("events", config=_CONFIG)
_session = requests.Session()
_token: tuple[str, float] | None = None
_LOCK_CONDITION = (
    "attribute_not_exists(#id) OR #expiry < :now OR "
    "(#status = :inprogress AND attribute_exists(#in_progress_expiry)"
    " AND #in_progress_expiry < :now_in_millis)"
)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A tick for one graph, or an SQS batch of follow-ups (partial batch response)."""
    if "Records" not in event:
        return test(event, context)
    failures = []
    for record in event["Records"]:
        try:
            follow(json.loads(record["body"]), context)
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def test(event: dict[str, Any], context: Any) -> dict[str, Any]:
    project_id = event.get("project_id") or os.environ["GES_PROJECT_ID"]
    graph_id = event["graph_id"]
    tick = datetime.strptime(event["scheduled_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    _ges("GET", f"/v2/{project_id}/graphs/{graph_id}")
    chosen = _newest(project_id, graph_id, tick)
    identity = {
        "project_id": project_id, "graph_id": graph_id, "export_path": chosen["export_path"]["S"],
        "backup_id": f"import-{tick.strftime('%Y%m%dT%H%M%SZ')}",
    }  # fmt: skip
    test_key = _digest(identity)
    _claim(project_id, graph_id, test_key)
    backups = _ges("GET", f"/v2/{project_id}/graphs/{graph_id}/backups")["backup_list"]
    before = [backup["id"] for backup in backups]
    stored = _lock(f"baseline-import#{test_key}", context)
    if stored is not None:
        return {"restore_tests": [{"graph_id": graph_id, "outcome": "duplicate", "job_id": stored["job_id"]}]}
    path = f"/v2/{project_id}/graphs/{graph_id}/backups/import"
    job_id = _ges("POST", path, {"import_path": identity["export_path"]})["job_id"]
    message = {"job_id": job_id, **identity, "test": test_key, "before": before, "checks": 0}
    _follow_up(message)
    _complete(f"baseline-import#{test_key}", message)
    return {"restore_tests": [{"graph_id": graph_id, "outcome": "started", "job_id": job_id}]}


def follow(message: dict[str, Any], context: Any) -> None:
    project_id, graph_id = message["project_id"], message["graph_id"]
    status = _ges("GET", f"/v2/{project_id}/graphs/{graph_id}/jobs/{message['job_id']}/status")["status"]
    if status != "success":
        _follow_up({**message, "checks": message["checks"] + 1})
        return
    cleanup_key = f"baseline-cleanup#{message['test']}"
    cleanup = _lock(cleanup_key, context)
    if cleanup is None:
        backups = _ges("GET", f"/v2/{project_id}/graphs/{graph_id}/backups")["backup_list"]
        new = [b for b in backups if b["id"] not in message["before"]]
        (imported,) = [b for b in new if b["backup_method"] == "import"]
        _ges("DELETE", f"/v2/{project_id}/graphs/{graph_id}/backups/{imported['id']}")
        cleanup = {"imported_backup_id": imported["id"], "deleted": True}
        _complete(cleanup_key, cleanup)
    event_key = f"baseline-event#{message['test']}"
    if _lock(event_key, context) is None:
        detail = {"project_id": project_id, "graph_id": graph_id, "job_id": message["job_id"], **cleanup}
        _events.put_events(Entries=[{
            "Source": "ges-backup-export", "DetailType": "GES Backup Restore Test Passed",
            "Detail": json.dumps(detail), "EventBusName": os.environ["EVENT_BUS_NAME"],
        }])  # fmt: skip
        _complete(event_key, {"put": True})
    _dynamodb.delete_item(
        TableName=os.environ["IDEMPOTENCY_TABLE_NAME"],
        Key={"id": {"S": f"baseline-running#{project_id}#{graph_id}"}},
        ConditionExpression="test = :test",
        ExpressionAttributeValues={":test": {"S": message["test"]}},
    )


def _token_value() -> str:
    global _token
    if _token is None or time.monotonic() - _token[1] > TOKEN_CACHE_SECONDS:
        secret = _secrets.get_secret_value(SecretId=os.environ["GES_TOKEN_SECRET_ID"])
        _token = (secret["SecretString"], time.monotonic())
    return _token[0]


def _ges(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = _session.request(
        method,
        os.environ["GES_ENDPOINT"] + path,
        json=body,
        headers={"X-Auth-Token": _token_value()},
        timeout=float(os.environ["GES_TIMEOUT_SECONDS"]),
        allow_redirects=False,
    )
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def _newest(project_id: str, graph_id: str, tick: datetime) -> dict[str, Any]:
    """The newest export of the graph in the window before the tick (one Query)."""
    since = tick - timedelta(days=int(os.environ.get("RESTORE_TEST_WINDOW_DAYS", "30")))
    answer = _dynamodb.query(
        TableName=os.environ["HISTORY_TABLE_NAME"],
        KeyConditionExpression="#graph = :graph AND #ended BETWEEN :since AND :until",
        ExpressionAttributeNames={"#graph": "graph", "#ended": "ended"},
        ExpressionAttributeValues={
            ":graph": {"S": f"{project_id}#{graph_id}"},
            ":since": {"S": since.strftime("%Y-%m-%dT%H:%M:%SZ")},
            ":until": {"S": tick.strftime("%Y-%m-%dT%H:%M:%SZ") + "~"},
        },
    )
    newest: dict[str, Any] = answer["Items"][-1]
    return newest


def _claim(project_id: str, graph_id: str, test_key: str) -> None:
    now = int(time.time())
    _dynamodb.put_item(
        TableName=os.environ["IDEMPOTENCY_TABLE_NAME"],
        Item={
            "id": {"S": f"baseline-running#{project_id}#{graph_id}"},
            "test": {"S": test_key},
            "expiration": {"N": str(now + 90_000)},
        },
        ConditionExpression="attribute_not_exists(id) OR expiration < :now OR test = :test",
        ExpressionAttributeValues={":now": {"N": str(now)}, ":test": {"S": test_key}},
    )


def _lock(key: str, context: Any) -> dict[str, Any] | None:
    """Take a once-only step's lock; the stored result when the step was already done."""
    now = time.time()
    item = {
        "id": {"S": key},
        "expiration": {"N": str(int(now) + int(os.environ["IDEMPOTENCY_TTL_SECONDS"]))},
        "status": {"S": "INPROGRESS"},
        "in_progress_expiration": {"N": str(int(now * 1000) + context.get_remaining_time_in_millis())},
    }
    try:
        _dynamodb.put_item(
            TableName=os.environ["IDEMPOTENCY_TABLE_NAME"],
            Item=item,
            ConditionExpression=_LOCK_CONDITION,
            ExpressionAttributeNames={
                "#id": "id",
                "#expiry": "expiration",
                "#in_progress_expiry": "in_progress_expiration",
                "#status": "status",
            },
            ExpressionAttributeValues={
                ":now": {"N": str(int(now))},
                ":now_in_millis": {"N": str(int(now * 1000))},
                ":inprogress": {"S": "INPROGRESS"},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        old: Any = error.response.get("Item")
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException" or not old:
            raise
        if old["status"]["S"] != "COMPLETED":
            raise RuntimeError("the same step is in progress") from None
        stored: dict[str, Any] = json.loads(old["data"]["S"])
        return stored
    return None


def _follow_up(message: dict[str, Any]) -> None:
    _sqs.send_message(
        QueueUrl=os.environ["TRACKING_QUEUE_URL"],
        MessageBody=json.dumps(message),
        DelaySeconds=min(int(os.environ["JOB_POLL_INTERVAL_SECONDS"]) * 2 ** message["checks"], 900),
    )


def _complete(key: str, result: dict[str, Any]) -> None:
    _dynamodb.update_item(
        TableName=os.environ["IDEMPOTENCY_TABLE_NAME"],
        Key={"id": {"S": key}},
        UpdateExpression="SET #response_data = :response_data, #expiry = :expiry, #status = :status",
        ExpressionAttributeNames={"#response_data": "data", "#expiry": "expiration", "#status": "status"},
        ExpressionAttributeValues={
            ":response_data": {"S": json.dumps(result)},
            ":expiry": {"N": str(int(time.time()) + int(os.environ["IDEMPOTENCY_TTL_SECONDS"]))},
            ":status": {"S": "COMPLETED"},
        },
    )


def _digest(identity: dict[str, str]) -> str:
    return hashlib.md5(json.dumps(identity, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
