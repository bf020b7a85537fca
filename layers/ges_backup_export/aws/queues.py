"""Sending to SQS: the downstream queue (one message per started export) and the dead-letter queue."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from ges_backup_export.core.errors import ConfigurationError, DependencyUnavailable, shown_name
from ges_backup_export.core.message_format import (
    ERROR_CODE,
    ERROR_MESSAGE,
    MAX_MESSAGE_BYTES,
    REQUESTED_AT,
    DownstreamMessage,
    ExportIdentity,
    format_time,
    message_size,
    sqs_text,
)
from ges_backup_export.core.observability import logger

MAX_REASON_LENGTH = 4000  # characters of a reason a dead-lettered message carries
SQS_BATCH_SIZE = 10  # the most messages one SendMessageBatch takes

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef


@dataclass(frozen=True)
class Outgoing:
    """One message to send. `group_id` and `deduplication_id` are used only by FIFO queues, where a message
    re-sent with the same deduplication id within five minutes is dropped by SQS."""

    body: str
    group_id: str
    deduplication_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    delay_seconds: int = 0


class SqsQueue:
    def __init__(self, url: str, client: SQSClient) -> None:
        self.url = url
        self._client = client
        self._fifo = url.endswith(".fifo")

    def send(
        self,
        body: str,
        *,
        group_id: str,
        deduplication_id: str,
        attributes: dict[str, str] | None = None,
        delay_seconds: int = 0,
    ) -> str:
        """Send one message and return its SQS message id."""
        message = Outgoing(body, group_id, deduplication_id, attributes or {}, delay_seconds)
        try:
            answer = self._client.send_message(QueueUrl=self.url, **self._fields(message))
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailable(f"SQS did not take the message for {self.url}: {error}") from None
        return answer["MessageId"]

    def send_all(self, messages: list[Outgoing]) -> None:
        """Send the messages, ten per call (SQS's most); one that SQS did not take is DependencyUnavailable
        (sending them all again is for the caller, whose messages must bear repeating)."""
        for start in range(0, len(messages), SQS_BATCH_SIZE):
            chunk = messages[start : start + SQS_BATCH_SIZE]
            entries = [
                cast("SendMessageBatchRequestEntryTypeDef", {"Id": str(index), **self._fields(message)})
                for index, message in enumerate(chunk)
            ]
            try:
                answer = self._client.send_message_batch(QueueUrl=self.url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                raise DependencyUnavailable(
                    f"SQS did not take the messages for {self.url}: {error}"
                ) from None
            failed = answer.get("Failed") or []
            if failed:
                reason = f"{failed[0].get('Code')}: {failed[0].get('Message', '')}"
                raise DependencyUnavailable(
                    f"SQS did not take {len(failed)} of {len(chunk)} messages for {self.url} ({reason})"
                )

    def _fields(self, message: Outgoing) -> dict[str, Any]:
        """The fields of one message (as SendMessage and a SendMessageBatch entry name them). Attribute
        values are written in the characters SQS accepts (`sqs_text`): one refused character would fail
        the whole send."""
        entry: dict[str, Any] = {
            "MessageBody": message.body,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": sqs_text(value)}
                for name, value in message.attributes.items()
            },
        }
        if self._fifo:  # a FIFO queue delays per queue, not per message
            entry["MessageGroupId"] = message.group_id
            entry["MessageDeduplicationId"] = message.deduplication_id
        elif message.delay_seconds:
            entry["DelaySeconds"] = message.delay_seconds
        return entry


def send_downstream(queue: SqsQueue, message: DownstreamMessage, delay_seconds: int = 0) -> str:
    """The downstream message of a started export (or its tracking message, delayed); on a FIFO queue
    grouped by graph and deduplicated by the export's identity, so that SQS drops a copy sent again
    within five minutes."""
    identity = ExportIdentity(
        message["project_id"], message["graph_id"], message["backup_id"], message["export_path"]
    )
    return queue.send(
        json.dumps(message),
        group_id=message["graph_id"],
        deduplication_id=identity.digest(),
        delay_seconds=delay_seconds,
    )


def dead_letter(
    body: str,
    code: str,
    reason: str,
    *,
    group_id: str,
    deduplication_id: str,
    requested_at: datetime | None = None,
) -> Outgoing:
    """A message that can never succeed, `body` unchanged, with its reason in attributes (`error_code`,
    `error_message`) and its reference time (`requested_at`), which a redrive keeps."""
    attributes = {ERROR_CODE: code}
    if requested_at is not None:
        attributes[REQUESTED_AT] = format_time(requested_at)
    attributes[ERROR_MESSAGE] = _fitting_reason(body, attributes, reason[:MAX_REASON_LENGTH])
    return Outgoing(body, group_id, deduplication_id, attributes)


def send_dead_letters(queue: SqsQueue, letters: list[Outgoing]) -> None:
    """Send the dead letters (one call per ten), each logged with its reason's code."""
    if len(letters) == 1:
        (letter,) = letters
        queue.send(
            letter.body,
            group_id=letter.group_id,
            deduplication_id=letter.deduplication_id,
            attributes=letter.attributes,
        )
    else:
        queue.send_all(letters)
    for letter in letters:
        logger.error(
            "request sent to the dead-letter queue", extra={"error_code": letter.attributes[ERROR_CODE]}
        )


def _fitting_reason(body: str, attributes: dict[str, str], reason: str) -> str:
    """The reason, in characters SQS accepts, cut to what fits beside the body and the other attributes in
    one message (the function's ERROR log line has it whole)."""
    reason = sqs_text(reason)
    room = MAX_MESSAGE_BYTES - message_size(body, {**attributes, ERROR_MESSAGE: ""})
    if len(reason.encode()) <= room:
        return reason
    return reason.encode()[: max(room - 3, 0)].decode(errors="ignore") + "..."


class QueuesByArn:
    """The queues records come from, by their ARN (`arn:aws:sqs:<region>:<account>:<name>`): each URL asked
    of SQS once, for the life of the execution environment. Thread-safe."""

    def __init__(self, client: SQSClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._queues: dict[str, SqsQueue] = {}

    def by_arn(self, arn: str) -> SqsQueue:
        with self._lock:
            queue = self._queues.get(arn)
        if queue is not None:
            return queue
        parts = arn.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
            raise ConfigurationError(f"the record's eventSourceARN {shown_name(arn)} is no SQS queue ARN")
        try:
            answer = self._client.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailable(f"SQS did not give the URL of queue {parts[5]}: {error}") from None
        with self._lock:
            return self._queues.setdefault(arn, SqsQueue(answer["QueueUrl"], self._client))
