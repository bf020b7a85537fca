"""Times as the job reads them: ISO-8601 with the offset (EventBridge sends `2026-11-27T02:00:00Z`), as UTC.

`parse_time` says what is wrong in an `UnreadableTime`, which each caller turns into its own error: a
field of a request or of a message the function reads (`request_time`), an IAM answer, a secret's
expires_at.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ges_backup_export.core.errors import InvalidRequest
from ges_backup_export.core.ids import json_type


class UnreadableTime(ValueError):
    """Not an ISO-8601 time with its offset; the text says why."""


def parse_time(value: object) -> datetime:
    """`value` as a UTC datetime, or UnreadableTime."""
    if not isinstance(value, str):
        raise UnreadableTime(f"must be an ISO-8601 time string, got {json_type(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UnreadableTime(
            f"must be an ISO-8601 time such as 2026-11-27T02:00:00Z, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        raise UnreadableTime(f"must carry its UTC offset (for example a trailing Z), got {value!r}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 lies before the first UTC datetime
        raise UnreadableTime(f"must be a time between the years 1 and 9999 in UTC, got {value!r}") from None


def request_time(value: object, field: str) -> datetime:
    """A time of the request (or of a message the function reads), as UTC; InvalidRequest naming `field`."""
    try:
        return parse_time(value)
    except UnreadableTime as error:
        raise InvalidRequest(field, str(error)) from None
