"""What a dead-lettered message is: its reason, and the request a redrive sends back for it.

The input dead-letter queue holds the requests the function dead-lettered (their reason in the
`error_code` and `error_message` attributes) and records SQS moved after `maxReceiveCount` (no reason:
`Unreported`). FailedRunsQueue holds Lambda's on-failure records of asynchronous invocations and
EventBridge Scheduler's dead-letter events. The formats are the function's own (message_format).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ges_backup_export.core.message_format import (
    ERROR_CODE,
    ERROR_MESSAGE,
    REQUESTED_AT,
    code_of,
    format_time,
    is_envelope,
    request_time_of,
)
from ops.redrive.plan import Candidate

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, MessageTypeDef

UNREPORTED = "Unreported"
UNREPORTED_DETAIL = "no error_code: SQS moved it after maxReceiveCount receives; find its id in the logs"
UNRECOGNIZED = "Unrecognized"
REASON_ATTRIBUTES = (ERROR_CODE, ERROR_MESSAGE)
# Lambda's own messages look like ours ("RequestId: ... Process exited before completing request").
_NOT_CODES = frozenset({"RequestId"})
_GROUP_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
FALLBACK_GROUP_ID = "redrive"


def classify(message: MessageTypeDef, failed_runs: bool) -> Candidate:
    """The reason of a received message and what a redrive would send for it."""
    body = message.get("Body", "")
    strings = {
        name: value.get("StringValue", "") for name, value in message.get("MessageAttributes", {}).items()
    }
    if not failed_runs:
        if ERROR_CODE not in strings:
            return _candidate(message, UNREPORTED, UNREPORTED_DETAIL, body, _forwarded(message))
        reason, detail = strings[ERROR_CODE], strings.get(ERROR_MESSAGE, "")
        return _candidate(message, reason, detail, body, _forwarded(message))
    record = _json_object(body)
    if record is not None and "requestContext" in record and "requestPayload" in record:
        reason, detail = failure_reason(record)
        payload = record["requestPayload"]
        return _candidate(
            message, reason, detail, json.dumps(_request_of(payload)), _run_time(payload, detail)
        )
    if strings.get("ERROR_CODE"):
        return _candidate(message, strings["ERROR_CODE"], strings.get("ERROR_MESSAGE", ""), body, {})
    detail = "neither a Lambda invocation record nor an EventBridge Scheduler dead-letter event"
    return _candidate(message, UNRECOGNIZED, detail, None, {})


def failure_reason(record: dict[str, Any]) -> tuple[str, str]:
    """The reason and error message of a Lambda on-failure invocation record."""
    response = record.get("responsePayload")
    response = response if isinstance(response, dict) else {}
    message = str(response.get("errorMessage") or "")
    code = code_of(message)
    if code and code not in _NOT_CODES:
        return code, message
    context = record.get("requestContext")
    condition = context.get("condition") if isinstance(context, dict) else None
    return str(response.get("errorType") or condition or UNREPORTED), message or str(condition or "")


def _request_of(payload: object) -> object:
    """The request a failed run carried. An EventBridge envelope's tick becomes `scheduled_time`."""
    if is_envelope(payload) and isinstance(payload["detail"], dict):
        detail: dict[str, Any] = payload["detail"]
        tick = payload.get("time")
        if isinstance(detail.get("exports"), list):
            return {**detail, "exports": [_at(entry, tick) for entry in detail["exports"]]}
        return _at(detail, tick)
    return payload


def _run_time(payload: object, error_message: str) -> dict[str, MessageAttributeValueTypeDef]:
    """The time a failed direct run resolved its request against (its error text ends with it), as the
    `requested_at` attribute: the redriven request then resolves `latest` and its placeholders the same.
    An envelope's tick is the request's `scheduled_time` already."""
    at = request_time_of(error_message)
    if at is None or is_envelope(payload):
        return {}
    return {REQUESTED_AT: {"DataType": "String", "StringValue": at}}


def _at(request: object, tick: object) -> object:
    if isinstance(request, dict) and isinstance(tick, str) and "scheduled_time" not in request:
        return {**request, "scheduled_time": tick}
    return request


def _candidate(
    message: MessageTypeDef,
    reason: str,
    detail: str,
    body: str | None,
    attributes: dict[str, MessageAttributeValueTypeDef],
) -> Candidate:
    return Candidate(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        reason=reason,
        detail=detail,
        body=body,
        group_id=_group_id(message, body),
        attributes=attributes,
    )


def _forwarded(message: MessageTypeDef) -> dict[str, MessageAttributeValueTypeDef]:
    """The message attributes that go back with the body: all but the reason the function added, and
    `requested_at` (the function's reference time for the record: from the function, else when SQS
    first received the message, which SQS keeps when it moves a message to its dead-letter queue)."""
    kept: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in message.get("MessageAttributes", {}).items():
        if name in REASON_ATTRIBUTES:
            continue
        kept[name] = {"DataType": value["DataType"]}
        if "StringValue" in value:
            kept[name]["StringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            kept[name]["BinaryValue"] = value["BinaryValue"]
    sent = message.get("Attributes", {}).get("SentTimestamp")
    if REQUESTED_AT not in kept and sent and sent.isdigit():
        first = format_time(datetime.fromtimestamp(int(sent) / 1000, UTC))
        kept[REQUESTED_AT] = {"DataType": "String", "StringValue": first}
    return kept


def _group_id(message: MessageTypeDef, body: str | None) -> str:
    """For a FIFO input queue: the message's own group, else its graph id (as downstream uses)."""
    group = message.get("Attributes", {}).get("MessageGroupId")
    if group:
        return group
    request = _json_object(body or "")
    graph_id = request.get("graph_id") if request else None
    if isinstance(graph_id, str) and _GROUP_ID.fullmatch(graph_id):
        return graph_id
    return FALLBACK_GROUP_ID


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
