"""One export request, from a checked submission to a job_id in the downstream queue."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import cast

from ges_backup_export.core import metrics
from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import ExportOutcomeUnknown
from ges_backup_export.core.message_format import (
    DownstreamMessage,
    ExportDetails,
    ExportIdentity,
    format_time,
)
from ges_backup_export.core.observability import logger
from ges_backup_export.export.concurrency import ExportTurns
from ges_backup_export.export.deduplication import (
    ExportRecords,
    Outcome,
    UnknownOutcome,
    settle_hint,
    unknown_outcome,
)
from ges_backup_export.export.delivery import Delivery
from ges_backup_export.export.request import LATEST, project_of, resolve_export_path
from ges_backup_export.export.triggers import Submission
from ges_backup_export.ges.client import GesClient
from ges_backup_export.ges.turns import Turn

# The export function's metrics (core/metrics.py).
EXPORTS_STARTED = "ExportsStarted"
EXPORTS_DEDUPLICATED = "ExportsDeduplicated"
EXPORTS_FAILED = "ExportsFailed"


class Exporter:
    def __init__(
        self,
        ges: GesClient,
        records: ExportRecords,
        delivery: Delivery,
        default_project_id: str | None,
    ) -> None:
        self._ges = ges
        self._records = records
        self._delivery = delivery
        self._default_project_id = default_project_id

    def export(self, submission: Submission, deadline: Deadline, turns: ExportTurns) -> DownstreamMessage:
        """Export once per identity and return the downstream message; raise ExportError otherwise.
        `turns`: the exports this invocation's other requests are handling (one waits for another)."""
        details = self._details(submission, deadline)
        logger.thread_safe_append_keys(backup_id=details["backup_id"])
        with turns.same_export(_identity(details)), self._ges.turn() as turn:
            # The GES turn before the lock, ended once GES answered (ges.GesClient.turn).
            start = partial(self._start, details, deadline, turn)
            outcome, started_here = self._records.export_once(details, start)
            turn.end()
            return self._finish(details, outcome, started_here)

    def _finish(self, details: ExportDetails, outcome: Outcome, started_here: bool) -> DownstreamMessage:
        """The message of an export that started (sending what it still owes), or the unknown outcome."""
        if "unknown" in outcome:
            raise _unknown(cast(UnknownOutcome, outcome))
        if started_here:
            metrics.count(EXPORTS_STARTED)
        else:
            metrics.count(EXPORTS_DEDUPLICATED)
            job_id = outcome["message"]["job_id"]
            logger.info("export already started; returning its job_id", extra={"job_id": job_id})
        self._delivery.owed(self._records, details, outcome)
        return outcome["message"]

    def _details(self, submission: Submission, deadline: Deadline) -> ExportDetails:
        """The export a submission asks for: its project, `latest` and its placeholders resolved against
        the request's time, so that every retry of it resolves to the same export."""
        request = submission.request
        project_id = project_of(request, self._default_project_id)
        backup_id = request.backup_id
        if backup_id == LATEST:
            backup_id = self._ges.latest_successful_backup(
                project_id, request.graph_id, submission.requested_at, deadline
            )
        export_path = resolve_export_path(
            request.export_path, graph_id=request.graph_id, backup_id=backup_id, at=submission.requested_at
        )
        return {
            "project_id": project_id,
            "graph_id": request.graph_id,
            "backup_id": backup_id,
            "export_path": export_path,
            "trigger": submission.trigger.value,
            "requested_at": format_time(submission.requested_at),
        }

    def _start(self, details: ExportDetails, deadline: Deadline, turn: Turn) -> Outcome:
        """Runs under the identity's lock: GES export (the turn ends with it), then the downstream send."""
        try:
            job_id = self._ges.export_backup(_identity(details), deadline)
        except ExportOutcomeUnknown as error:
            # Raising would make Powertools forget the identity, and a retry would POST again: store it.
            return unknown_outcome(details, error.message, format_time(datetime.now(UTC)))
        finally:
            turn.end()
        started_at = format_time(datetime.now(UTC))  # the tracking timeout counts from it
        message: DownstreamMessage = {"job_id": job_id, **details}
        logger.info("GES started the export", extra={"job_id": job_id})
        # A failed send is stored as owed: raising would make Powertools forget the job_id.
        return self._delivery.first(message, started_at)


def _identity(details: ExportDetails) -> ExportIdentity:
    return ExportIdentity(
        details["project_id"], details["graph_id"], details["backup_id"], details["export_path"]
    )


def _unknown(outcome: UnknownOutcome) -> ExportOutcomeUnknown:
    detail = outcome["unknown"]
    return ExportOutcomeUnknown(f"{detail['reason']} (at {detail['since']}). {settle_hint(detail['export'])}")
