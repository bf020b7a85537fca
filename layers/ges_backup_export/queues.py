"""Sending to SQS: the downstream queue (one message per started export) and the dead-letter queue."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ges_backup_export.errors import DependencyUnavailable
from ges_backup_export.export_request import ExportIdentity
from ges_backup_export.message_format import DownstreamMessage, sqs_text

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageRequestTypeDef


class SqsQueue:
    def __init__(self, url: str, client: SQSClient) -> None:
        self.url = url
        self._client = client
        self._fifo = url.endswith(".fifo")

    def send(
        self, body: str, *, group_id: str, deduplication_id: str, attributes: dict[str, str] | None = None
    ) -> str:
        """Send one message and return its SQS message id.

        `group_id` and `deduplication_id` are used only by FIFO queues, where a message re-sent with the
        same deduplication id within five minutes is dropped by SQS. Attribute values are written in the
        characters SQS accepts (`sqs_text`): one refused character would fail the whole send.
        """
        request: SendMessageRequestTypeDef = {
            "QueueUrl": self.url,
            "MessageBody": body,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": sqs_text(value)}
                for name, value in (attributes or {}).items()
            },
        }
        if self._fifo:
            request["MessageGroupId"] = group_id
            request["MessageDeduplicationId"] = deduplication_id
        try:
            answer = self._client.send_message(**request)
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailable(f"SQS did not take the message for {self.url}: {error}") from None
        return answer["MessageId"]


def send_downstream(queue: SqsQueue, message: DownstreamMessage) -> str:
    """The downstream message of a started export; on a FIFO queue grouped by graph and deduplicated by
    the export's identity, so that SQS drops a copy sent again within five minutes."""
    identity = ExportIdentity(
        message["project_id"], message["graph_id"], message["backup_id"], message["export_path"]
    )
    return queue.send(json.dumps(message), group_id=message["graph_id"], deduplication_id=identity.digest())
