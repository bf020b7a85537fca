"""A restore test per graph, or an import by hand: from the checked event to an import job handed to the
follow-up queue (follow.py follows it to its end and puts the one event).

A restore test, for each graph (`"*"`: every graph of the project, concurrently, at most
GES_CONCURRENCY calls to GES at a time):

1. a persistence-edition graph (`product_type` `Persistence`, into which GES imports nothing) is skipped and
   logged, never a failure; so is one whose previous test's import is still being followed (running.py);
2. one export is chosen (choice.py) from the history (history.py) whose job ended within
   RESTORE_TEST_WINDOW_DAYS before the tick: the newest (`latest`), or one drawn at random; the choice is
   kept, so that every retry of one tick tests the same export. None: a failed test saying there is
   nothing to restore;
3. the graph's backups are listed (the one the import adds will be the one not among them), and the import
   is POSTed once: the export records' deduplication (deduplication.ExportRecords) holds it to one POST per
   identity (project, graph, import path, and `import-<tick>` as its backup id), remembers an unknown
   outcome (ImportOutcomeUnknown until a person settles it) and a refusal (a failed test carrying GES's
   code, put once), and keeps the follow-up message owed when its send failed;
4. the import job goes to the follow-up queue, first checked JOB_POLL_INTERVAL_SECONDS later.

An import by hand is step 3 and 4 for the console's graph and path, its identity's time the request's
own; its backup is kept unless `keep` is false.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from ges_backup_export.aws.queues import SqsQueue
from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import (
    DeliveryFailed,
    DependencyUnavailable,
    ExportError,
    ExportOutcomeUnknown,
    GesRefused,
    InvalidRequest,
)
from ges_backup_export.core.message_format import ALL_GRAPHS, DownstreamMessage, format_time
from ges_backup_export.core.observability import log_failure, logger
from ges_backup_export.export.concurrency import Requests
from ges_backup_export.export.deduplication import (
    ExportRecords,
    Outcome,
    StartedExport,
    unknown_outcome,
)
from ges_backup_export.ges.client import GesClient
from ges_backup_export.ges.turns import Turn
from ges_backup_export.restore.announcements import RestoreAnnouncer, TestRecords
from ges_backup_export.restore.choice import ExportChoice
from ges_backup_export.restore.errors import ImportInProgress, ImportOutcomeUnknown
from ges_backup_export.restore.history import History
from ges_backup_export.restore.imports import (
    as_import,
    digest,
    follow_up_of,
    hint,
    import_details,
    persistence,
    refused_detail,
    send_follow_up,
    several,
)
from ges_backup_export.restore.messages import (
    ImportDetails,
    RestoreDetail,
    RestoreInfo,
)
from ges_backup_export.restore.request import ImportRequest, RestoreTestRequest, parse_event
from ges_backup_export.restore.running import RunningImports

MAX_LISTED_BACKUPS = 1000  # ids kept from the list before an import (a record and a message must stay small)


class Tester:
    def __init__(
        self,
        ges: GesClient,
        records: ExportRecords,
        history: History,
        running: RunningImports,
        announcer: RestoreAnnouncer,
        tests: TestRecords,
        follow_ups: SqsQueue,
        *,
        default_project_id: str | None,
        window_days: int,
        poll_interval_seconds: int,
        requests: Requests,
    ) -> None:
        self._ges = ges
        self._records = records
        self._running = running
        self._announcer = announcer
        self._choice = ExportChoice(history, tests, window_days)
        self._follow_ups = follow_ups
        self._default_project_id = default_project_id
        self._window = timedelta(days=window_days)
        self._poll_interval = poll_interval_seconds
        self._requests = requests

    def run_event(self, event: object, deadline: Deadline) -> dict[str, Any]:
        """A schedule tick or a console import: what was started (or skipped, or failed), per graph."""
        request = parse_event(event, datetime.now(UTC))
        if isinstance(request, ImportRequest):
            return self._by_hand(request, deadline)
        return self._tests(request, deadline)

    # --- restore tests ---------------------------------------------------------------------------

    def _tests(self, request: RestoreTestRequest, deadline: Deadline) -> dict[str, Any]:
        project_id = self._project(request.project_id)
        if request.graph_id == ALL_GRAPHS:
            graphs = self._ges.graph_details(project_id, deadline)
            if not graphs:
                raise InvalidRequest(
                    "graph_id", f'"{ALL_GRAPHS}": GES lists no graph in project {project_id}'
                )
        else:
            graphs = [
                {**self._ges.show_graph(project_id, request.graph_id, deadline), "id": request.graph_id}
            ]
        results = self._requests.run_each(
            graphs, lambda graph: self._test(project_id, graph, request, deadline)
        )
        failures = [result for result in results if isinstance(result, ExportError)]
        if failures:  # a test neither started nor announced: the run fails (a retry of the tick is safe)
            raise failures[0] if len(results) == 1 else several(failures, len(results))
        return {"restore_tests": results}

    def _test(
        self, project_id: str, graph: dict[str, Any], request: RestoreTestRequest, deadline: Deadline
    ) -> dict[str, Any] | ExportError:
        graph_id = str(graph.get("id"))
        logger.thread_safe_append_keys(graph_id=graph_id)
        try:
            skipped = persistence(graph)
            target_id = request.target_graph_id or graph_id
            if skipped is None and target_id != graph_id:
                skipped = persistence(self._ges.show_graph(project_id, target_id, deadline), target_id)
            if skipped is not None:
                logger.warning("restore test skipped", extra={"reason": skipped})
                return {"graph_id": graph_id, "outcome": "skipped", "reason": skipped}
            chosen = self._choice.choose(project_id, graph_id, request)
            if chosen is None:
                return self._nothing_to_restore(project_id, graph_id, request)
            info: RestoreInfo = {
                "test": "", "kind": "test", "keep": False, "before": [], "source_graph_id": graph_id,
                "source_job_id": chosen.job_id, "source_ended_at": chosen.ended_at,
            }  # fmt: skip
            details = import_details(project_id, target_id, chosen.export_path, request.tick, info)
            return self._import(details, deadline)
        except ExportError as error:
            log_failure(error)
            return error.naming_graph(graph_id) if request.graph_id == ALL_GRAPHS else error
        finally:
            logger.thread_safe_remove_keys(["graph_id"])

    def _nothing_to_restore(
        self, project_id: str, graph_id: str, request: RestoreTestRequest
    ) -> dict[str, Any]:
        days = self._window.days
        reason = (
            f"nothing to restore: no export of graph {graph_id} succeeded in the {days} days before "
            f"{format_time(request.tick)} (RESTORE_TEST_WINDOW_DAYS)"
        )
        now = format_time(datetime.now(UTC))
        detail: RestoreDetail = {
            "project_id": project_id, "graph_id": graph_id, "deleted": False, "fail_reason": reason,
            "requested_at": format_time(request.tick), "checked_at": now,
        }  # fmt: skip
        test = digest(["nothing", project_id, graph_id, format_time(request.tick)])
        self._announcer.announce(test, "test", "failed", detail)
        return {"graph_id": graph_id, "outcome": "failed", "reason": reason}

    # --- imports by hand -------------------------------------------------------------------------

    def _by_hand(self, request: ImportRequest, deadline: Deadline) -> dict[str, Any]:
        project_id = self._project(request.project_id)
        info: RestoreInfo = {"test": "", "kind": "import", "keep": request.keep, "before": []}
        details = import_details(
            project_id, request.graph_id, request.import_path, request.requested_at, info
        )
        result = self._import(details, deadline)
        if result["outcome"] == "failed":
            raise GesRefused(400, result["error_code"], result["reason"])
        return result

    # --- one import ------------------------------------------------------------------------------

    def _import(self, details: ImportDetails, deadline: Deadline) -> dict[str, Any]:
        """Claim the graph, list its backups, import once, hand the job to the follow-up queue."""
        info = details["restore"]
        project_id, graph_id = details["project_id"], details["graph_id"]
        holder, taken_here = self._running.claim(project_id, graph_id, info["test"])
        if holder is not None:
            reason = f"graph {graph_id}'s previous import (test {holder}) is still being followed"
            if info["kind"] == "import":
                raise ImportInProgress(f"{reason}; import again once its event is out")
            logger.warning("restore test skipped", extra={"reason": reason})
            return {"graph_id": graph_id, "outcome": "skipped", "reason": reason}
        try:
            backups = self._ges.list_backups(project_id, graph_id, deadline)
            info["before"] = [str(b["id"]) for b in backups if isinstance(b.get("id"), str)][
                :MAX_LISTED_BACKUPS
            ]
            with self._ges.turn() as turn:  # before the lock, ended once GES answered (exporter.py)
                outcome, started_here = self._records.export_once(
                    details, partial(self._start, details, deadline, turn)
                )
                turn.end()
        except ExportOutcomeUnknown as error:  # an abandoned lock: the import may have been sent
            raise ImportOutcomeUnknown(as_import(error.message)) from None
        except ExportError:
            if taken_here:  # a retry of the test gives back no claim it found (its import may be running)
                self._running.release(project_id, graph_id, info["test"])
            raise
        return self._outcome(details, outcome, started_here)

    def _start(self, details: ImportDetails, deadline: Deadline, turn: Turn) -> Outcome:
        """Under the import's lock: POST the import (the turn ends with it), then the follow-up."""
        try:
            job_id = self._ges.import_backup(
                details["project_id"], details["graph_id"], details["export_path"], deadline
            )
        except ExportOutcomeUnknown as error:
            return unknown_outcome(details, error.message, format_time(datetime.now(UTC)))
        except GesRefused as error:  # remembered: one import per test, and one event saying why not
            return cast(Outcome, {"refused": {"code": error.code, "message": error.message}})
        finally:
            turn.end()
        started_at = format_time(datetime.now(UTC))
        logger.info("GES started the import", extra={"job_id": job_id})
        started: StartedExport = {
            "message": cast(DownstreamMessage, {"job_id": job_id, **details}),
            "delivered": False,
            "started_at": started_at,
        }
        try:
            self._follow_up(started)
        except DependencyUnavailable as error:
            logger.warning(
                "the follow-up was not sent after GES accepted the import; a retry sends it, without "
                "importing again",
                extra={"error": error.message},
            )
            return started
        return {**started, "delivered": True}

    def _outcome(self, details: ImportDetails, outcome: Outcome, started_here: bool) -> dict[str, Any]:
        info = details["restore"]
        stored = cast(dict[str, Any], outcome)
        if "unknown" in stored:
            unknown = stored["unknown"]
            raise ImportOutcomeUnknown(
                f"{as_import(unknown['reason'])} (at {unknown['since']}). {hint(details)}"
            )
        summary = {"graph_id": details["graph_id"], "import_path": details["export_path"]}
        if "refused" in stored:
            refused = stored["refused"]
            self._running.release(details["project_id"], details["graph_id"], info["test"])
            reason = f"{refused['code']}: {refused['message']}"
            self._announcer.announce(info["test"], info["kind"], "failed", refused_detail(details, reason))
            return {**summary, "outcome": "failed", "reason": reason, "error_code": refused["code"]}
        started = cast(StartedExport, outcome)
        if not started["delivered"]:
            started = self._send_owed(details, started)
        job_id = started["message"]["job_id"]
        if not started_here:
            logger.info("import already started; its job is being followed", extra={"job_id": job_id})
        return {**summary, "outcome": "started" if started_here else "duplicate", "job_id": job_id}

    def _send_owed(self, details: ImportDetails, started: StartedExport) -> StartedExport:
        try:
            return self._records.send_owed_once(
                details, started, "delivered", lambda: self._follow_up(started)
            )
        except DependencyUnavailable as error:
            raise DeliveryFailed(
                f"GES accepted the import as job {started['message']['job_id']}, but handing it to the "
                f"follow-up queue failed ({error.message}); a retry sends it again without importing again"
            ) from None

    def _follow_up(self, started: StartedExport) -> None:
        """The import job's first check, on the follow-up queue, JOB_POLL_INTERVAL_SECONDS from now."""
        send_follow_up(self._follow_ups, follow_up_of(started), self._poll_interval)

    def _project(self, project_id: str | None) -> str:
        project = project_id or self._default_project_id
        if project is None:
            raise InvalidRequest("project_id", "is required when the function has no GES_PROJECT_ID")
        return project
