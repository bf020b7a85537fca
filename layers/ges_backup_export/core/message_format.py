"""What the function writes on its queues and into its errors, in one place for it and the operator tools.

`ops/` (redrive, settle) reads what the function writes: the downstream message, the dead-letter
attributes, the `<code>: ` that starts every error text, the request time a failed run carries, and the
time format. Both import it from here, so the two cannot drift. Standard library only: the tools import
it without Powertools.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict, TypeGuard

ALL_GRAPHS = "*"  # a request's graph_id for every graph of the project (export/all_graphs.py)

# Message attributes of a dead-lettered request.
ERROR_CODE = "error_code"
ERROR_MESSAGE = "error_message"
REQUESTED_AT = "requested_at"  # the reference time it resolved against; a redrive keeps it

# SQS's limit for one message, body and attributes together (template.yaml sets it on the input queue
# and its dead-letter queue; tests/template checks that the two agree).
MAX_MESSAGE_BYTES = 262_144
# The characters SQS accepts in a body or a string attribute (the XML 1.0 character set).
_NOT_FOR_SQS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The code that starts one of our error texts: "ExportOutcomeUnknown: ...", "GES.7024: ...".
_CODE = re.compile(r"([A-Za-z][A-Za-z0-9_.-]{0,63}): ")
# A failed direct or scheduled request says when it was made, so that a redrive of the failed run
# resolves its placeholders and `latest` as the first run did: "... [requested_at 2026-11-27T02:00:00Z]".
_REQUEST_TIME = re.compile(r"\[requested_at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\]$")


@dataclass(frozen=True)
class ExportIdentity:
    """What makes two requests the same export, once `latest` and the placeholders are resolved."""

    project_id: str
    graph_id: str
    backup_id: str
    export_path: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def digest(self) -> str:
        """A stable hex id of this export (the FIFO deduplication id of its message)."""
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()


class ExportDetails(TypedDict):
    """An export before GES gave it a job_id: what it exports, how it was asked for, and when."""

    project_id: str
    graph_id: str
    backup_id: str
    export_path: str
    trigger: str
    requested_at: str


class DownstreamMessage(ExportDetails):
    """The published message: one per started export, on the downstream queue (and in every event)."""

    job_id: str


class TrackingMessage(DownstreamMessage):
    """What the job tracker checks: the downstream message, when GES accepted the export, and what the
    tracker carries from one check of the job to the next (none of them part of an event)."""

    # When GES answered with the job_id (ops.settle: when the export was settled); the tracking timeout
    # counts from it. Absent from a message of an older version: the tracker adds its first check's time.
    started_at: NotRequired[str]
    checks: NotRequired[int]  # status checks made so far
    last_status: NotRequired[str]  # GES's status at the last check


# The completion events (EventBridge): one per started export job, once GES says how it ended.
EVENT_SOURCE = "ges-backup-export"
SUCCEEDED = "GES Backup Export Succeeded"
FAILED = "GES Backup Export Failed"
TIMED_OUT = "GES Backup Export Timed Out"


def format_time(at: datetime) -> str:
    """A UTC time as messages and requests carry it, e.g. `2026-11-27T02:00:00Z`."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_text(code: str, message: str) -> str:
    """An error as users see it: its code first."""
    return f"{code}: {message}"


def code_of(text: str) -> str | None:
    """The code an error text starts with, or None."""
    found = _CODE.match(text)
    return found.group(1) if found else None


def with_request_time(text: str, at: datetime) -> str:
    return f"{text} [requested_at {format_time(at)}]"


def request_time_of(text: str) -> str | None:
    """The request time a failed run's error text ends with (see `with_request_time`), or None."""
    found = _REQUEST_TIME.search(text)
    return found.group(1) if found else None


def sqs_text(value: str) -> str:
    """`value` with every character SQS refuses written as a `\\uXXXX` escape (SQS would refuse the
    whole message for one of them, keeping a request from its dead-letter queue)."""
    return _NOT_FOR_SQS.sub(lambda match: ascii(match.group())[1:-1], value)


def message_size(body: str, attributes: dict[str, str]) -> int:
    """Bytes SQS counts against MAX_MESSAGE_BYTES: the body, and each string attribute's name, type and
    value."""
    counted = [body, *(name + "String" + value for name, value in attributes.items())]
    return sum(len(text.encode()) for text in counted)


def is_envelope(event: object) -> TypeGuard[dict[str, Any]]:
    """An EventBridge event (a rule without Input): the request is its `detail`, its `time` the tick."""
    return isinstance(event, dict) and "detail-type" in event and "detail" in event
