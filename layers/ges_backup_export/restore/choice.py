"""Which export a restore test imports: from the history, the newest whose job ended within
RESTORE_TEST_WINDOW_DAYS before the tick (`latest`), or one drawn at random with a generator seeded by the
project, the graph and the tick; chosen once per tick and graph (`TestRecords.choice_once`), so that every
retry of the tick tests the same export, whatever the history gained meanwhile."""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from ges_backup_export.core.message_format import format_time
from ges_backup_export.restore.announcements import TestRecords
from ges_backup_export.restore.history import History, HistoryEntry
from ges_backup_export.restore.imports import digest
from ges_backup_export.restore.request import LATEST, RestoreTestRequest


class ExportChoice:
    def __init__(self, history: History, records: TestRecords, window_days: int) -> None:
        self._history = history
        self._records = records
        self._window = timedelta(days=window_days)

    def choose(self, project_id: str, graph_id: str, request: RestoreTestRequest) -> HistoryEntry | None:
        """The export the tick tests on the graph, chosen once (`choice_once`): every retry of the tick
        tests the same export, whatever the history gained meanwhile."""
        tick = digest(["choice", project_id, graph_id, format_time(request.tick), request.selection])
        chosen = self._records.choice_once(tick, lambda: self._chosen(project_id, graph_id, request))
        return HistoryEntry(**chosen["entry"]) if chosen.get("entry") else None

    def _chosen(self, project_id: str, graph_id: str, request: RestoreTestRequest) -> dict[str, Any]:
        """The newest export in the window, or one drawn at random; None when there is none."""
        entry = self._draw(project_id, graph_id, request)
        return {"entry": None if entry is None else asdict(entry)}

    def _draw(self, project_id: str, graph_id: str, request: RestoreTestRequest) -> HistoryEntry | None:
        entries = self._history.within(project_id, graph_id, request.tick - self._window, request.tick)
        if not entries:
            return None
        if request.selection == LATEST:
            return entries[-1]
        seed = hashlib.sha256(f"{project_id}#{graph_id}#{format_time(request.tick)}".encode()).hexdigest()
        return random.Random(seed).choice(entries)  # noqa: S311 - a draw that repeats, not a secret
