"""The functions' settings, read from their environment and checked once, with errors that name the variable.

`Settings` are the export function's, `RotationSettings` the token rotation function's; both use the
same checks.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from ges_backup_export.errors import ConfigurationError
from ges_backup_export.ids import check_id

# 15 days: longer than any queue here keeps a message (14 days), so every redrive finds its export.
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 1_296_000
DEFAULT_GES_TIMEOUT_SECONDS = 10.0
DEFAULT_GES_MAX_ATTEMPTS = 3
DEFAULT_GES_CONCURRENCY = 8
MAX_GES_CONCURRENCY = 64
DEFAULT_JOB_POLL_INTERVAL_SECONDS = 30
DEFAULT_JOB_TRACKING_TIMEOUT_SECONDS = 86_400
DEFAULT_EVENT_BUS_NAME = "default"
MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
# TOKEN_ROTATION_HOURS: the template's TokenRotationHours, its default and bounds (4 hours is the shortest
# rotation Secrets Manager schedules; an IAM token lives 24 hours and must outlive the period by an hour,
# so 22 is the longest period a fresh token ever passes).
DEFAULT_TOKEN_ROTATION_HOURS = 12
MIN_TOKEN_ROTATION_HOURS = 4
MAX_TOKEN_ROTATION_HOURS = 22
# An EventBridge bus name (letters, digits and ._-/), or a bus ARN.
_EVENT_BUS = re.compile(
    r"[A-Za-z0-9._/-]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._/-]{1,256}"
)
GES_ENDPOINT_EXAMPLE = "https://ges.cn-north-4.myhuaweicloud.com"
IAM_ENDPOINT_EXAMPLE = "https://iam.myhuaweicloud.com"
# The host of an endpoint (GES_ENDPOINT, IAM_ENDPOINT): a DNS name, an IPv4 address or a bracketed IPv6
# address, then an optional port (1 to 65535), and nothing else, so that the host checked here is the host
# requests connects to (urlsplit alone takes `http://[::1].evil.com` for the loopback host ::1).
_HOST_AND_PORT = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[1-9][0-9]{0,4})?",
    re.ASCII | re.IGNORECASE,
)


@dataclass(frozen=True)
class Settings:
    ges_endpoint: str
    ges_project_id: str | None
    token_secret_id: str
    idempotency_table_name: str
    idempotency_ttl_seconds: int
    downstream_queue_url: str
    dead_letter_queue_url: str | None
    ges_timeout_seconds: float
    ges_max_attempts: int
    tracking_queue_url: str | None = None
    job_poll_interval_seconds: int = DEFAULT_JOB_POLL_INTERVAL_SECONDS
    ges_concurrency: int = DEFAULT_GES_CONCURRENCY

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        project_id = _optional(env, "GES_PROJECT_ID")
        if project_id is not None:
            _check_setting_id("GES_PROJECT_ID", project_id)
        return cls(
            ges_endpoint=_ges_endpoint(_required(env, "GES_ENDPOINT")),
            ges_project_id=project_id,
            token_secret_id=_required(env, "GES_TOKEN_SECRET_ID"),
            idempotency_table_name=_required(env, "IDEMPOTENCY_TABLE_NAME"),
            idempotency_ttl_seconds=_positive_int(
                env, "IDEMPOTENCY_TTL_SECONDS", DEFAULT_IDEMPOTENCY_TTL_SECONDS
            ),
            downstream_queue_url=_queue_url("DOWNSTREAM_QUEUE_URL", _required(env, "DOWNSTREAM_QUEUE_URL")),
            dead_letter_queue_url=_optional_queue_url(env, "DEAD_LETTER_QUEUE_URL"),
            ges_timeout_seconds=_positive_float(env, "GES_TIMEOUT_SECONDS", DEFAULT_GES_TIMEOUT_SECONDS),
            ges_max_attempts=_positive_int(env, "GES_MAX_ATTEMPTS", DEFAULT_GES_MAX_ATTEMPTS),
            tracking_queue_url=_tracking_queue_url(env),
            job_poll_interval_seconds=_poll_interval(env),
            ges_concurrency=_whole_number(
                env, "GES_CONCURRENCY", DEFAULT_GES_CONCURRENCY, minimum=1, maximum=MAX_GES_CONCURRENCY
            ),
        )


@dataclass(frozen=True)
class TrackerSettings:
    """The job tracker's settings (README, "Following the job")."""

    ges_endpoint: str
    token_secret_id: str
    idempotency_table_name: str
    tracking_queue_url: str
    dead_letter_queue_url: str | None
    event_bus_name: str
    job_poll_interval_seconds: int
    job_tracking_timeout_seconds: int
    ges_timeout_seconds: float
    ges_max_attempts: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TrackerSettings:
        return cls(
            ges_endpoint=_ges_endpoint(_required(env, "GES_ENDPOINT")),
            token_secret_id=_required(env, "GES_TOKEN_SECRET_ID"),
            idempotency_table_name=_required(env, "IDEMPOTENCY_TABLE_NAME"),
            tracking_queue_url=_tracking_queue_url(env) or _required(env, "TRACKING_QUEUE_URL"),
            dead_letter_queue_url=_optional_queue_url(env, "DEAD_LETTER_QUEUE_URL"),
            event_bus_name=_event_bus(env),
            job_poll_interval_seconds=_poll_interval(env),
            job_tracking_timeout_seconds=_positive_int(
                env, "JOB_TRACKING_TIMEOUT_SECONDS", DEFAULT_JOB_TRACKING_TIMEOUT_SECONDS
            ),
            ges_timeout_seconds=_positive_float(env, "GES_TIMEOUT_SECONDS", DEFAULT_GES_TIMEOUT_SECONDS),
            ges_max_attempts=_positive_int(env, "GES_MAX_ATTEMPTS", DEFAULT_GES_MAX_ATTEMPTS),
        )


@dataclass(frozen=True)
class RotationSettings:
    """The token rotation function's settings. The token is scoped to `ges_project_id`, so it is required.

    `token_secret_id`, when set, is the only secret the function rotates; the secret of a step is always
    the one the event names. `token_rotation_hours` is the period the template schedules: a new token must
    outlive it by an hour (rotation.py)."""

    iam_endpoint: str
    iam_credentials_secret_id: str
    ges_endpoint: str
    ges_project_id: str
    token_secret_id: str | None
    token_rotation_hours: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RotationSettings:
        project_id = _required(env, "GES_PROJECT_ID")
        _check_setting_id("GES_PROJECT_ID", project_id)
        return cls(
            iam_endpoint=_endpoint("IAM_ENDPOINT", _required(env, "IAM_ENDPOINT"), IAM_ENDPOINT_EXAMPLE),
            iam_credentials_secret_id=_required(env, "IAM_CREDENTIALS_SECRET_ID"),
            ges_endpoint=_ges_endpoint(_required(env, "GES_ENDPOINT")),
            ges_project_id=project_id,
            token_secret_id=_optional(env, "GES_TOKEN_SECRET_ID"),
            token_rotation_hours=_whole_number(
                env,
                "TOKEN_ROTATION_HOURS",
                DEFAULT_TOKEN_ROTATION_HOURS,
                minimum=MIN_TOKEN_ROTATION_HOURS,
                maximum=MAX_TOKEN_ROTATION_HOURS,
            ),
        )


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _required(env: Mapping[str, str], name: str) -> str:
    value = _optional(env, name)
    if value is None:
        raise ConfigurationError(f"{name} is not set")
    return value


def _check_setting_id(name: str, value: str) -> None:
    problem = check_id(value)
    if problem:
        raise ConfigurationError(f"{name} {problem}")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    return _whole_number(env, name, default, minimum=1)


def _whole_number(
    env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    raw = _optional(env, name)
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


def _poll_interval(env: Mapping[str, str]) -> int:
    """JOB_POLL_INTERVAL_SECONDS: the tracking message's delay, so at most what SQS delays (0 allowed)."""
    return _whole_number(
        env,
        "JOB_POLL_INTERVAL_SECONDS",
        DEFAULT_JOB_POLL_INTERVAL_SECONDS,
        minimum=0,
        maximum=MAX_DELAY_SECONDS,
    )


def _event_bus(env: Mapping[str, str]) -> str:
    name = _optional(env, "EVENT_BUS_NAME") or DEFAULT_EVENT_BUS_NAME
    if not _EVENT_BUS.fullmatch(name):
        raise ConfigurationError(f"EVENT_BUS_NAME must be an EventBridge bus name or ARN, got {name!r}")
    return name


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _optional(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 900:
        raise ConfigurationError(f"{name} must be more than 0 and at most 900 seconds, got {raw}")
    return value


def _ges_endpoint(raw: str) -> str:
    return _endpoint("GES_ENDPOINT", raw, GES_ENDPOINT_EXAMPLE)


def _endpoint(name: str, raw: str, example: str) -> str:
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


def _queue_url(name: str, raw: str) -> str:
    if not _url_parts(name, raw, "an SQS queue URL").path.strip("/"):
        raise ConfigurationError(f"{name} must be an SQS queue URL, got {raw!r}")
    return raw


def _optional_queue_url(env: Mapping[str, str], name: str) -> str | None:
    raw = _optional(env, name)
    return None if raw is None else _queue_url(name, raw)


def _tracking_queue_url(env: Mapping[str, str]) -> str | None:
    """TRACKING_QUEUE_URL: a standard queue. On a FIFO queue each re-check of a job would carry the first
    message's deduplication id and SQS would drop it (nor does a FIFO queue delay a single message)."""
    url = _optional_queue_url(env, "TRACKING_QUEUE_URL")
    if url is not None and url.rstrip("/").lower().endswith(".fifo"):
        raise ConfigurationError(
            f"TRACKING_QUEUE_URL must be a standard SQS queue, not a FIFO queue (got {url!r}): FIFO "
            "deduplication would drop the delayed re-checks of a job"
        )
    return url
