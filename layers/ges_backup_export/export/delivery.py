"""Where a started export's messages go: the downstream queue, then the job tracker's queue when it is
set (delayed by JOB_POLL_INTERVAL_SECONDS, so that the first status check waits that long). The tracking
message is the downstream message plus `started_at`, when GES accepted the export, kept in the export's
record so that a tracking message owed and sent later still carries it (the tracking timeout counts from it).

A send that fails after GES accepted the export is owed, not raised: the stored record says so, and the
next request for the export sends what it still owes, each message once (deduplication.send_owed_once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from ges_backup_export.aws.queues import SqsQueue, send_downstream
from ges_backup_export.core.errors import DeliveryFailed, DependencyUnavailable
from ges_backup_export.core.message_format import DownstreamMessage, ExportDetails, TrackingMessage
from ges_backup_export.core.observability import logger
from ges_backup_export.export.deduplication import ExportRecords, Owed, StartedExport


class Delivery:
    def __init__(self, downstream: SqsQueue, tracking: SqsQueue | None, poll_interval_seconds: int) -> None:
        self._downstream = downstream
        self._tracking = tracking
        self._poll_interval = poll_interval_seconds

    @property
    def tracks(self) -> bool:
        """Whether the job tracker follows the exports."""
        return self._tracking is not None

    def first(self, message: DownstreamMessage, started_at: str) -> StartedExport:
        """The first sends of a new export GES accepted at `started_at`; what failed is owed in the result."""
        started: StartedExport = {"message": message, "delivered": False, "started_at": started_at}
        if self._tracking is not None:
            started["tracked"] = False
        for owed in self._owed(started):
            try:
                self._send(owed, started)
            except DependencyUnavailable as error:
                logger.warning(
                    "a send failed after GES accepted the export; a retry sends it, without exporting again",
                    extra={"owed": owed, "error": error.message},
                )
                return started  # the tracking message waits for the downstream one
            started[owed] = True
        return started

    def owed(self, records: ExportRecords, details: ExportDetails, started: StartedExport) -> StartedExport:
        """Send what a stored export still owes, each message once; DeliveryFailed when a send fails."""
        message = started["message"]
        for owed in self._owed(started):
            try:
                started = records.send_owed_once(details, started, owed, self._sender(owed, started))
            except DependencyUnavailable as error:
                raise DeliveryFailed(_owed_failure(owed, message["job_id"], error.message)) from None
            logger.info("sent what a started export owed", extra={"owed": owed, "job_id": message["job_id"]})
        return started

    def _owed(self, started: StartedExport) -> list[Owed]:
        owed: list[Owed] = [] if started["delivered"] else ["delivered"]
        if self._tracking is not None and started.get("tracked") is False:
            owed.append("tracked")
        return owed

    def _sender(self, owed: Owed, started: StartedExport) -> Callable[[], None]:
        return lambda: self._send(owed, started)

    def _send(self, owed: Owed, started: StartedExport) -> None:
        message = started["message"]
        if owed == "tracked" and self._tracking is not None:
            tracking = cast(TrackingMessage, dict(message))
            if "started_at" in started:  # a record of an older version has none: the tracker adds it
                tracking["started_at"] = started["started_at"]
            sent = send_downstream(self._tracking, tracking, delay_seconds=self._poll_interval)
            what = "job handed to the tracker"
        else:
            sent = send_downstream(self._downstream, message)
            what = "job_id sent downstream"
        logger.info(what, extra={"job_id": message["job_id"], "sqs_message_id": sent})


def _owed_failure(owed: Owed, job_id: str, problem: str) -> str:
    what = "sending its message downstream" if owed == "delivered" else "handing it to the job tracker"
    return (
        f"GES accepted the export as job {job_id}, but {what} failed ({problem}), so it may or may not "
        "have arrived; a retry sends it again without exporting again"
    )
