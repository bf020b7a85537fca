"""The fake GES's side of the restore tests: a fake OBS, imports from it, backup deletes, the persistence
edition and the backup quota (local/fake_ges/ routes the requests here and holds one `FakeObs`).

* The fake OBS holds what each export job that succeeded wrote at its export path: the graph and the
  backup it exported. It follows the export job (`follow_export`): the path holds the backup while the
  job's status is `success`, and nothing once a job script moves it elsewhere (a failed export wrote
  nothing that imports). `put` seeds a path as if an export job had written it.
* ``POST /v2/{project_id}/graphs/{graph_id}/backups/import`` (route ``import_backup``) with
  ``{"import_path": "bucket/dir/"}`` answers ``{"job_id"}``: an import job (``GraphManagement`` /
  ``ImportBackup``, assumed like the export's) that follows :attr:`FakeObs.import_script` (default
  ``("success",)``) when the path holds an export, and fails at once otherwise, with a reason. When it
  succeeds the graph gains a backup whose ``backup_method`` is ``import`` (Huawei's pages list the value;
  the backup's name and times are assumptions: a manual-style name, the import's own times).
* ``DELETE /v2/{project_id}/graphs/{graph_id}/backups/{backup_id}`` (route ``delete_backup``) answers 200
  ``{}`` (the docs' example body), and 400 ``GES.7024`` for a backup that does not exist (any more).
* Refusals of an import, in the order checked, all 400 and all assumed where the docs are silent
  (docs/ges-api.md): no graph ``GES.7000``; a body without ``import_path`` ``GES.7049``, an empty one
  ``GES.7050``; a persistence-edition graph (``make_persistence``) ``GES.0001`` with a free-text reason
  (the real code is undocumented); a graph holding :attr:`FakeObs.backup_quota` backups or more ``GES.7019``.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.fake_ges.fake import FakeGes
    from local.fake_ges.graphs import Graph
    from local.fake_ges.jobs import Job

Json = dict[str, Any]
Reply = tuple[int, Json]
IMPORT_FAIL_REASON = "The OBS path holds no backup exported by GES: nothing to import."
PERSISTENCE = "Persistence"


@dataclass(frozen=True)
class Written:
    """What an export job wrote at a path: the graph and the backup it exported."""

    project_id: str
    graph_id: str
    backup_id: str
    job_id: str


class FakeObs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: dict[str, Written] = {}
        self.import_script: tuple[str, ...] = ("success",)
        self.backup_quota: int | None = None  # backups a graph may hold before an import is refused

    def reset(self) -> None:
        with self._lock:
            self._written.clear()
        self.import_script = ("success",)
        self.backup_quota = None

    # -- the fake OBS ------------------------------------------------------------------------------
    def put(self, path: str, project_id: str, graph_id: str, backup_id: str = "seeded") -> None:
        """`path` holds an export of the graph's backup, as if an export job had written it."""
        with self._lock:
            self._written[_directory(path)] = Written(project_id, graph_id, backup_id, "seeded")

    def written(self, path: str) -> Written | None:
        with self._lock:
            return self._written.get(_directory(path))

    def follow_export(self, job: Job, graph_id: str, body: Json) -> None:
        """Have the path hold the export while `job` (an export job just started) is `success`."""
        path, backup_id = _directory(str(body["export_path"])), str(body["backup_id"])

        def on_status(job: Job) -> None:
            with self._lock:
                if job.fields["status"] == "success":
                    self._written[path] = Written(job.project_id, graph_id, backup_id, job.fields["job_id"])
                elif self._written.get(path, Written("", "", "", "")).job_id == job.fields["job_id"]:
                    del self._written[path]

        job.on_status = on_status
        on_status(job)

    # -- the routes (called by local/fake_ges/routes.py) ---------------------------------------
    def import_backup(self, fake: FakeGes, project_id: str, graph_id: str, body: object) -> Reply:
        refusal, start = partial(self._refusal, fake), partial(self._start, fake, project_id)
        return fake._acting_on_graph(project_id, graph_id, body, refusal, start)

    def _start(self, fake: FakeGes, project_id: str, graph: Graph, body: Json) -> Reply:
        """The import job. The fake's lock is held."""
        from local.fake_ges.jobs import Job

        path = _directory(body["import_path"])
        holds = self.written(path) is not None
        script = self.import_script if holds else ("failed",)
        job = Job.start(project_id, graph.name, script)
        job.fields["job_name"] = "ImportBackup"
        if not holds:
            job.restart(("failed",), f"{IMPORT_FAIL_REASON} ({path})")
        fake._jobs[job.fields["job_id"]] = job

        added: list[bool] = []

        def on_status(job: Job) -> None:  # called with the fake's lock held (a status call)
            if job.fields["status"] == "success" and not added:
                added.append(True)
                _add_imported(graph.backups, graph.name, graph.id)

        job.on_status = on_status
        on_status(job)
        return 200, {"job_id": job.fields["job_id"]}

    def delete_backup(self, fake: FakeGes, project_id: str, graph_id: str, backup_id: str) -> Reply:
        with fake._lock:
            graph = fake._graphs.get(project_id, graph_id)
            if graph is None:
                return fake._no_graph()
            if graph.backups.pop(backup_id, None) is None:
                return fake._error(400, "GES.7024", "The graph backup does not exist or has been deleted.")
            return 200, {}

    def _refusal(self, fake: FakeGes, graph: Graph, body: Json) -> Reply | None:
        """Why GES refuses this import; None when it accepts it. The fake's lock is held."""
        value = body.get("import_path")
        if value is None:
            return fake._error(400, "GES.7049", "The parameter [import_path] is not exist.")
        if not isinstance(value, str):
            return fake._error(400, "GES.7016", "Request body or header invalid")
        if not value:
            return fake._error(400, "GES.7050", "The parameter [import_path] is empty.")
        if graph.product_type == PERSISTENCE:
            return fake._error(
                400, "GES.0001", "Incorrect parameter: a persistent graph cannot import a backup."
            )
        if self.backup_quota is not None and len(graph.backups) >= self.backup_quota:
            return fake._error(400, "GES.7019", "The number of graph backups reaches the upper limit.")
        return None


def make_persistence(fake: FakeGes, project_id: str, graph_id: str) -> None:
    """The graph (created if needed) becomes of the persistence edition: listed with that product_type,
    refusing imports."""
    with fake._lock:
        fake._graphs.ensure(project_id, graph_id).product_type = PERSISTENCE


def imported_backups(fake: FakeGes, project_id: str, graph_id: str) -> list[Json]:
    """The graph's backups that an import added (backup_method import)."""
    with fake._lock:
        graph = fake._graphs.get(project_id, graph_id)
        backups = list(graph.backups.values()) if graph is not None else []
    return [dict(backup) for backup in backups if backup.get("backup_method") == "import"]


def _add_imported(backups: dict[str, Json], graph_name: str, graph_id: str) -> None:
    from local.fake_ges.graphs import backup_name, utc

    now = int(time.time() * 1000)
    backup_id = str(uuid.uuid4())
    backups[backup_id] = {
        "id": backup_id, "name": backup_name(graph_name, now, "manual"), "backup_method": "import",
        "graph_id": graph_id, "status": "success", "start_timestamp": now, "start_time": utc(now),
        "end_timestamp": now, "end_time": utc(now), "size": 100 + len(backups), "duration": 0,
        "encrypted": False,
    }  # fmt: skip


def _directory(path: str) -> str:
    return path if path.endswith("/") else path + "/"
