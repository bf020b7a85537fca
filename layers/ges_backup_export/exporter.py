"""One export request, from a checked submission to a job_id in the downstream queue."""

from __future__ import annotations

import json

from ges_backup_export.deadline import Deadline
from ges_backup_export.deduplication import ExportRecords, StartedExport
from ges_backup_export.errors import DeliveryFailed, DependencyUnavailable, ExportError, InvalidRequest
from ges_backup_export.export_request import LATEST, ExportIdentity, format_time, resolve_export_path
from ges_backup_export.ges import GesClient
from ges_backup_export.observability import logger
from ges_backup_export.queues import SqsQueue
from ges_backup_export.triggers import Submission

Message = dict[str, str]


class Exporter:
    def __init__(
        self, ges: GesClient, records: ExportRecords, downstream: SqsQueue, default_project_id: str | None
    ) -> None:
        self._ges = ges
        self._records = records
        self._downstream = downstream
        self._default_project_id = default_project_id

    def export(self, submission: Submission, deadline: Deadline) -> Message:
        """Export once per identity and return the downstream message; raise ExportError otherwise."""
        identity = self._identity(submission, deadline)
        logger.append_keys(backup_id=identity.backup_id)
        ran = False  # whether this call started the export, or found it stored

        def start() -> StartedExport:
            nonlocal ran
            ran = True
            return self._start(identity, submission, deadline)

        started = self._records.export_once(identity, start)
        message = started["message"]
        if not ran:
            logger.info("export already started; returning its job_id", extra={"job_id": message["job_id"]})
        if not started["delivered"]:
            self._redeliver(identity, started)
        return message

    def _identity(self, submission: Submission, deadline: Deadline) -> ExportIdentity:
        request = submission.request
        project_id = request.project_id or self._default_project_id
        if project_id is None:
            raise InvalidRequest("project_id", "is required when the function has no GES_PROJECT_ID")
        backup_id = request.backup_id
        if backup_id == LATEST:
            backup_id = self._ges.latest_successful_backup(project_id, request.graph_id, deadline)
        export_path = resolve_export_path(
            request.export_path, graph_id=request.graph_id, backup_id=backup_id, at=submission.requested_at
        )
        return ExportIdentity(project_id, request.graph_id, backup_id, export_path)

    def _start(self, identity: ExportIdentity, submission: Submission, deadline: Deadline) -> StartedExport:
        """Runs under the identity's lock: GES export, then the downstream send."""
        job_id = self._ges.export_backup(identity, deadline)
        message: Message = {
            "job_id": job_id,
            **identity.as_dict(),
            "trigger": submission.trigger.value,
            "requested_at": format_time(submission.requested_at),
        }
        logger.info("GES started the export", extra={"job_id": job_id})
        try:
            self._send(identity, message)
        except DependencyUnavailable as error:
            # Raising here would make Powertools forget the job_id; store it undelivered instead.
            logger.warning(
                "downstream send failed; a retry sends the stored job_id", extra={"error": error.message}
            )
            return {"message": message, "delivered": False}
        return {"message": message, "delivered": True}

    def _redeliver(self, identity: ExportIdentity, started: StartedExport) -> None:
        message = started["message"]
        try:
            self._records.redeliver_once(identity, started, lambda: self._send(identity, message))
        except DependencyUnavailable as error:
            raise DeliveryFailed(
                f"GES accepted the export as job {message['job_id']}, but its message did not reach the "
                f"downstream queue ({error.message}); a retry sends the stored job_id without exporting again"
            ) from None
        logger.info("delivered the stored job_id", extra={"job_id": message["job_id"]})

    def _send(self, identity: ExportIdentity, message: Message) -> None:
        message_id = self._downstream.send(
            json.dumps(message), group_id=identity.graph_id, deduplication_id=identity.digest()
        )
        logger.info(
            "job_id sent downstream", extra={"job_id": message["job_id"], "sqs_message_id": message_id}
        )


def log_failure(error: ExportError) -> None:
    """One line per failed request, at ERROR when it needs a person, WARNING when a retry can fix it."""
    log = logger.error if error.permanent else logger.warning
    log("export failed", extra={"error_code": error.code, "error_message": error.message})
