"""What Lambda provides around the handler, done locally: the context, and the SQS event source mapping.

`QueuePoller` does what the SQS event source mapping does: receive a batch, invoke the handler with an
`aws:sqs` event, delete the records that succeeded, and leave the failed ones to SQS, which redelivers
them and, after the queue's `maxReceiveCount`, moves them to the dead-letter queue (moto implements the
redrive policy). Only the wait before a redelivery is shortened, so that a local run does not sit out the
queue's visibility timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.exceptions import ClientError

from local.aws import REGION

ROOT = Path(__file__).resolve().parent.parent
# What SQS answers a receipt handle of an earlier delivery of a message (no longer in flight with it).
_STALE_RECEIPT = frozenset({"ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight"})
Handler = Callable[[Any, Any], Any]


class EventLike(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class LocalContext:
    """The parts of Lambda's context object the handler and Powertools use."""

    timeout_seconds: float = 120.0
    function_name: str = "ges-backup-export-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:ges-backup-export-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/ges-backup-export-local"
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


@contextlib.contextmanager
def function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """The process's environment with a function's `variables` set, as it was afterwards: Lambda runs each
    function in an environment of its own, a local run runs several in one process."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def in_environment(handler: Handler, variables: Mapping[str, str]) -> Handler:
    """`handler`, each invocation in its function's environment (see `function_environment`)."""

    def invoke(event: Any, context: Any) -> Any:
        with function_environment(variables):
            return handler(event, context)

    return invoke


def load_function(code_uri: str, handler: str = "app.lambda_handler") -> Handler:
    """A function's handler as the template names it (CodeUri, Handler), the layer on sys.path. Lambda
    imports each function's `app` in a process of its own; here several share one, so each module is
    imported under a name of its own (its folder's)."""
    layer = str(ROOT / "layers")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    module_file, _, attribute = handler.rpartition(".")
    folder = (ROOT / code_uri).resolve()
    name = f"{folder.name}_{module_file}"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, folder / f"{module_file}.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"no handler module {module_file}.py in {folder}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    loaded: Handler = getattr(module, attribute)
    return loaded


def load_handler() -> Handler:
    """Import the function's handler the way Lambda does: the layer and the function code on sys.path."""
    for folder in (ROOT / "layers", ROOT / "functions" / "export_backup"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    import app

    handler: Handler = app.lambda_handler
    return handler


@dataclass
class PollResult:
    received: int = 0
    succeeded: int = 0
    failed: int = 0


class QueuePoller:
    def __init__(
        self,
        handler: Handler,
        queue_url: str,
        queue_arn: str,
        *,
        batch_size: int = 10,
        timeout_seconds: float = 120.0,
        redelivery_delay: int = 0,
    ) -> None:
        self._handler = handler
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._batch_size = batch_size
        self._timeout = timeout_seconds
        self._redelivery_delay = redelivery_delay
        self._sqs = boto3.client("sqs")

    def poll_once(self, wait_seconds: int = 0) -> PollResult:
        """Receive one batch and hand it to the handler; returns what happened to its records."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(self._batch_size, 10),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return PollResult()
        failed_ids = self._invoke([self._record(message) for message in messages])
        for message in messages:
            self._settle(message["ReceiptHandle"], failed=message["MessageId"] in failed_ids)
        return PollResult(len(messages), len(messages) - len(failed_ids), len(failed_ids))

    def _settle(self, receipt_handle: str, *, failed: bool) -> None:
        """Delete a record that succeeded; have a failed one redelivered soon. When the invocation outlasted
        the queue's visibility timeout, the record was delivered again meanwhile and this receipt handle is
        stale: SQS refuses it, and the event source mapping goes on (the other delivery settles it)."""
        try:
            if failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=receipt_handle,
                    VisibilityTimeout=self._redelivery_delay,
                )
            else:
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt_handle)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in _STALE_RECEIPT:
                raise

    def drain(self, max_batches: int = 1000) -> PollResult:
        """Poll until the queue answers empty; returns the totals."""
        total = PollResult()
        for _ in range(max_batches):
            result = self.poll_once()
            if not result.received:
                break
            total.received += result.received
            total.succeeded += result.succeeded
            total.failed += result.failed
        return total

    def _invoke(self, records: list[dict[str, Any]]) -> set[str]:
        """The ids of the records that failed, as Lambda reads a partial batch response."""
        ids = {record["messageId"] for record in records}
        try:
            response = self._handler({"Records": records}, LocalContext(timeout_seconds=self._timeout))
        except Exception:
            return ids
        failures = response.get("batchItemFailures") if isinstance(response, Mapping) else None
        failed = {str(item.get("itemIdentifier")) for item in failures or []}
        # Lambda treats an empty or unknown itemIdentifier as a failure of the whole batch.
        return failed if failed <= ids else ids

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value["DataType"],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": REGION,
        }


def poll_until_stopped(
    queue_url: str,
    queue_arn: str,
    batch_size: int,
    redelivery_delay: int,
    stop: EventLike,
    code_uri: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> None:
    """One execution environment with its own event source poller, until `stop` is set: the export
    function's, or the function at `code_uri` (e.g. `functions/track_export/`), with `environment` added
    to the process's own (a function's variables as the template wires them).

    Meant for a process of its own: Lambda runs one invocation at a time per execution environment, and
    the handler keeps per-environment state (Powertools' batch processor, the clients), so concurrent
    pollers must be concurrent processes, not threads of one.
    """
    os.environ.update(environment or {})
    handler = load_handler() if code_uri is None else load_function(code_uri)
    poller = QueuePoller(
        handler, queue_url, queue_arn, batch_size=batch_size, redelivery_delay=redelivery_delay
    )
    while not stop.is_set():
        poller.poll_once(wait_seconds=1)


def invoke_once(event: Any, timeout_seconds: float) -> None:
    """One invocation in an execution environment of its own: meant for a process that a test may kill
    mid-invocation, as Lambda ends one that times out or runs out of memory."""
    load_handler()(event, LocalContext(timeout_seconds=timeout_seconds))
