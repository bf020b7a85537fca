"""The settings every function shares, read from its environment and checked once: errors name the variable.

`GesSettings` holds the five GES fields the export function, the job tracker and the restore tester each
read (the endpoint, the default project, the token secret, the timeout and the attempts); each function's
own settings extend it (export/settings.py, tracker/settings.py, rotation/settings.py). The checks below
serve them all.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from ges_backup_export.core.errors import ConfigurationError
from ges_backup_export.core.ids import check_id

DEFAULT_GES_TIMEOUT_SECONDS = 10.0
DEFAULT_GES_MAX_ATTEMPTS = 3
DEFAULT_JOB_POLL_INTERVAL_SECONDS = 30
MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
GES_ENDPOINT_EXAMPLE = "https://ges.cn-north-4.myhuaweicloud.com"
# The host of an endpoint (GES_ENDPOINT, IAM_ENDPOINT): a DNS name, an IPv4 address or a bracketed IPv6
# address, then an optional port (1 to 65535), and nothing else, so that the host checked here is the host
# requests connects to (urlsplit alone takes `http://[::1].evil.com` for the loopback host ::1).
_HOST_AND_PORT = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[1-9][0-9]{0,4})?",
    re.ASCII | re.IGNORECASE,
)


@dataclass(frozen=True)
class GesSettings:
    """How a function reaches GES: its endpoint, the project a request names none, the token's secret, and
    the bounds of one call (GES_TIMEOUT_SECONDS, GES_MAX_ATTEMPTS)."""

    ges_endpoint: str
    ges_project_id: str | None
    token_secret_id: str
    ges_timeout_seconds: float
    ges_max_attempts: int

    @staticmethod
    def read(env: Mapping[str, str]) -> dict[str, Any]:
        """The five fields from `env`, as keyword arguments for a subclass."""
        project_id = optional(env, "GES_PROJECT_ID")
        if project_id is not None:
            check_setting_id("GES_PROJECT_ID", project_id)
        return {
            "ges_endpoint": ges_endpoint(required(env, "GES_ENDPOINT")),
            "ges_project_id": project_id,
            "token_secret_id": required(env, "GES_TOKEN_SECRET_ID"),
            "ges_timeout_seconds": positive_float(env, "GES_TIMEOUT_SECONDS", DEFAULT_GES_TIMEOUT_SECONDS),
            "ges_max_attempts": positive_int(env, "GES_MAX_ATTEMPTS", DEFAULT_GES_MAX_ATTEMPTS),
        }


def optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def required(env: Mapping[str, str], name: str) -> str:
    value = optional(env, name)
    if value is None:
        raise ConfigurationError(f"{name} is not set")
    return value


def check_setting_id(name: str, value: str) -> None:
    problem = check_id(value)
    if problem:
        raise ConfigurationError(f"{name} {problem}")


def positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    return whole_number(env, name, default, minimum=1)


def whole_number(
    env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    raw = optional(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum}, got {value}")
    return value


def poll_interval(env: Mapping[str, str]) -> int:
    """JOB_POLL_INTERVAL_SECONDS: the tracking message's delay, so at most what SQS delays (0 allowed)."""
    return whole_number(
        env,
        "JOB_POLL_INTERVAL_SECONDS",
        DEFAULT_JOB_POLL_INTERVAL_SECONDS,
        minimum=0,
        maximum=MAX_DELAY_SECONDS,
    )


def positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = optional(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 900:
        raise ConfigurationError(f"{name} must be more than 0 and at most 900 seconds, got {raw}")
    return value


def ges_endpoint(raw: str) -> str:
    return endpoint("GES_ENDPOINT", raw, GES_ENDPOINT_EXAMPLE)


def endpoint(name: str, raw: str, example: str) -> str:
    """A service's base URL: https, or plain http for a loopback host (local runs); no path, query or
    credentials."""
    parts = _url_parts(name, raw, "an https:// URL")
    if not _HOST_AND_PORT.fullmatch(parts.netloc):
        raise ConfigurationError(
            f"{name} must be an https:// URL whose host is a DNS name or an IP address, got {raw!r}"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        raise ConfigurationError(
            f"{name} must be https:// (http is accepted only for a loopback host), got {raw!r}"
        )
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise ConfigurationError(f"{name} must be a base URL such as {example}, got {raw!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _url_parts(name: str, raw: str, what: str) -> SplitResult:
    """An http(s) URL with a host, a valid port and no credentials (which are never repeated in errors)."""
    if "@" in raw:
        raise ConfigurationError(f"{name} must not carry credentials")
    try:
        parts = urlsplit(raw)
        valid = parts.scheme in ("https", "http") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a malformed or out-of-range port
    except ValueError:
        valid = False
    if not valid:
        raise ConfigurationError(f"{name} must be {what}, got {raw!r}")
    return parts


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def queue_url(name: str, raw: str) -> str:
    if not _url_parts(name, raw, "an SQS queue URL").path.strip("/"):
        raise ConfigurationError(f"{name} must be an SQS queue URL, got {raw!r}")
    return raw


def optional_queue_url(env: Mapping[str, str], name: str) -> str | None:
    raw = optional(env, name)
    return None if raw is None else queue_url(name, raw)


def tracking_queue_url(env: Mapping[str, str]) -> str | None:
    """TRACKING_QUEUE_URL: a standard queue. On a FIFO queue each re-check of a job would carry the first
    message's deduplication id and SQS would drop it (nor does a FIFO queue delay a single message)."""
    url = optional_queue_url(env, "TRACKING_QUEUE_URL")
    if url is not None and url.rstrip("/").lower().endswith(".fifo"):
        raise ConfigurationError(
            f"TRACKING_QUEUE_URL must be a standard SQS queue, not a FIFO queue (got {url!r}): FIFO "
            "deduplication would drop the delayed re-checks of a job"
        )
    return url
