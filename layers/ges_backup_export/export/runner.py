"""Running the requests of one invocation: a direct or scheduled event, or one SQS record.

Every request ends with its job_id downstream, or with its error: raised to the caller of a single
direct or scheduled request (its text ending with the request's time, for a redrive of the failed run),
listed in the result of an `exports` list and also sent to the dead-letter queue (an asynchronous caller
never reads the result), and, for a queue record that can never succeed, sent to the dead-letter queue
with its reason (or reported for SQS to redrive). A `"*"` request becomes one request per graph first
(all_graphs.py): in place, or, from the queue, as one message per graph back on the input queue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ges_backup_export.aws.queues import Outgoing, SqsQueue, dead_letter, send_dead_letters
from ges_backup_export.core import metrics
from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import ExportError, InvalidRequest
from ges_backup_export.core.message_format import (
    REQUESTED_AT,
    DownstreamMessage,
)
from ges_backup_export.core.observability import log_failure, logger
from ges_backup_export.export.all_graphs import AllGraphs, Entry, FannedOut
from ges_backup_export.export.concurrency import ExportTurns, Requests
from ges_backup_export.export.exporter import EXPORTS_FAILED, Exporter
from ges_backup_export.export.triggers import (
    Batch,
    Submission,
    batch_from_body,
    batch_from_event,
    record_time,
)

Result = DownstreamMessage | ExportError


class Runner:
    def __init__(
        self, exporter: Exporter, all_graphs: AllGraphs, dead_letter: SqsQueue | None, requests: Requests
    ) -> None:
        self._exporter = exporter
        self._all_graphs = all_graphs
        self._dead_letter = dead_letter
        self._requests = requests

    def run_event(self, event: object, deadline: Deadline) -> dict[str, Any]:
        """A direct or scheduled invocation: the message, or `{"exports": [...]}` for a list (or `"*"`)."""
        try:
            batch = self._all_graphs.expand(batch_from_event(event, datetime.now(UTC)), deadline)
        except ExportError as error:
            _failed(error)
            raise
        turns = ExportTurns()
        results = self._requests.run_each(
            batch.entries, lambda entry: self._run_entry(entry, deadline, turns)
        )
        if batch.is_list:
            self._keep_failed_entries(batch, results)
            return {"exports": [_entry(result) for result in results]}
        result, entry = results[0], batch.entries[0]
        if isinstance(result, ExportError):
            raise result.noting_request_time(entry.requested_at) if isinstance(entry, Submission) else result
        return dict(result)

    def run_record(self, record: SQSRecord, deadline: Deadline, turns: ExportTurns) -> None:
        """One SQS record: returns when it is done or dead-lettered, raises to have SQS retry it. `turns`:
        the exports the invocation's other records are handling."""
        logger.thread_safe_append_keys(message_id=record.message_id)
        try:
            attribute = record.message_attributes[REQUESTED_AT]  # None when absent
            requested_at = attribute.string_value if attribute else None
            at = now = datetime.now(UTC)
            batch: Batch | None = None
            try:
                at = record_time(requested_at, record.attributes.sent_timestamp, now)
                batch = batch_from_body(record.body, at, now)
            except InvalidRequest as error:
                _failed(error)
                results: list[Result | FannedOut] = [error]
            else:
                entries = self._all_graphs.fan_out(batch, record.event_source_arn, deadline)
                results = self._requests.run_each(
                    entries, lambda entry: self._run_queued(entry, deadline, turns)
                )
            self._settle(record, batch, results, at)
        finally:
            logger.thread_safe_remove_keys(["message_id"])

    def _run_queued(
        self, entry: Entry | FannedOut, deadline: Deadline, turns: ExportTurns
    ) -> Result | FannedOut:
        return entry if isinstance(entry, FannedOut) else self._run_entry(entry, deadline, turns)

    def _run_entry(self, entry: Entry, deadline: Deadline, turns: ExportTurns) -> Result:
        """One request (a task of `Requests.run_each`)."""
        if isinstance(entry, ExportError):
            _failed(entry)
            return entry
        logger.thread_safe_append_keys(graph_id=entry.request.graph_id, backup_id=entry.request.backup_id)
        try:
            logger.info("export requested", extra={"trigger": entry.trigger.value})
            return self._exporter.export(entry, deadline, turns)
        except ExportError as error:
            _failed(error)
            return error.naming_graph(entry.request.graph_id) if entry.one_of_all else error
        finally:
            logger.thread_safe_remove_keys(["graph_id", "backup_id"])

    def _settle(
        self, record: SQSRecord, batch: Batch | None, results: Sequence[Result | FannedOut], at: datetime
    ) -> None:
        """A record whose every request ended (or could never succeed) returns; one that a retry may fix
        raises, for SQS to deliver again. What can never succeed is dead-lettered: the record's body
        unchanged, or, for a list, each failed request alone (what succeeded is not sent with it)."""
        failures = _failures(results)
        if not failures:
            return
        retryable = [error for _, error in failures if not error.permanent]
        if retryable:
            raise retryable[0]
        if self._dead_letter is None:
            raise failures[0][1]
        group_id = record.attributes.message_group_id or record.message_id
        if batch is None or not batch.is_list:
            error = failures[0][1]
            letter = dead_letter(
                record.body,
                error.code,
                error.message,
                group_id=group_id,
                deduplication_id=record.message_id,
                requested_at=at,
            )
            send_dead_letters(self._dead_letter, [letter])
            return
        letters = [
            _letter(batch, index, error, group_id, f"{record.message_id}-{index}")
            for index, error in failures
        ]
        send_dead_letters(self._dead_letter, letters)

    def _keep_failed_entries(self, batch: Batch, results: list[Result]) -> None:
        """A list returns its per-entry errors, which an asynchronous caller never reads: keep its failed
        requests in the dead-letter queue too. Without one, a scheduled run fails, so that it reaches the
        on-failure destination; a direct caller has the result."""
        failures = _failures(results)
        if not failures:
            return
        if self._dead_letter is None:
            if batch.scheduled:
                raise failures[0][1]
            return
        letters = []
        for index, error in failures:
            digest = hashlib.sha256(batch.replay_body(index).encode()).hexdigest()
            letters.append(_letter(batch, index, error, "schedule", digest))
        send_dead_letters(self._dead_letter, letters)


def _letter(batch: Batch, index: int, error: ExportError, group_id: str, deduplication_id: str) -> Outgoing:
    """Failed request `index` of a list as a message of its own, which the function accepts when redriven
    (so a list of any length, a `"*"` over any number of graphs, dead-letters what failed and nothing
    else); its reason says where in the list it was."""
    reason = f"exports[{index}]: {error}"
    return dead_letter(
        batch.replay_body(index), error.code, reason, group_id=group_id, deduplication_id=deduplication_id
    )


def _failed(error: ExportError) -> None:
    """A request that failed: one log line, and one count of ExportsFailed."""
    log_failure(error)
    metrics.count(EXPORTS_FAILED)


def _failures(results: Sequence[Result | FannedOut]) -> list[tuple[int, ExportError]]:
    return [(index, result) for index, result in enumerate(results) if isinstance(result, ExportError)]


def _entry(result: Result) -> dict[str, Any]:
    return {"error": result.as_dict()} if isinstance(result, ExportError) else dict(result)
