"""What the functions' Powertools idempotency locks share: the key prefix of their records, Powertools'
errors as ours, and work that must not be done twice when the table fails after it.

Each function keeps its records in the one idempotency table under its own prefix (the export function
`ges-backup-export:export#...`, the job tracker `ges-backup-export:announce#...`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
)

from ges_backup_export.core.errors import DependencyUnavailable, ExportInProgress
from ges_backup_export.core.observability import logger

KEY_PREFIX = "ges-backup-export"
T = TypeVar("T")


def guarded(call: Callable[[], T], in_progress: str) -> T:
    """`call()`, with Powertools' idempotency errors turned into ours: `ExportInProgress(in_progress)` while
    another invocation holds the lock, DependencyUnavailable when the table failed (Powertools' error, and
    what caused it, stay its cause)."""
    try:
        return call()
    except IdempotencyAlreadyInProgressError:
        raise ExportInProgress(in_progress) from None
    except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as error:
        raise DependencyUnavailable(f"the idempotency table failed: {error}") from error.__cause__


def ran_once(
    call: Callable[[Callable[[], T]], T], action: Callable[[], T], *, note: str, extra: dict[str, str]
) -> tuple[T, bool]:
    """`call(action)`, where `call` runs its argument under an idempotency lock; its result, and whether
    `action` ran in it. When the table fails after `action` ran, its result all the same (logged with
    `note`): raising would have the work retried, and done twice."""
    done: list[T] = []

    def keep() -> T:
        done.append(action())
        return done[0]

    try:
        return call(keep), bool(done)
    except DependencyUnavailable as error:
        if not done:
            raise
        logger.error(
            f"an idempotency record was not completed after its work was done; {note}",
            extra={**extra, "error": error.message},
        )
        return done[0], True
