"""The job tracker under test, for the integration tests and the soak.

`Tracker` invokes the tracker's real handler as Lambda would, in the environment the template wires for
it (its own dead-letter queue, bus, poll interval and timeout), polls the tracking queue with the event
source mapping's `QueuePoller`, and reads the completion events an EventBridge rule caught (a rule on
the bus that sends them to a queue in moto); all of it tests/function_under_test.py's. `metrics_in`
reads the embedded-metric-format lines the handlers print on stdout.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from ges_backup_export.tracker.runtime import current_tracker
from local.aws import Stack
from local.lambda_runtime import Handler, load_function
from tests.function_under_test import CaughtEvent, FunctionUnderTest, Message
from tests.stand_ins import VirtualWaits

__all__ = ["CaughtEvent", "Tracker", "metric_values", "metrics_in", "sqs_record"]

TRACKER = "TrackExportFunction"
TRACKER_CODE = "functions/track_export/"
TRACKING_QUEUE = "TrackingQueue"
TRACKING_DEAD_LETTERS = "TrackingDeadLetterQueue"


class Tracker(FunctionUnderTest):
    """The deployed job tracker, locally, in the environment the template wires for it with `overrides`;
    change `environment` to change a setting. The GES client's waits between attempts are recorded in
    `pauses` (`waits`; None: slept). Completion events are caught from its creation on."""

    name = TRACKER

    def __init__(self, stack: Stack, overrides: Mapping[str, str] | None = None) -> None:
        self.waits: VirtualWaits | None = VirtualWaits()
        self.pauses = self.waits.pauses
        super().__init__(stack, {**stack.environment_of(TRACKER), **(overrides or {})})
        self.catch_events()

    def load(self) -> Handler:
        return load_function(TRACKER_CODE)

    def install_waits(self) -> None:
        if self.waits is not None:
            self.waits.install(current_tracker().ges)

    @property
    def queue_url(self) -> str:
        return self.stack.queue_urls[TRACKING_QUEUE]

    def receive_without_deleting(self) -> dict[str, Any]:
        """One tracking message as the event source mapping would deliver it, left in the queue (visible
        again at once): for an invocation whose message is not deleted afterwards."""
        (message,) = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=1,
            VisibilityTimeout=0,
            MessageSystemAttributeNames=["All"],
        )["Messages"]
        return {"Records": [sqs_record(message["Body"], message["MessageId"], message["ReceiptHandle"])]}

    def tracking_messages(self) -> list[dict[str, Any]]:
        return [message.body for message in self.take(TRACKING_QUEUE)]

    def dead_letters(self) -> list[Message]:
        return self.take(TRACKING_DEAD_LETTERS)


def sqs_record(body: str, message_id: str | None = None, receipt_handle: str = "local") -> dict[str, Any]:
    """One record of an `aws:sqs` event, as Lambda's event source mapping builds it."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": receipt_handle,
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:tracking",
        "awsRegion": "eu-west-1",
    }


# --- metrics ------------------------------------------------------------------------------------------


def metrics_in(output: str) -> list[dict[str, Any]]:
    """The embedded-metric-format documents among the lines of `output` (a handler's stdout)."""
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document: dict[str, Any] = json.loads(line)
            documents.append(document)
    return documents


def metric_values(documents: list[dict[str, Any]], name: str) -> list[float]:
    """Every value of metric `name` across the documents."""
    values: list[float] = []
    for document in documents:
        if name in document:
            found = document[name]
            values += found if isinstance(found, list) else [found]
    return values
