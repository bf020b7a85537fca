"""The job tracker's settings (README, "Following the job"): the GES fields every function reads, and its
own."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ges_backup_export.core.errors import ConfigurationError
from ges_backup_export.core.settings import (
    GesSettings,
    optional,
    optional_queue_url,
    poll_interval,
    positive_int,
    required,
    tracking_queue_url,
)

DEFAULT_JOB_TRACKING_TIMEOUT_SECONDS = 86_400
DEFAULT_EVENT_BUS_NAME = "default"
# An EventBridge bus name (letters, digits and ._-/), or a bus ARN.
_EVENT_BUS = re.compile(
    r"[A-Za-z0-9._/-]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._/-]{1,256}"
)


@dataclass(frozen=True)
class TrackerSettings(GesSettings):
    idempotency_table_name: str
    tracking_queue_url: str
    dead_letter_queue_url: str | None
    event_bus_name: str
    job_poll_interval_seconds: int
    job_tracking_timeout_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TrackerSettings:
        return cls(
            **GesSettings.read(env),
            idempotency_table_name=required(env, "IDEMPOTENCY_TABLE_NAME"),
            tracking_queue_url=tracking_queue_url(env) or required(env, "TRACKING_QUEUE_URL"),
            dead_letter_queue_url=optional_queue_url(env, "DEAD_LETTER_QUEUE_URL"),
            event_bus_name=event_bus(env),
            job_poll_interval_seconds=poll_interval(env),
            job_tracking_timeout_seconds=positive_int(
                env, "JOB_TRACKING_TIMEOUT_SECONDS", DEFAULT_JOB_TRACKING_TIMEOUT_SECONDS
            ),
        )


def event_bus(env: Mapping[str, str]) -> str:
    name = optional(env, "EVENT_BUS_NAME") or DEFAULT_EVENT_BUS_NAME
    if not _EVENT_BUS.fullmatch(name):
        raise ConfigurationError(f"EVENT_BUS_NAME must be an EventBridge bus name or ARN, got {name!r}")
    return name
