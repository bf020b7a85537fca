"""`"graph_id": "*"`: one request for every graph of the project.

GES's graph list (all pages) turns the request into one request per graph, each then handled on its own
as an entry of an `exports` list is: its own identity, idempotency, failure and result entry, its errors
naming its graph. The request must ask for `latest` into a path holding `{graph_id}` (request.py),
so each graph resolves its own backup into its own directory.

- Directly or on a schedule (`expand`), the graphs take the request's place and run concurrently; the
  result is a list, one entry per graph.
- From the input queue (`fan_out`), one message per graph goes back onto the input queue, carrying the
  request's time (`requested_at`), so each graph is retried and dead-lettered on its own. A record fanned
  out again (a redelivery) sends the same messages, which resolve to the same exports: the idempotency
  records hold each to one export (and a FIFO queue drops the copies for five minutes).

A graph GES lists as not running (stopped, frozen...) is asked for all the same: GES refuses it with its
own code and reason (GES.7001), which becomes that graph's error entry, never a silent skip. A project
with no graph is an InvalidRequest naming the project, never a silent success.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from ges_backup_export.aws.queues import Outgoing, QueuesByArn
from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import ExportError, InvalidRequest, shown_name
from ges_backup_export.core.ids import check_id
from ges_backup_export.core.message_format import ALL_GRAPHS, REQUESTED_AT, format_time
from ges_backup_export.core.observability import logger
from ges_backup_export.export.request import project_of
from ges_backup_export.export.triggers import Batch, Submission
from ges_backup_export.ges.client import GesClient

Entry = Submission | ExportError


@dataclass(frozen=True)
class FannedOut:
    """A `"*"` request from the queue, handed back to the input queue as one message per graph."""

    graph_ids: tuple[str, ...]


class AllGraphs:
    def __init__(self, ges: GesClient, default_project_id: str | None, queues: QueuesByArn) -> None:
        """`queues`: the queues records come from, by ARN (a `"*"` record fans out onto its own queue)."""
        self._ges = ges
        self._default_project_id = default_project_id
        self._queues = queues

    def expand(self, batch: Batch, deadline: Deadline) -> Batch:
        """The batch with each `"*"` request replaced in place by one request per graph: a list. A single
        `"*"` request whose graphs cannot be listed raises that error (noting the request's time, as a
        failed single request does); in a list, the error takes the request's place."""
        if not any(_is_all_graphs(entry) for entry in batch.entries):
            return batch
        entries: list[Entry] = []
        raw_entries: list[object] = []
        for raw, entry in zip(batch.raw_entries, batch.entries, strict=True):
            if not isinstance(entry, Submission) or not _is_all_graphs(entry):
                entries.append(entry)
                raw_entries.append(raw)
                continue
            try:
                graph_ids = self._graph_ids(entry, deadline)
            except ExportError as error:
                if not batch.is_list:
                    raise error.noting_request_time(entry.requested_at) from None
                entries.append(error)
                raw_entries.append(_with_time(raw, entry))  # a redrive lists the graphs at the same time
                continue
            for graph_id in graph_ids:
                entries.append(_one_graph(entry, graph_id))
                raw_entries.append(_for_graph(raw, graph_id))
        return Batch(entries, is_list=True, trigger=batch.trigger, raw_entries=raw_entries)

    def fan_out(self, batch: Batch, source_arn: str, deadline: Deadline) -> list[Entry | FannedOut]:
        """The batch's entries, each `"*"` request sent back to its queue (`source_arn`) as one message per
        graph, with the request's time, and replaced by FannedOut (or by the error that stopped it)."""
        entries: list[Entry | FannedOut] = []
        for raw, entry in zip(batch.raw_entries, batch.entries, strict=True):
            if not isinstance(entry, Submission) or not _is_all_graphs(entry):
                entries.append(entry)
                continue
            try:
                graph_ids = self._graph_ids(entry, deadline)
                self._queues.by_arn(source_arn).send_all([_message(raw, entry, g) for g in graph_ids])
            except ExportError as error:
                entries.append(error)
                continue
            logger.info("request for every graph fanned out", extra={"graphs": len(graph_ids)})
            entries.append(FannedOut(tuple(graph_ids)))
        return entries

    def _graph_ids(self, submission: Submission, deadline: Deadline) -> list[str]:
        project_id = project_of(submission.request, self._default_project_id)
        graph_ids = self._ges.list_graphs(project_id, deadline)
        if not graph_ids:
            raise InvalidRequest("graph_id", f'"{ALL_GRAPHS}": GES lists no graph in project {project_id}')
        return graph_ids


def _is_all_graphs(entry: Entry) -> bool:
    return isinstance(entry, Submission) and entry.request.graph_id == ALL_GRAPHS


def _one_graph(submission: Submission, graph_id: str) -> Entry:
    """The request for one graph; a graph id GES lists that is not a GES id is that graph's error."""
    problem = check_id(graph_id)
    if problem is not None:
        return InvalidRequest("graph_id", f"GES lists graph {shown_name(graph_id)}, which {problem}")
    return replace(submission, request=replace(submission.request, graph_id=graph_id), one_of_all=True)


def _for_graph(raw: object, graph_id: str) -> object:
    return {**raw, "graph_id": graph_id} if isinstance(raw, dict) else raw


def _with_time(raw: object, submission: Submission) -> object:
    return {**raw, "scheduled_time": format_time(submission.requested_at)} if isinstance(raw, dict) else raw


def _message(raw: object, submission: Submission, graph_id: str) -> Outgoing:
    """One graph's message: the request naming the graph, with the request's time as `requested_at`;
    on a FIFO queue grouped by graph (graphs run side by side) and deduplicated by its content."""
    body = json.dumps(_for_graph(raw, graph_id))
    requested_at = format_time(submission.requested_at)
    digest = hashlib.sha256(f"{requested_at} {body}".encode()).hexdigest()
    return Outgoing(body, graph_id, digest, {REQUESTED_AT: requested_at})
