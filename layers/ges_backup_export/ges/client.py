"""What the functions ask of GES: export a backup, the backup list behind `latest`, the graph list behind
`"*"`, a job's status, the rotation's access check, and the restore tester's import, backup list, delete
and graph details. How each call is made (tokens, retries, answers) is in calls.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import ExportOutcomeUnknown, GesRefused, InvalidRequest
from ges_backup_export.core.message_format import ALL_GRAPHS, ExportIdentity, format_time
from ges_backup_export.core.observability import logger
from ges_backup_export.ges.answers import finished_success
from ges_backup_export.ges.calls import LIST_PAGE_SIZE, MAX_LIST_PAGES, GesCalls, Listing, Request


class GesClient(GesCalls):
    def export_backup(self, export: ExportIdentity, deadline: Deadline) -> str:
        """Start exporting the backup; returns GES's job_id."""
        path = f"{_graph_path(export.project_id, export.graph_id)}/backups/export"
        body = {"backup_id": export.backup_id, "export_path": export.export_path}
        request = Request(
            "POST", path, _about(export.project_id, export.graph_id), body=body, starts="the export"
        )
        return _job_id(self._call(request, deadline), request, f"backup {export.backup_id}")

    def job_status(self, project_id: str, graph_id: str, job_id: str, deadline: Deadline) -> dict[str, Any]:
        """GES's view of one job (`status`, `begin_time`, `end_time`, `fail_reason`, ...); a job GES does
        not know is GesRefused with GES's code (GES.7007). Safe to repeat: retried like every read."""
        path = f"{_graph_path(project_id, graph_id)}/jobs/{quote(job_id, safe='')}/status"
        return self._call(Request("GET", path, f"job {job_id} of {_about(project_id, graph_id)}"), deadline)

    def latest_successful_backup(
        self, project_id: str, graph_id: str, at: datetime, deadline: Deadline
    ) -> str:
        """The newest backup of the graph whose status is `success` and that finished (`end_timestamp`)
        at or before `at`, across all pages: every retry of one request resolves to the same backup."""
        listing = Listing(
            Request("GET", f"{_graph_path(project_id, graph_id)}/backups", _about(project_id, graph_id)),
            "backup_list",
            "backup_count",
            InvalidRequest("backup_id", f"latest: the backup list of graph {graph_id} {_TOO_LONG}"),
        )
        limit_ms = int(at.timestamp() * 1000)
        newest: tuple[int, int, str] | None = None
        for backup in self._listed(listing, deadline):
            key = finished_success(backup, limit_ms)
            newest = key if key is not None and (newest is None or key > newest) else newest
        if newest is None:
            raise InvalidRequest(
                "backup_id",
                f"latest: graph {graph_id} has no backup whose status is success that finished at or "
                f"before the request's time, {format_time(at)}",
            )
        return newest[2]

    def list_graphs(self, project_id: str, deadline: Deadline) -> list[str]:
        """The ids of the project's graphs, across all pages, in GES's order, whatever their status (a graph
        that cannot export is for GES to refuse, with its reason). A read: retried like one."""
        listing = Listing(
            Request("GET", f"/v2/{quote(project_id, safe='')}/graphs", f"project {project_id}"),
            "graphs",
            "graph_count",
            InvalidRequest("graph_id", f'"{ALL_GRAPHS}": the graph list of project {project_id} {_TOO_LONG}'),
        )
        ids: dict[str, None] = {}  # ordered, and a graph that moves between pages is listed once
        for graph in self._listed(listing, deadline):
            graph_id = graph.get("id") if isinstance(graph, dict) else None
            if isinstance(graph_id, str):
                ids[graph_id] = None
            else:
                logger.warning("GES listed a graph without an id", extra={"project_id": project_id})
        return list(ids)

    def check_access(self, project_id: str, deadline: Deadline) -> None:
        """Whether GES accepts the token for the project: it must list (at most one of) the project's graphs.

        The token rotation's test of a new token before it becomes current. A read: retried like one."""
        path = f"/v2/{quote(project_id, safe='')}/graphs"
        self._call(Request("GET", path, f"project {project_id}", params={"offset": 0, "limit": 1}), deadline)

    def import_backup(self, project_id: str, graph_id: str, import_path: str, deadline: Deadline) -> str:
        """Start importing the backup an export wrote at `import_path` into the graph; GES's job_id.

        Not repeatable, like the export (GES has no idempotency key, and a second import eats backup
        quota): anything that goes wrong once the request may have left is ExportOutcomeUnknown, worded for
        an import, and the caller remembers it (restore/tester.py)."""
        path = f"{_graph_path(project_id, graph_id)}/backups/import"
        body = {"import_path": import_path}
        request = Request("POST", path, _about(project_id, graph_id), body=body, starts="the import")
        return _job_id(self._call(request, deadline), request, import_path)

    def delete_backup(self, project_id: str, graph_id: str, backup_id: str, deadline: Deadline) -> None:
        """Delete one backup of the graph. Repeatable: a DELETE of a backup that is gone answers GES.7024
        ("does not exist or has been deleted"), which counts as deleted, so a DELETE whose answer was lost
        (or a 200 without a JSON body, read as no answer) is simply sent again."""
        path = f"{_graph_path(project_id, graph_id)}/backups/{quote(backup_id, safe='')}"
        about = f"backup {backup_id} of {_about(project_id, graph_id)}"
        try:
            self._call(Request("DELETE", path, about), deadline)
        except GesRefused as error:
            if error.code != self.BACKUP_GONE:
                raise
            logger.info("GES says the backup is already gone", extra={"backup_id": backup_id})

    def list_backups(self, project_id: str, graph_id: str, deadline: Deadline) -> list[dict[str, Any]]:
        """Every backup of the graph (all pages), as GES lists them (id, backup_method, status, times)."""
        listing = Listing(
            Request("GET", f"{_graph_path(project_id, graph_id)}/backups", _about(project_id, graph_id)),
            "backup_list",
            "backup_count",
            InvalidRequest("graph_id", f"the backup list of graph {graph_id} {_TOO_LONG}"),
        )
        return [backup for backup in self._listed(listing, deadline) if isinstance(backup, dict)]

    def graph_details(self, project_id: str, deadline: Deadline) -> list[dict[str, Any]]:
        """The project's graphs (all pages) as GES lists them, `product_type` included."""
        listing = Listing(
            Request("GET", f"/v2/{quote(project_id, safe='')}/graphs", f"project {project_id}"),
            "graphs",
            "graph_count",
            InvalidRequest("graph_id", f'"{ALL_GRAPHS}": the graph list of project {project_id} {_TOO_LONG}'),
        )
        return [graph for graph in self._listed(listing, deadline) if isinstance(graph, dict)]

    def show_graph(self, project_id: str, graph_id: str, deadline: Deadline) -> dict[str, Any]:
        """One graph's details; a graph GES does not know is GesRefused naming it (GES.7000)."""
        answer = self._call(
            Request("GET", _graph_path(project_id, graph_id), _about(project_id, graph_id)), deadline
        )
        graph = answer.get("graph")
        return graph if isinstance(graph, dict) else {}

    # --- end of the restore tests' calls --------------------------------------------------------------------


def _graph_path(project_id: str, graph_id: str) -> str:
    return f"/v2/{quote(project_id, safe='')}/graphs/{quote(graph_id, safe='')}"


def _job_id(answer: dict[str, Any], request: Request, of: str) -> str:
    """The job_id of what `request` started; an answer without one is an unknown outcome, as GES may
    have started it all the same."""
    job_id = answer.get("job_id")
    if not isinstance(job_id, str) or not job_id:
        raise ExportOutcomeUnknown(
            f"GES answered {request.starts} of {of} without a job_id, so it may have started {request.starts}"
        )
    return job_id


def _about(project_id: str, graph_id: str) -> str:
    return f"graph {graph_id} (project {project_id})"


_TOO_LONG = (
    f"has more than {MAX_LIST_PAGES} pages of {LIST_PAGE_SIZE}, more than the client reads: "
    "acting on part of it could pick the wrong one"
)
