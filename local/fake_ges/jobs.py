"""The fake GES's jobs (section 3): each follows a script of statuses, one step per status call."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from local.fake_ges.graphs import now

Json = dict[str, Any]

# How a job's begin_time and end_time are written (section 3): "T" as above, "space" yyyy-MM-dd HH:mm:ss.
JOB_TIME_STYLES = ("T", "space")
DEFAULT_JOB_SCRIPT: tuple[str, ...] = ("success",)
DEFAULT_FAIL_REASON = "Failed to export the backup to OBS."
_DONE = ("success", "failed")  # the job statuses that end a job (section 3, Terraform's polling)
# Section 3's filter value "waiting" for the jobs' status "pending" (an assumption: the docs leave it open).
_JOB_STATUS_FILTER = {"waiting": "pending"}


@dataclass
class Job:
    """A job and where it is in its script: the n-th status call answers the script's n-th status (its
    last one from then on), so a job is at its first status from its creation until the second call."""

    project_id: str
    fields: Json
    script: tuple[str, ...]
    fail_reason: str
    step: int = 0
    answered: bool = False  # whether a status call has answered the current step yet
    on_status: Callable[[Job], None] | None = None  # called on every change of status (fake_obs.py)
    forgotten: bool = False

    @classmethod
    def start(
        cls, project_id: str, graph_name: str, script: tuple[str, ...], job_id: str | None = None
    ) -> Job:
        """A new export job (open question 3: its type and name are assumed) at its script's first step."""
        job_id = job_id or uuid.uuid4().hex
        fields = {
            "job_id": job_id, "status": "", "job_type": "GraphManagement", "job_name": "ExportBackup",
            "related_graph": graph_name, "begin_time": now(), "fail_reason": "", "job_progress": 0.0,
        }  # fmt: skip
        job = cls(project_id, fields, script, DEFAULT_FAIL_REASON)
        job.restart(script, DEFAULT_FAIL_REASON)
        return job

    def restart(self, script: tuple[str, ...], fail_reason: str) -> None:
        self.script, self.fail_reason, self.step, self.answered = script, fail_reason, 0, False
        self._enter(script[0])

    def advance(self) -> None:
        """What a status call does: the first one answers the current step, each later one the next."""
        if self.answered:
            self.step = min(self.step + 1, len(self.script) - 1)
        self.answered = True
        self._enter(self.script[self.step])

    def shown(self, time_style: str) -> Json:
        """The job's fields as GES answers them, its times written in one of :data:`JOB_TIME_STYLES`."""
        fields = dict(self.fields)
        if time_style == "space":
            for key in ("begin_time", "end_time"):
                if isinstance(fields.get(key), str):
                    fields[key] = fields[key].replace("T", " ", 1)
        return fields

    def _enter(self, status: str) -> None:
        """``end_time`` (and for a failure ``fail_reason``) appear once the job is done; while it is not,
        ``end_time`` is absent (assumption: section 3 says it may be)."""
        previous = self.fields.get("status")
        self.fields["status"] = status
        if previous != status and self.on_status is not None:
            self.on_status(self)
        self.fields["fail_reason"] = self.fail_reason if status == "failed" else ""
        if status not in _DONE:
            self.fields.pop("end_time", None)
        elif previous != status or "end_time" not in self.fields:
            self.fields["end_time"] = now()


def job_script(statuses: Iterable[str]) -> tuple[str, ...]:
    """A job script: at least one status, each a non-empty string (any, also ones GES never documents)."""
    if isinstance(statuses, str):
        raise TypeError("a job script is a sequence of statuses, not one string")
    script = tuple(statuses)
    if not script or not all(isinstance(s, str) and s for s in script):
        raise ValueError("a job script needs at least one status, each a non-empty string")
    return script


@dataclass(frozen=True)
class JobQuery:
    """The filters of the job list (section 3). Empty values filter nothing."""

    status: str
    graph_name: str
    start: str  # yyyy-MM-dd, inclusive, on the job's begin_time date
    end: str

    @classmethod
    def of(cls, query: dict[str, str]) -> JobQuery | str:
        """The job list's filters, or the name of a date filter that is not a date ``yyyy-MM-dd``."""
        for name in ("start_time", "end_time"):
            if query.get(name) and not _is_date(query[name]):
                return name
        return cls(
            query.get("status", ""), query.get("graph_name", ""), query.get("start_time", ""),
            query.get("end_time", ""),
        )  # fmt: skip

    def matches(self, job: Json) -> bool:
        day = str(job.get("begin_time", ""))[:10]
        wanted = _JOB_STATUS_FILTER.get(self.status, self.status)
        checks = (
            not self.status or job.get("status") == wanted,
            not self.graph_name or job.get("related_graph") == self.graph_name,
            not self.start or day >= self.start,
            not self.end or day <= self.end,
        )
        return all(checks)


def _is_date(text: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
