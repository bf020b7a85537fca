"""What an import is made of, outside the tester's steps: its identity and record (`details`), its first
follow-up message, the event of a refused import, and how its errors and hints read."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, cast

from ges_backup_export.aws.queues import SqsQueue
from ges_backup_export.core.errors import ExportError
from ges_backup_export.core.message_format import format_time
from ges_backup_export.core.observability import logger
from ges_backup_export.export.deduplication import StartedExport, export_reference
from ges_backup_export.restore.messages import TRIGGERS, FollowUp, ImportDetails, RestoreDetail, RestoreInfo

PERSISTENCE = "Persistence"  # GES's product_type of the persistence edition: no import


def follow_up_of(started: StartedExport) -> FollowUp:
    """The first follow-up message of an import GES accepted (its record's message and started_at)."""
    message = cast(dict[str, Any], started["message"])
    return {
        "job_id": message["job_id"], "project_id": message["project_id"], "graph_id": message["graph_id"],
        "import_path": message["export_path"], "requested_at": message["requested_at"],
        "started_at": started.get("started_at") or format_time(datetime.now(UTC)),
        "restore": message["restore"],
    }  # fmt: skip


def send_follow_up(queue: SqsQueue, follow_up: FollowUp, delay_seconds: int) -> None:
    sent = queue.send(
        json.dumps(follow_up),
        group_id=follow_up["graph_id"],
        deduplication_id=follow_up["job_id"],
        delay_seconds=delay_seconds,
    )
    logger.info(
        "import job handed to the follow-up", extra={"job_id": follow_up["job_id"], "sqs_message_id": sent}
    )


def import_details(
    project_id: str, graph_id: str, path: str, at: datetime, info: RestoreInfo
) -> ImportDetails:
    """The import's identity and what its record keeps; `info["test"]` becomes the identity's reference."""
    details: ImportDetails = {
        "project_id": project_id,
        "graph_id": graph_id,
        "backup_id": f"import-{at.strftime('%Y%m%dT%H%M%SZ')}",
        "export_path": path,
        "trigger": TRIGGERS[info["kind"]],
        "requested_at": format_time(at),
        "restore": info,
    }
    info["test"] = export_reference(details)
    return details


def persistence(graph: dict[str, Any], graph_id: str | None = None) -> str | None:
    """Why GES imports nothing into this graph (the persistence edition), or None."""
    if graph.get("product_type") != PERSISTENCE:
        return None
    return (
        f"graph {graph_id or graph.get('id')} is of the persistence edition, into which GES imports no backup"
    )


def refused_detail(details: ImportDetails, reason: str) -> RestoreDetail:
    info = details["restore"]
    detail: RestoreDetail = {
        "project_id": details["project_id"], "graph_id": details["graph_id"],
        "import_path": details["export_path"], "deleted": False, "fail_reason": reason,
        "requested_at": details["requested_at"], "checked_at": format_time(datetime.now(UTC)),
    }  # fmt: skip
    if "source_job_id" in info:
        detail["source_job_id"] = info["source_job_id"]
        detail["source_ended_at"] = info["source_ended_at"]
    return detail


def several(failures: list[ExportError], total: int) -> ExportError:
    """One error for the graphs of a `"*"` test that neither started nor announced anything."""
    text = "; ".join(error.message for error in failures)
    return ExportError(f"{len(failures)} of {total} graphs: {text}"[:4000], code=failures[0].code)


def as_import(text: str) -> str:
    for export, import_ in (
        ("the export", "the import"),
        ("export's lock", "import's lock"),
        ("settle export", "settle import"),
    ):
        text = text.replace(export, import_)
    return text


def hint(details: ImportDetails) -> str:
    return (
        f"It is not sent to GES again: check the jobs of graph {details['graph_id']} in GES, then settle "
        f"import {export_reference(details)} with `python -m ops.settle`: it started (with its job_id), "
        "or it did not"
    )


def digest(parts: list[str]) -> str:
    return hashlib.md5(json.dumps(parts).encode(), usedforsecurity=False).hexdigest()
