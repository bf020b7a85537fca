"""The function under test and the sample data it runs on, for the integration tests.

`Function` invokes the real handler as Lambda would (with a context that has a deadline) and reads the
queues and the table it writes to; the fixtures that build it live in tests/integration/conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ges_backup_export.export.deduplication import EXPORT_KEY_PREFIX
from ges_backup_export.export.runtime import current_runtime
from ges_backup_export.ges.client import GesClient
from local.aws import FUNCTION, Stack
from local.fake_ges import (
    SAMPLE_BACKUP_ID,
    SAMPLE_OTHER_BACKUP_ID,
    SAMPLE_OTHER_PROJECT_ID,
    SAMPLE_PROJECT_ID,
    FakeGes,
)
from local.lambda_runtime import Handler, load_handler
from local.tls import LocalTls
from tests import reliability
from tests.function_under_test import FunctionUnderTest

# The project, graphs and backups the sample events in events/ name.
PROJECT = SAMPLE_PROJECT_ID
MOVIES_BACKUP = SAMPLE_BACKUP_ID
FRIENDS_PROJECT = SAMPLE_OTHER_PROJECT_ID
FRIENDS_BACKUP = SAMPLE_OTHER_BACKUP_ID
EVENTS = Path(__file__).resolve().parents[1] / "events"


def sample_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll until `condition()` is true (for work another thread finishes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


class VirtualWaits:
    """A GES client's waits, recorded in `pauses` instead of slept. Each thread's clock moves on by its
    own waits, as if it had slept them (the waits of concurrent requests overlap, as in real time), so a
    pause after a 429 ends for the thread that waited it out, and not for the others."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._waited = threading.local()

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self._waited.seconds = self._seconds() + seconds

    def clock(self) -> float:
        return time.monotonic() + self._seconds()

    def install(self, ges: GesClient) -> None:
        ges.sleep, ges.clock = self.sleep, self.clock

    def _seconds(self) -> float:
        seconds: float = getattr(self._waited, "seconds", 0.0)
        return seconds


class Function(FunctionUnderTest):
    """The deployed export function, locally. Its environment is the process's: the `stack` fixture sets
    the template's there, and a test changes a setting with monkeypatch.setenv. `waits`, when set,
    replaces the GES client's waits between attempts (to record them)."""

    name = FUNCTION

    def __init__(self, stack: Stack) -> None:
        self.waits: VirtualWaits | None = None
        super().__init__(stack)

    def load(self) -> Handler:
        return load_handler()

    def install_waits(self) -> None:
        if self.waits is not None:
            self.waits.install(current_runtime().ges)

    def downstream(self) -> list[dict[str, Any]]:
        return [message.body for message in self.take("DownstreamQueue")]

    def expire_locks(self) -> None:
        """Every export's in-progress lock ends now, as when the export invocations holding them run out
        of time. Only the export function's locks: the job tracker's may be held by a live invocation."""
        for record in self.idempotency_records():
            if record.get("status") == "INPROGRESS" and record["id"].startswith(f"{EXPORT_KEY_PREFIX}#"):
                self.expire_lock(record["id"])

    def expire_lock(self, record_id: str) -> None:
        """The lock of record `record_id` ends now, if it is still held. A lock released meanwhile (deleted
        between the scan and here) stays gone: an unconditional UpdateItem would create a record of its own,
        without a status, which Powertools cannot read ("Failed to save in progress record ... ('status')"),
        so every later delivery for that key fails (the soak lost a job's completion event to one)."""
        try:
            boto3.client("dynamodb").update_item(
                TableName=self.stack.table_name,
                Key={"id": {"S": record_id}},
                UpdateExpression="SET in_progress_expiration = :past",
                ConditionExpression="#status = :inprogress",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":past": {"N": str(int(time.time() * 1000) - 1)},
                    ":inprogress": {"S": "INPROGRESS"},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def idempotency_records(self) -> list[dict[str, Any]]:
        """The idempotency table's items, attribute values unwrapped."""
        items = boto3.client("dynamodb").scan(TableName=self.stack.table_name)["Items"]
        return [{key: next(iter(value.values())) for key, value in item.items()} for item in items]


@dataclass
class Graphs:
    """The graphs and backups the sample events in events/ name."""

    movies_latest: str


@contextlib.contextmanager
def ges_over_tls(ges: FakeGes, tls: LocalTls, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGes]:
    """GES over HTTPS with the stack's token and the movies graph's sample backup, trusted by the function
    (and by every execution environment started meanwhile: they inherit the environment)."""
    with FakeGes(token=ges.token, tls=tls.server) as fake:
        fake.add_backup(PROJECT, "movies", backup_id=MOVIES_BACKUP, start_timestamp=1_795_000_000_000)
        monkeypatch.setenv("GES_ENDPOINT", fake.url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_bundle)
        yield fake
        reliability.add("fault_injections", fake.faults_fired)
