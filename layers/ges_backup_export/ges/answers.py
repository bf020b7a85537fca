"""What GES's answers mean: an answer's readable body, the error code and message in any spelling Huawei's
SDK reads, and the newest successful backup of a list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from ges_backup_export.core.ids import check_id

# The spellings of an error body Huawei's SDK reads (huaweicloudsdkcore exception_handler), in its order.
ERROR_KEYS = (
    ("error_code", "error_msg"),
    ("errorCode", "errorMsg"),
    ("errorCode", "errorMessage"),
    ("code", "message"),
)
MAX_ERROR_DEPTH = 4


@dataclass(frozen=True)
class Answer:
    """GES's answer: its status and its body when that is a JSON object (else None)."""

    response: requests.Response
    body: dict[str, Any] | None

    @property
    def status(self) -> int:
        return self.response.status_code


def error_of(answer: Answer) -> tuple[str, str]:
    """GES's error code and message, in any spelling Huawei's SDK reads (docs/ges-api.md, section 5); else
    `GesHttp<status>` and the answer's text."""
    found = find_error(answer.body, MAX_ERROR_DEPTH)
    if found is not None:
        return found
    response = answer.response
    return f"GesHttp{answer.status}", f"{response.reason}: {response.text}"


def find_error(body: object, depth: int) -> tuple[str, str] | None:
    """The first (code, message) pair in `body` or in the objects nested in it, as the SDK looks. Only a
    string or a number is a code or a message (str() of an object nested deeply enough would raise)."""
    if not isinstance(body, dict) or depth < 0:
        return None
    for code_key, message_key in ERROR_KEYS:
        if _scalar(body.get(code_key)) and _scalar(body.get(message_key), empty=True):
            return str(body[code_key]), str(body[message_key])
    for code_key, _ in ERROR_KEYS:
        if _scalar(body.get(code_key)):
            return str(body[code_key]), ""
    for value in body.values():
        found = find_error(value, depth - 1)
        if found is not None:
            return found
    return None


def finished_success(backup: object, limit_ms: int) -> tuple[int, int, str] | None:
    """(end, start, id) of a successful backup that finished by `limit_ms`, else None."""
    if not isinstance(backup, dict) or backup.get("status") != "success" or check_id(backup.get("id")):
        return None
    end = _int(backup.get("end_timestamp"))
    if not 0 < end <= limit_ms:
        return None
    return end, _int(backup.get("start_timestamp")), backup["id"]


def _scalar(value: object, *, empty: bool = False) -> bool:
    return isinstance(value, str | int | float) and (empty or value != "")


def unknown_outcome(problem: str, starts: str | None) -> str:
    return f"{problem.rstrip('.')}. The request was sent, so GES may have started {starts}"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
