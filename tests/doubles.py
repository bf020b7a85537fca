"""Small stand-ins the tests share: a function's environment with some variables changed, the answer of a
session stub (a `requests.Response` whose body is read as from a connection), and a port nothing listens
on."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Mapping
from typing import Any

import requests


def overridden(values: Mapping[str, str], overrides: Mapping[str, str | None]) -> dict[str, str]:
    """`values` with `overrides` set, or removed where an override is None."""
    changed = dict(values)
    for name, value in overrides.items():
        if value is None:
            changed.pop(name, None)
        else:
            changed[name] = value
    return changed


def json_answer(body: dict[str, Any]) -> requests.Response:
    """A 200 answer whose body is `body`, as JSON."""
    response = requests.Response()
    response.status_code = 200
    response.headers["Content-Type"] = "application/json"
    response.raw = io.BytesIO(json.dumps(body).encode())
    return response


def closed_port() -> int:
    """A loopback port nothing listens on (a connection to it is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
