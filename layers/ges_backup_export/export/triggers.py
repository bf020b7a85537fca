"""From what a trigger delivers to export requests, each with its trigger and its time.

Three shapes arrive (README, "The three triggers"): SQS batches (`Records`), EventBridge
`Scheduled Event` envelopes (requests in `detail`, the tick time in `time`), and the request itself
(console, CLI, EventBridge Scheduler `Input`). A request may also come as `{"exports": [...]}`.

Each request gets a reference time, used for `{date}`, `{timestamp}` and `requested_at`: its
`scheduled_time` when present, else the envelope's `time`, else a queue record's `requested_at` message
attribute (kept through the dead-letter queue and the redrive), else the time SQS received the message
(so a redelivered record resolves to the same export), else now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from ges_backup_export.core.errors import ExportError, InvalidRequest, field_name
from ges_backup_export.core.message_format import REQUESTED_AT, format_time, is_envelope
from ges_backup_export.core.times import request_time
from ges_backup_export.export.request import ExportRequest, parse_request

MAX_EXPORTS_PER_EVENT = 100
# The latest a request's scheduled_time may be after the invocation's clock (clocks drift a little).
MAX_SCHEDULED_AHEAD = timedelta(minutes=5)


class Trigger(StrEnum):
    QUEUE = "queue"
    SCHEDULE = "schedule"
    DIRECT = "direct"


@dataclass(frozen=True)
class Submission:
    """A checked request, how it arrived, and the time its placeholders resolve against."""

    request: ExportRequest
    trigger: Trigger
    requested_at: datetime
    one_of_all: bool = False  # one graph of a `"*"` request (all_graphs.py): its errors name the graph


@dataclass(frozen=True)
class Batch:
    """The requests of one event or message body; an entry that failed its checks is its error."""

    entries: list[Submission | ExportError]
    is_list: bool
    trigger: Trigger
    raw_entries: list[object]  # as they arrived, beside `entries`

    @property
    def scheduled(self) -> bool:
        return self.trigger is Trigger.SCHEDULE or any(
            isinstance(entry, Submission) and entry.trigger is Trigger.SCHEDULE for entry in self.entries
        )

    def replay_body(self, index: int) -> str:
        """Entry `index` as a queue message body of its own that resolves to the same export when redriven:
        a checked request keeps its reference time as `scheduled_time` (one that failed its checks is
        kept as it came, for a person to read)."""
        raw, entry = self.raw_entries[index], self.entries[index]
        if isinstance(entry, Submission) and isinstance(raw, dict):
            raw = {**raw, "scheduled_time": format_time(entry.requested_at)}
        return json.dumps(raw)


def is_queue_event(event: object) -> bool:
    """An SQS event source mapping's batch; other `Records` events (including SQS look-alikes without a
    message id or body) are refused as requests, naming the field."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list) or not event["Records"]:
        return False
    return all(
        isinstance(record, dict)
        and record.get("eventSource") == "aws:sqs"
        and isinstance(record.get("messageId"), str)
        and isinstance(record.get("body"), str)
        for record in event["Records"]
    )


def batch_from_event(event: object, now: datetime) -> Batch:
    """The requests of a direct or scheduled invocation. An event with no request is an InvalidRequest."""
    if not isinstance(event, dict):
        raise InvalidRequest("event", 'must be a JSON object: an export request or {"exports": [...]}')
    if is_envelope(event):
        tick = request_time(event.get("time"), "time")
        detail = event["detail"]
        if detail in ({}, None):
            raise InvalidRequest(
                "detail",
                "the EventBridge event carries no export request; give the rule an export request as Input",
            )
        return _batch(detail, _Arrival(Trigger.SCHEDULE, tick, now), "detail")
    return _batch(event, _Arrival(Trigger.DIRECT, now, now), "")


def batch_from_body(body: str, sent_at: datetime, now: datetime) -> Batch:
    """The requests of one SQS message body, received `now`."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise InvalidRequest("body", f"is not valid JSON ({type(error).__name__})") from None
    return _batch(value, _Arrival(Trigger.QUEUE, sent_at, now), "")


def record_time(requested_at: str | None, epoch_ms: str | None, now: datetime) -> datetime:
    """A record's reference time: its `requested_at` message attribute when it has one (the dead-letter
    queue and the redrive keep it, so a redriven request resolves to the export it was the first time),
    else when SQS received it, from its `SentTimestamp` attribute (epoch milliseconds)."""
    if requested_at is not None:
        return request_time(requested_at, f"message attribute {REQUESTED_AT}")
    try:
        return datetime.fromtimestamp(int(epoch_ms or "") / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return now


@dataclass(frozen=True)
class _Arrival:
    """How a request arrived: its trigger, the time it resolves against unless it names one, and the
    invocation's own clock."""

    trigger: Trigger
    default_time: datetime
    now: datetime


def _batch(value: object, arrival: _Arrival, where: str) -> Batch:
    if isinstance(value, dict) and "exports" in value:
        entries = _entries(value, arrival, where)
        return Batch(entries, is_list=True, trigger=arrival.trigger, raw_entries=list(value["exports"]))
    return Batch([_submission(value, arrival, where)], False, arrival.trigger, [value])


def _entries(value: dict[str, Any], arrival: _Arrival, where: str) -> list[Submission | ExportError]:
    field = field_name(where, "exports")
    extra = sorted(key for key in value if key != "exports")
    if extra:
        raise InvalidRequest(field_name(where, extra[0]), "unknown field beside exports")
    exports = value["exports"]
    if not isinstance(exports, list) or not 1 <= len(exports) <= MAX_EXPORTS_PER_EVENT:
        raise InvalidRequest(field, f"must be an array of 1 to {MAX_EXPORTS_PER_EVENT} export requests")
    entries: list[Submission | ExportError] = []
    for index, entry in enumerate(exports):
        try:
            entries.append(_submission(entry, arrival, f"{field}[{index}]"))
        except InvalidRequest as error:
            entries.append(error)
    return entries


def _submission(value: object, arrival: _Arrival, where: str) -> Submission:
    request = parse_request(value, where)
    scheduled = request.scheduled_time
    if scheduled is None:
        return Submission(request, arrival.trigger, arrival.default_time)
    if scheduled > arrival.now + MAX_SCHEDULED_AHEAD:
        raise InvalidRequest(
            field_name(where, "scheduled_time"),
            f"{format_time(scheduled)} is more than {MAX_SCHEDULED_AHEAD.seconds // 60} minutes after this "
            f"invocation's clock ({format_time(arrival.now)}): `latest` and the placeholders must resolve "
            "against a time that has come, so that every retry of the request resolves to the same export",
        )
    trigger = Trigger.QUEUE if arrival.trigger is Trigger.QUEUE else Trigger.SCHEDULE
    return Submission(request, trigger, scheduled)
