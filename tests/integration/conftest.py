"""The stand-ins every integration test runs against, over real sockets.

moto in server mode (Secrets Manager, DynamoDB, SQS) and the fake GES start once per session; each test
gets fresh resources created from template.yaml, the function's environment as the template wires it,
and a `Function` to invoke the real handler and read the queues it writes to.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from ges_backup_export.errors import ConfigurationError, ExportError
from ges_backup_export.observability import logger
from ges_backup_export.runtime import current_runtime
from local.aws import Stack, aws_environment, deploy, moto_server, string_attributes, take_messages
from local.aws_proxy import AwsProxy
from local.fake_ges import FakeGes
from local.lambda_runtime import LocalContext, QueuePoller, load_handler
from tests import reliability
from tests.conftest import assert_no_token, canary_token

PROJECT = "0a1b2c3d4e5f67890a1b2c3d4e5f6789"
EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll until `condition()` is true (for work another thread finishes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture(scope="session")
def aws_proxy() -> Iterator[AwsProxy]:
    """moto behind the counting, fault-injecting proxy; every boto3 client goes through the proxy."""
    with moto_server() as url, AwsProxy(url).running() as proxy, pytest.MonkeyPatch.context() as patch:
        for name, value in aws_environment(proxy.url).items():
            patch.setenv(name, value)
        yield proxy


@pytest.fixture(scope="session")
def aws_endpoint(aws_proxy: AwsProxy) -> str:
    return aws_proxy.url


@pytest.fixture
def aws(aws_proxy: AwsProxy) -> Iterator[AwsProxy]:
    """The AWS side of one test: no faults and no counted requests at its start."""
    aws_proxy.clear_faults()
    aws_proxy.reset_counts()
    fired = aws_proxy.faults_fired
    yield aws_proxy
    aws_proxy.clear_faults()
    reliability.add("fault_injections", aws_proxy.faults_fired - fired)


@pytest.fixture(scope="session")
def ges_server() -> Iterator[FakeGes]:
    with FakeGes(token=canary_token()) as ges:
        yield ges


@pytest.fixture
def ges(ges_server: FakeGes) -> Iterator[FakeGes]:
    ges_server.reset()
    ges_server.latency = 0.0
    ges_server.error_style = "snake"
    fired = ges_server.faults_fired
    yield ges_server
    reliability.add("fault_injections", ges_server.faults_fired - fired)


@dataclass
class Message:
    raw_body: str
    attributes: dict[str, str]

    @property
    def body(self) -> Any:
        return json.loads(self.raw_body)


class Function:
    """The deployed function, locally: invoke it as Lambda would and look at what it sent.

    `sleep`, when set, replaces the GES client's waits between attempts (e.g. to record them)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._handler = load_handler()
        self.sqs = boto3.client("sqs")
        self.sleep: Callable[[float], None] | None = None

    def handler(self, event: Any, context: Any) -> Any:
        """The real handler, with the GES client of the current settings waiting through `sleep`."""
        if self.sleep is not None:
            with contextlib.suppress(ConfigurationError):  # the handler reports a bad setting itself
                current_runtime().ges.sleep = self.sleep
        return self._handler(event, context)

    def invoke(self, event: Any, timeout_seconds: float = 120.0) -> Any:
        result = self.handler(copy.deepcopy(event), LocalContext(timeout_seconds=timeout_seconds))
        assert_no_token(result)
        return result

    def invoke_failing(self, event: Any, timeout_seconds: float = 120.0) -> ExportError:
        with pytest.raises(ExportError) as raised:
            self.invoke(event, timeout_seconds)
        assert_no_token(str(raised.value))
        return raised.value

    def send_to_input(self, body: Any) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        return self.sqs.send_message(QueueUrl=self.stack.queue_urls["InputQueue"], MessageBody=text)[
            "MessageId"
        ]

    def poller(self, **options: Any) -> QueuePoller:
        return QueuePoller(
            self.handler,
            self.stack.queue_urls["InputQueue"],
            self.stack.queue_arns["InputQueue"],
            batch_size=self.stack.queue_batch_size(),
            **options,
        )

    def take(self, queue: str) -> list[Message]:
        """Every message now in the queue (by logical id), removed from it."""
        messages = take_messages(self.stack.queue_urls[queue])
        assert_no_token(messages)
        return [Message(message["Body"], string_attributes(message)) for message in messages]

    def downstream(self) -> list[dict[str, Any]]:
        return [message.body for message in self.take("DownstreamQueue")]

    def idempotency_records(self) -> list[dict[str, Any]]:
        """The idempotency table's items, attribute values unwrapped."""
        items = boto3.client("dynamodb").scan(TableName=self.stack.table_name)["Items"]
        return [{key: next(iter(value.values())) for key, value in item.items()} for item in items]


@pytest.fixture
def stack(aws: AwsProxy, ges: FakeGes, monkeypatch: pytest.MonkeyPatch) -> Stack:
    requests.post(f"{aws.url}/moto-api/reset", timeout=10).raise_for_status()
    stack = deploy(
        name=f"t{uuid.uuid4().hex[:8]}",
        token_secret=ges.token,
        ges_endpoint=ges.url,
        overrides={"GesProjectId": PROJECT, "LogLevel": "DEBUG"},
    )
    for name, value in stack.environment.items():
        monkeypatch.setenv(name, value)
    return stack


@pytest.fixture
def function(stack: Stack) -> Function:
    return Function(stack)


@pytest.fixture
def pauses(function: Function) -> list[float]:
    """The waits between GES attempts, recorded instead of slept."""
    waited: list[float] = []
    function.sleep = waited.append
    return waited


@pytest.fixture
def function_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The function's JSON log lines of this test, parsed; they are still echoed (and token-scanned)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    handler.setStream(previous)
    if previous is not None:
        previous.write(stream.getvalue())
    assert_no_token(stream.getvalue())


MOVIES_BACKUP = "7f3c2a1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
FRIENDS_PROJECT = "0b8f5c1d2e3a4b5c6d7e8f9a0b1c2d3e"
FRIENDS_BACKUP = "2e4d6f80-1a3c-4e5f-8a9b-0c1d2e3f4a5b"


@dataclass
class Graphs:
    """The graphs and backups the sample events in events/ name."""

    movies_latest: str


@pytest.fixture
def graphs(ges: FakeGes) -> Graphs:
    ges.add_backup(PROJECT, "movies", backup_id=MOVIES_BACKUP, start_timestamp=1_795_000_000_000)
    latest = ges.add_backup(PROJECT, "movies", start_timestamp=1_795_700_000_000)
    ges.add_backup(PROJECT, "movies", status="failed", start_timestamp=1_795_740_000_000)
    ges.add_backup(FRIENDS_PROJECT, "friends", backup_id=FRIENDS_BACKUP, start_timestamp=1_795_000_000_000)
    return Graphs(movies_latest=latest)
