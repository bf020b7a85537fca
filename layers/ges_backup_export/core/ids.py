"""GES ids, checked before any of them reaches a URL (GES ids are letters, digits, `-` and `_`)."""

from __future__ import annotations

import re

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_id(value: object) -> str | None:
    """What is wrong with a GES id (letters, digits, `-` and `_`, 1 to 64 of them), or None."""
    if not isinstance(value, str):
        return f"must be a string, got {json_type(value)}"
    if not _ID.fullmatch(value):
        return "must be 1 to 64 letters, digits, '-' or '_'"
    return None


def json_type(value: object) -> str:
    """How a JSON value's type is named in errors."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)
