"""The benchmark's floor: the calls our handler makes, made with bare boto3 and requests. Not shipped.

No Powertools, no checks beyond what the calls need, no logging: the token from Secrets Manager
(cached 5 minutes), a conditional PutItem of the shape Powertools' idempotency writes (the lock; a
duplicate's PutItem fails and returns the stored record), the GES POST, the downstream SendMessage (and
the tracking one, with TRACKING_QUEUE_URL), and the UpdateItem that stores the message. Clients are
created at import, with the botocore Config of ges_backup_export.runtime. It reads the function's
environment as the template sets it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime
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
_session = requests.Session()
_token: tuple[str, float] | None = None  # the token and when it was read
_LOCK_CONDITION = (
    "attribute_not_exists(#id) OR #expiry < :now OR "
    "(#status = :inprogress AND attribute_exists(#in_progress_expiry)"
    " AND #in_progress_expiry < :now_in_millis)"
)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An SQS batch (partial batch response) or one request."""
    if "Records" not in event:
        return export(event, context)
    failures = []
    for record in event["Records"]:
        try:
            export(json.loads(record["body"]), context)
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def export(request: dict[str, Any], context: Any) -> dict[str, Any]:
    identity = {
        "project_id": request.get("project_id") or os.environ["GES_PROJECT_ID"],
        "graph_id": request["graph_id"],
        "backup_id": request["backup_id"],
        "export_path": request["export_path"],
    }
    key = "baseline#" + hashlib.md5(json.dumps(identity, sort_keys=True).encode()).hexdigest()  # noqa: S324
    stored = _lock(key, context)
    if stored is not None:
        return stored
    job_id = _post_export(identity)
    message = {
        "job_id": job_id,
        **identity,
        "trigger": "direct",
        "requested_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    _send(message)
    _complete(key, message)
    return message


def _token_value() -> str:
    global _token
    if _token is None or time.monotonic() - _token[1] > TOKEN_CACHE_SECONDS:
        secret = _secrets.get_secret_value(SecretId=os.environ["GES_TOKEN_SECRET_ID"])
        _token = (secret["SecretString"], time.monotonic())
    return _token[0]


def _lock(key: str, context: Any) -> dict[str, Any] | None:
    """Take the identity's lock; the stored message when the export was already done."""
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
            raise RuntimeError("the same export is in progress") from None
        stored: dict[str, Any] = json.loads(old["data"]["S"])
        return stored
    return None


def _post_export(identity: dict[str, str]) -> str:
    url = (
        f"{os.environ['GES_ENDPOINT']}/v2/{identity['project_id']}/graphs/{identity['graph_id']}"
        "/backups/export"
    )
    response = _session.post(
        url,
        json={"backup_id": identity["backup_id"], "export_path": identity["export_path"]},
        headers={"X-Auth-Token": _token_value()},
        timeout=float(os.environ["GES_TIMEOUT_SECONDS"]),
        allow_redirects=False,
    )
    response.raise_for_status()
    job_id: str = response.json()["job_id"]
    return job_id


def _send(message: dict[str, str]) -> None:
    """The downstream message, then (with TRACKING_QUEUE_URL) the tracker's, delayed."""
    _sqs.send_message(QueueUrl=os.environ["DOWNSTREAM_QUEUE_URL"], MessageBody=json.dumps(message))
    if os.environ.get("TRACKING_QUEUE_URL"):
        _sqs.send_message(
            QueueUrl=os.environ["TRACKING_QUEUE_URL"],
            MessageBody=json.dumps(message),
            DelaySeconds=int(os.environ.get("JOB_POLL_INTERVAL_SECONDS", "30")),
        )


def _complete(key: str, message: dict[str, str]) -> None:
    _dynamodb.update_item(
        TableName=os.environ["IDEMPOTENCY_TABLE_NAME"],
        Key={"id": {"S": key}},
        UpdateExpression="SET #response_data = :response_data, #expiry = :expiry, #status = :status",
        ExpressionAttributeNames={"#response_data": "data", "#expiry": "expiration", "#status": "status"},
        ExpressionAttributeValues={
            ":response_data": {"S": json.dumps(message)},
            ":expiry": {"N": str(int(time.time()) + int(os.environ["IDEMPOTENCY_TTL_SECONDS"]))},
            ":status": {"S": "COMPLETED"},
        },
    )
