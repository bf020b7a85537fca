"""The job tracker under test, for the integration tests and the soak.

`Tracker` invokes the tracker's real handler as Lambda would, in the environment the template wires for
it (its own dead-letter queue, bus, poll interval and timeout), polls the tracking queue with the event
source mapping's `QueuePoller`, and reads the completion events an EventBridge rule caught (`catch_events`:
a rule on the bus that sends them to a queue in moto). `metrics_in` reads the embedded-metric-format lines
the handlers print on stdout.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from ges_backup_export.core.errors import ConfigurationError
from ges_backup_export.tracker.runtime import current_tracker
from local.aws import Stack, catch_events, queue_depth, string_attributes, take_messages
from local.lambda_runtime import LocalContext, PollResult, QueuePoller, function_environment, load_function
from tests.stand_ins import Message, VirtualWaits
from tests.tokens import assert_no_token

TRACKER = "TrackExportFunction"
TRACKER_CODE = "functions/track_export/"
TRACKING_QUEUE = "TrackingQueue"
TRACKING_DEAD_LETTERS = "TrackingDeadLetterQueue"


def tracker_property(stack: Stack, name: str) -> Any:
    """A property of the tracker function in the stack's template."""
    return stack.function_property(name, TRACKER)


def tracker_batch_size(stack: Stack) -> int:
    """BatchSize of the tracker's SQS event source, as the template sets it."""
    (event,) = tracker_property(stack, "Events").values()
    return int(event["Properties"]["BatchSize"])


@dataclass(frozen=True)
class CaughtEvent:
    """A completion event as a rule's target receives it."""

    source: str
    detail_type: str
    detail: dict[str, Any]


class Tracker:
    """The deployed job tracker, locally. `environment` is its own (the template's, with `overrides`);
    change it to change a setting. The GES client's waits between attempts are recorded in `pauses`
    instead of slept (`waits`; None: slept)."""

    def __init__(self, stack: Stack, overrides: Mapping[str, str] | None = None) -> None:
        self.stack = stack
        self.environment = {**stack.environment_of(TRACKER), **(overrides or {})}
        self.caught_url = catch_events(stack)
        self.waits: VirtualWaits | None = VirtualWaits()
        self.pauses = self.waits.pauses
        self.sqs = boto3.client("sqs")
        with function_environment(self.environment):
            self._handler = load_function(TRACKER_CODE)

    @property
    def queue_url(self) -> str:
        return self.stack.queue_urls[TRACKING_QUEUE]

    def handler(self, event: Any, context: Any) -> Any:
        """The real handler, in the tracker's environment."""
        with function_environment(self.environment):
            if self.waits is not None:
                with contextlib.suppress(ConfigurationError):  # the handler reports a bad setting itself
                    self.waits.install(current_tracker().ges)
            return self._handler(event, context)

    def invoke(self, event: Any) -> Any:
        result = self.handler(copy.deepcopy(event), LocalContext(timeout_seconds=self.timeout_seconds))
        assert_no_token(result)
        return result

    @property
    def timeout_seconds(self) -> float:
        return float(tracker_property(self.stack, "Timeout"))

    def send(self, body: Any) -> str:
        """A tracking message on the tracking queue (a dict is sent as JSON)."""
        text = body if isinstance(body, str) else json.dumps(body)
        message_id: str = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=text)["MessageId"]
        return message_id

    def poller(self) -> QueuePoller:
        return QueuePoller(
            self.handler,
            self.queue_url,
            self.stack.queue_arns[TRACKING_QUEUE],
            batch_size=tracker_batch_size(self.stack),
            timeout_seconds=self.timeout_seconds,
        )

    def drain(self, max_batches: int = 100) -> PollResult:
        """Poll the tracking queue until it is empty (re-sent checks included); the totals. Fails when the
        queue still holds messages after `max_batches` batches: a job followed forever."""
        total = self.poller().drain(max_batches)
        assert queue_depth(self.queue_url) == (0, 0), "the tracking queue is not empty"
        return total

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

    def events(self) -> list[CaughtEvent]:
        """Every completion event caught since the last call."""
        taken = take_messages(self.caught_url)
        assert_no_token(taken)
        events = [json.loads(message["Body"]) for message in taken]
        return [CaughtEvent(event["source"], event["detail-type"], event["detail"]) for event in events]

    def take(self, queue: str) -> list[Message]:
        """Every message now in the queue (by logical id), removed from it."""
        messages = take_messages(self.stack.queue_urls[queue])
        assert_no_token(messages)
        return [Message(message["Body"], string_attributes(message)) for message in messages]

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
