"""The fake GES's graphs and their backups (sections 2 and 4), and GES's way of writing times."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"  # GES's yyyy-MM-ddTHH:mm:ss, UTC without a zone (sections 2, 3)
BACKUP_STATUSES = ("success", "failed", "backing_up")  # section 2
BACKUP_METHODS = ("manual", "auto")  # section 2 (SDK); "import" from one 2025 doc is not modelled
_GRAPH_DEFAULTS: Json = {
    "data_store_version": "2.3.16", "graph_size_type_index": "1", "arch": "x86_64",
    "product_type": "InMemory", "encrypted": False,
}  # fmt: skip


def utc(ms: int) -> str:
    """Epoch milliseconds as GES writes a time."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(TIME_FORMAT)


def now() -> str:
    return datetime.now(tz=UTC).strftime(TIME_FORMAT)


def backup_name(graph_name: str, start_timestamp: int, method: str) -> str:
    """``<graph>-<YYYYmmddHHMMSS>`` for a manual backup, ``<graph>_<YYYYmmddHHMMSS>_auto`` for an
    automatic one (section 2's examples)."""
    stamp = datetime.fromtimestamp(start_timestamp / 1000, tz=UTC).strftime("%Y%m%d%H%M%S")
    return f"{graph_name}_{stamp}_auto" if method == "auto" else f"{graph_name}-{stamp}"


@dataclass
class Graph:
    id: str
    name: str
    status: str
    created: str
    updated: str
    backups: dict[str, Json] = field(default_factory=dict)
    product_type: str = "InMemory"  # "Persistence": the edition GES imports no backup into (fake_obs.py)

    def as_json(self) -> Json:
        """The graph as the list and show routes give it (section 4; a subset of the SDK's fields)."""
        return {
            "id": self.id, "name": self.name, "status": self.status, **_GRAPH_DEFAULTS,
            "product_type": self.product_type, "created": self.created, "updated": self.updated,
        }  # fmt: skip

    def listed_backups(self) -> list[Json]:
        """The graph's backups as the backup lists give them (section 2), in insertion order."""
        extra = {
            "graph_name": self.name, "graph_status": self.status,
            "graph_size_type_index": _GRAPH_DEFAULTS["graph_size_type_index"],
            "data_store_version": _GRAPH_DEFAULTS["data_store_version"], "arch": _GRAPH_DEFAULTS["arch"],
        }  # fmt: skip
        return [{**backup, **extra} for backup in self.backups.values()]

    def add_backup(
        self,
        backup_id: str | None,
        status: str,
        start_timestamp: int | None,
        end_timestamp: int | None,
        name: str | None,
        backup_method: str,
    ) -> str:
        """See :meth:`FakeGes.add_backup`; returns the backup's id."""
        if status not in BACKUP_STATUSES:
            raise ValueError(f"unknown backup status {status!r}; expected one of {BACKUP_STATUSES}")
        if backup_method not in BACKUP_METHODS:
            raise ValueError(f"unknown backup method {backup_method!r}; expected one of {BACKUP_METHODS}")
        backup_id = backup_id or str(uuid.uuid4())
        if backup_id in self.backups:
            raise ValueError(f"backup {backup_id} already exists")
        start = self._default_start() if start_timestamp is None else start_timestamp
        end = start + 60_000 if end_timestamp is None else end_timestamp
        if end < start:
            raise ValueError("end_timestamp lies before start_timestamp")
        self.backups[backup_id] = {
            "id": backup_id, "name": name or backup_name(self.name, start, backup_method),
            "backup_method": backup_method, "graph_id": self.id, "status": status,
            "start_timestamp": start, "start_time": utc(start), "end_timestamp": end,
            "end_time": utc(end), "size": 100 + len(self.backups), "duration": (end - start) // 1000,
            "encrypted": False,
        }  # fmt: skip
        return backup_id

    def _default_start(self) -> int:
        """Ten minutes ago, or one second after the graph's latest backup start if that is later."""
        latest = max((int(b["start_timestamp"]) for b in self.backups.values()), default=0)
        return max(int(time.time()) * 1000 - 600_000, latest + 1000)


class Graphs:
    """The graphs of every project, in the order they were added. Not locked: the fake's lock is held."""

    def __init__(self) -> None:
        self._graphs: dict[tuple[str, str], Graph] = {}

    def get(self, project_id: str, graph_id: str) -> Graph | None:
        return self._graphs.get((project_id, graph_id))

    def ensure(self, project_id: str, graph_id: str) -> Graph:
        """The graph, created with a default name if missing."""
        graph = self._graphs.get((project_id, graph_id))
        if graph is None:
            name, created = "ges_" + re.sub(r"\W", "_", graph_id)[:60], now()
            graph = self._graphs[(project_id, graph_id)] = Graph(graph_id, name, "200", created, created)
        return graph

    def of_project(self, project_id: str) -> list[Graph]:
        """The project's graphs in insertion order."""
        return [graph for (owner, _), graph in self._graphs.items() if owner == project_id]

    def clear(self) -> None:
        self._graphs.clear()
