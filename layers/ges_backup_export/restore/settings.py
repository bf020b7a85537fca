"""The restore tester's settings, and the history settings the job tracker reads too; errors name the
variable, as everywhere (ges_backup_export.core.settings' checks)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ges_backup_export.core.settings import (
    check_setting_id,
    optional,
    positive_int,
    required,
    whole_number,
)
from ges_backup_export.export.settings import (
    DEFAULT_GES_CONCURRENCY,
    DEFAULT_IDEMPOTENCY_TTL_SECONDS,
    MAX_GES_CONCURRENCY,
)
from ges_backup_export.tracker.settings import TrackerSettings

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 365


@dataclass(frozen=True)
class HistorySettings:
    """Where the history of successful exports lives (HISTORY_TABLE_NAME; unset: the tracker records
    none) and how far back a test looks (RESTORE_TEST_WINDOW_DAYS, 1 to 365, default 30)."""

    table_name: str | None
    window_days: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> HistorySettings:
        return cls(
            table_name=optional(env, "HISTORY_TABLE_NAME"),
            window_days=whole_number(
                env, "RESTORE_TEST_WINDOW_DAYS", DEFAULT_WINDOW_DAYS, minimum=1, maximum=MAX_WINDOW_DAYS
            ),
        )


@dataclass(frozen=True)
class RestoreSettings:
    """The tester's settings. `follow` holds what following an import job needs, read exactly as the
    tracker reads its own (GES, the token, the idempotency table, TRACKING_QUEUE_URL: the tester's own
    follow-up queue, DEAD_LETTER_QUEUE_URL, EVENT_BUS_NAME, the poll interval and the timeout)."""

    follow: TrackerSettings
    ges_project_id: str | None
    ges_concurrency: int
    idempotency_ttl_seconds: int
    history_table_name: str
    window_days: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RestoreSettings:
        project_id = optional(env, "GES_PROJECT_ID")
        if project_id is not None:
            check_setting_id("GES_PROJECT_ID", project_id)
        history = HistorySettings.from_env(env)
        return cls(
            follow=TrackerSettings.from_env(env),
            ges_project_id=project_id,
            ges_concurrency=whole_number(
                env, "GES_CONCURRENCY", DEFAULT_GES_CONCURRENCY, minimum=1, maximum=MAX_GES_CONCURRENCY
            ),
            idempotency_ttl_seconds=positive_int(
                env, "IDEMPOTENCY_TTL_SECONDS", DEFAULT_IDEMPOTENCY_TTL_SECONDS
            ),
            history_table_name=required(env, "HISTORY_TABLE_NAME"),
            window_days=history.window_days,
        )
