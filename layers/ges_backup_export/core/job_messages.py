"""What the functions that follow GES jobs (the job tracker, the restore tester) share: a job message read
from an SQS body, and GES's times of a job, as they pass them on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ges_backup_export.core.errors import InvalidRequest, field_name
from ges_backup_export.core.ids import check_id, json_type
from ges_backup_export.core.times import request_time

_JOB_IDS = ("job_id", "project_id", "graph_id")


def job_message(body: str, texts: Sequence[str], times: Sequence[str]) -> dict[str, Any]:
    """The JSON object in `body`: `job_id`, `project_id` and `graph_id` GES ids, `texts` non-empty strings,
    `times` ISO-8601 times when present, and a whole number of `checks` so far; else InvalidRequest
    naming what is wrong."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise InvalidRequest("body", f"is not valid JSON ({type(error).__name__})") from None
    if not isinstance(value, dict):
        raise InvalidRequest("body", f"must be a JSON object, got {json_type(value)}")
    for name in (*_JOB_IDS, *texts):
        if not isinstance(value.get(name), str) or not value[name]:
            raise InvalidRequest(field_name("", name), "is required, a non-empty string")
    for name in _JOB_IDS:
        problem = check_id(value[name])
        if problem:
            raise InvalidRequest(name, problem)
    for name in times:
        if name in value:
            request_time(value[name], name)
    checks = value.get("checks", 0)
    if not isinstance(checks, int) or isinstance(checks, bool) or checks < 0:
        raise InvalidRequest("checks", "must be a whole number, at least 0")
    return value


def job_times(answer: dict[str, Any]) -> dict[str, str]:
    """GES's begin_time and end_time of a job, as GES gave them (when it gave them)."""
    return {
        key: str(answer[key])[:64]
        for key in ("begin_time", "end_time")
        if isinstance(answer.get(key), str) and answer[key]
    }
