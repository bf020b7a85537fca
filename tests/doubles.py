"""Small stand-ins the unit tests share: a function's environment with some variables changed, and the
answer of a session stub (what the GES client reads of a `requests.Response`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def overridden(values: Mapping[str, str], overrides: Mapping[str, str | None]) -> dict[str, str]:
    """`values` with `overrides` set, or removed where an override is None."""
    changed = dict(values)
    for name, value in overrides.items():
        if value is None:
            changed.pop(name, None)
        else:
            changed[name] = value
    return changed


class JsonAnswer:
    """A 200 answer whose body is `body`."""

    status_code = 200

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def json(self) -> dict[str, Any]:
        return self._body
