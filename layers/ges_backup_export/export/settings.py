"""The export function's settings (README, "Settings"): the GES fields every function reads, and its own."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ges_backup_export.core.settings import (
    DEFAULT_JOB_POLL_INTERVAL_SECONDS,
    GesSettings,
    optional_queue_url,
    poll_interval,
    positive_int,
    queue_url,
    required,
    tracking_queue_url,
    whole_number,
)

# 15 days: longer than any queue here keeps a message (14 days), so every redrive finds its export.
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 1_296_000
DEFAULT_GES_CONCURRENCY = 8
MAX_GES_CONCURRENCY = 64


@dataclass(frozen=True)
class Settings(GesSettings):
    idempotency_table_name: str
    idempotency_ttl_seconds: int
    downstream_queue_url: str
    dead_letter_queue_url: str | None
    tracking_queue_url: str | None = None
    job_poll_interval_seconds: int = DEFAULT_JOB_POLL_INTERVAL_SECONDS
    ges_concurrency: int = DEFAULT_GES_CONCURRENCY

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            **GesSettings.read(env),
            idempotency_table_name=required(env, "IDEMPOTENCY_TABLE_NAME"),
            idempotency_ttl_seconds=positive_int(
                env, "IDEMPOTENCY_TTL_SECONDS", DEFAULT_IDEMPOTENCY_TTL_SECONDS
            ),
            downstream_queue_url=queue_url("DOWNSTREAM_QUEUE_URL", required(env, "DOWNSTREAM_QUEUE_URL")),
            dead_letter_queue_url=optional_queue_url(env, "DEAD_LETTER_QUEUE_URL"),
            tracking_queue_url=tracking_queue_url(env),
            job_poll_interval_seconds=poll_interval(env),
            ges_concurrency=whole_number(
                env, "GES_CONCURRENCY", DEFAULT_GES_CONCURRENCY, minimum=1, maximum=MAX_GES_CONCURRENCY
            ),
        )
