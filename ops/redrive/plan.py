"""What one redrive run does (Plan), what it found in the source queue (Candidate), and its counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef


class RedriveError(Exception):
    """A problem that stops the run, worded for the person running it."""


@dataclass(frozen=True)
class Plan:
    """What one run does: from where to where, which reasons, and whether it moves anything."""

    source: str
    target: str
    failed_runs: bool = False
    reasons: tuple[str, ...] = ()
    message_ids: frozenset[str] = frozenset()
    apply: bool = False
    limit: int | None = None
    wait_seconds: int = 2
    samples: int = 3

    def selects(self, candidate: Candidate) -> bool:
        if self.message_ids and candidate.message_id not in self.message_ids:
            return False
        return not self.reasons or any(fnmatchcase(candidate.reason, pattern) for pattern in self.reasons)


@dataclass(frozen=True)
class Candidate:
    """One received message: its reason, and the body a redrive sends (None: it cannot be redriven)."""

    message_id: str
    receipt_handle: str
    reason: str
    detail: str
    body: str | None
    group_id: str
    attributes: dict[str, MessageAttributeValueTypeDef]


@dataclass
class Tally:
    found: Counter[str] = field(default_factory=Counter)
    moved: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[Candidate]] = field(default_factory=dict)
    unreleased: int = 0

    def count(self, candidate: Candidate, samples: int) -> None:
        self.found[candidate.reason] += 1
        shown = self.samples.setdefault(candidate.reason, [])
        if len(shown) < samples:
            shown.append(candidate)
