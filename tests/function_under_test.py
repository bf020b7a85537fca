"""What every function under test shares: its real handler invoked as Lambda would, its GES client's
waits recorded instead of slept, its SQS event source polled, and what it sent read back.

The export function (tests/stand_ins.py `Function`), the job tracker (tracker_stand_ins.py), the restore
tester (restore_stand_ins.py) and the token rotation (rotation_stand_ins.py) each say which function of
the template they are, which environment they run in, and how to reach their GES client's waits.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from ges_backup_export.core.errors import ConfigurationError, ExportError
from local.aws import Stack, catch_events, queue_depth, string_attributes, take_messages
from local.lambda_runtime import Handler, LocalContext, PollResult, QueuePoller, function_environment
from tests.tokens import assert_no_token


@dataclass
class Message:
    raw_body: str
    attributes: dict[str, str]

    @property
    def body(self) -> Any:
        return json.loads(self.raw_body)


@dataclass(frozen=True)
class CaughtEvent:
    """An event as a rule's target receives it."""

    source: str
    detail_type: str
    detail: dict[str, Any]


class FunctionUnderTest:
    """Function `name` of the stack's template. `environment`: the variables it runs with on top of the
    process's (empty for a function whose environment the test sets in the process itself)."""

    name = ""

    def __init__(self, stack: Stack, environment: Mapping[str, str] | None = None) -> None:
        self.stack = stack
        self.environment = dict(environment or {})
        self.sqs = boto3.client("sqs")
        self.timeout_seconds = float(stack.function_property("Timeout", self.name))
        self._caught_url: str | None = None
        with self.in_its_environment():
            self._handler = self.load()

    def load(self) -> Handler:
        """The handler, imported as Lambda imports it."""
        raise NotImplementedError

    def install_waits(self) -> None:
        """Have the current runtime's clients record their waits instead of sleeping (may raise
        ConfigurationError: the handler reports a bad setting itself)."""

    @contextlib.contextmanager
    def in_its_environment(self) -> Iterator[None]:
        with function_environment(self.environment):
            yield

    def handler(self, event: Any, context: Any) -> Any:
        """The real handler, in the function's environment, its clients' waits recorded."""
        with self.in_its_environment():
            with contextlib.suppress(ConfigurationError):
                self.install_waits()
            return self._handler(event, context)

    def invoke(self, event: Any, timeout_seconds: float | None = None) -> Any:
        context = LocalContext(timeout_seconds=timeout_seconds or self.timeout_seconds)
        result = self.handler(copy.deepcopy(event), context)
        assert_no_token(result)
        return result

    def invoke_failing(self, event: Any, timeout_seconds: float | None = None) -> ExportError:
        with pytest.raises(ExportError) as raised:
            self.invoke(event, timeout_seconds)
        assert_no_token(str(raised.value))
        return raised.value

    # --- its queue --------------------------------------------------------------------------------
    @property
    def queue(self) -> str:
        """The logical id of the queue that triggers the function (its one SQS event source)."""
        (event,) = [
            event
            for event in self.stack.function_property("Events", self.name).values()
            if event["Type"] == "SQS"
        ]
        queue: str = event["Properties"]["Queue"]["Fn::GetAtt"][0]
        return queue

    def send(self, body: Any) -> str:
        """A message on the function's queue (anything but a string is sent as JSON)."""
        text = body if isinstance(body, str) else json.dumps(body)
        url = self.stack.queue_urls[self.queue]
        message_id: str = self.sqs.send_message(QueueUrl=url, MessageBody=text)["MessageId"]
        return message_id

    def poller(self, **options: Any) -> QueuePoller:
        """The SQS event source mapping of the function's queue, as the template configures it."""
        return QueuePoller(
            self.handler,
            self.stack.queue_urls[self.queue],
            self.stack.queue_arns[self.queue],
            batch_size=self.stack.batch_size(self.name),
            timeout_seconds=self.timeout_seconds,
            **options,
        )

    def drain(self, max_batches: int = 100) -> PollResult:
        """Poll the function's queue until it is empty; the totals. Fails when it still holds messages after
        `max_batches` batches (a job followed forever)."""
        total = self.poller().drain(max_batches)
        assert queue_depth(self.stack.queue_urls[self.queue]) == (0, 0), f"{self.queue} is not empty"
        return total

    def take(self, queue: str) -> list[Message]:
        """Every message now in the queue (by logical id), removed from it."""
        messages = take_messages(self.stack.queue_urls[queue])
        assert_no_token(messages)
        return [Message(message["Body"], string_attributes(message)) for message in messages]

    # --- events on the bus -------------------------------------------------------------------------
    def catch_events(self) -> None:
        """From now on, the events on the bus are caught by a rule (read them with `events`)."""
        if self._caught_url is None:
            self._caught_url = catch_events(self.stack)

    def events(self) -> list[CaughtEvent]:
        """Every event caught since the last call."""
        assert self._caught_url is not None, "catch_events() first"
        taken = take_messages(self._caught_url)
        assert_no_token(taken)
        events = [json.loads(message["Body"]) for message in taken]
        return [CaughtEvent(event["source"], event["detail-type"], event["detail"]) for event in events]
