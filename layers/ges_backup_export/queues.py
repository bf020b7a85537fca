"""Sending to SQS: the downstream queue (one message per started export) and the dead-letter queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ges_backup_export.errors import DependencyUnavailable

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
        same deduplication id within five minutes is dropped by SQS.
        """
        request: SendMessageRequestTypeDef = {
            "QueueUrl": self.url,
            "MessageBody": body,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value}
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
