"""How long this invocation may keep talking to GES."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ges_backup_export.aws.clients import CALLS_AFTER_GES, WORST_CALL_SECONDS

# Kept free after the last GES call for the AWS calls that follow it, each at its worst.
MARGIN_SECONDS = CALLS_AFTER_GES * WORST_CALL_SECONDS


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock; `at=None` means no limit."""

    at: float | None
    margin: float = MARGIN_SECONDS
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    @classmethod
    def after_ms(cls, remaining_ms: int) -> Deadline:
        """The deadline of a Lambda invocation, from `context.get_remaining_time_in_millis()`."""
        return cls(at=time.monotonic() + remaining_ms / 1000)

    def remaining(self) -> float:
        return float("inf") if self.at is None else self.at - self.clock()

    def allows(self, seconds: float) -> bool:
        """Whether `seconds` of work still fit before the deadline, margin included."""
        return self.remaining() - self.margin >= seconds
