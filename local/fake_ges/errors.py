"""The fake GES's error bodies: GES's own, in one of several spellings, and the API gateway's."""

from __future__ import annotations

import uuid
from typing import Any

Json = dict[str, Any]
Reply = tuple[int, Json]

# Error body spellings (section 5: the docs contradict each other). "snake" is the v2 tables';
# "camel" the ExportBackup2 doc example's; "camel_msg" (errorCode/errorMsg) is what newer releases of
# huaweicloudsdkcore's DefaultExceptionHandler also read (docs/ges-api.md section 5 describes an older one
# that reads no camelCase); "code" is the parser's code/message fallback; "nested" wraps a snake body
# in "error", as IAM-style services do (the parser recurses into nested objects).
ERROR_STYLES = ("snake", "camel", "camel_msg", "code", "nested")
_ERROR_KEYS = {
    "snake": ("error_code", "error_msg"),
    "camel": ("errorCode", "errorMessage"),
    "camel_msg": ("errorCode", "errorMsg"),
    "code": ("code", "message"),
}
_GATEWAY_DEFAULTS: dict[int, tuple[str, str]] = {
    401: ("APIG.0301", "Incorrect IAM authentication information: decrypt token fail"),
    404: ("APIG.0101", "The API does not exist or has not been published in the environment"),
    429: (
        "APIG.0308",
        "The throttling threshold has been reached: policy user over ratelimit,limit:10,time:1 second",
    ),
    502: ("APIG.0202", "Backend unavailable"),
    503: ("APIG.0203", "Service unavailable: the backend is temporarily unable to handle the request"),
    504: ("APIG.0201", "Backend timeout"),
}


def error_body(code: str, message: str, style: str) -> Json:
    """A GES error body in one of :data:`ERROR_STYLES`; ValueError for another style."""
    if style == "nested":
        return {"error": error_body(code, message, "snake")}
    if style not in _ERROR_KEYS:
        raise ValueError(f"unknown error style {style!r}; expected one of {ERROR_STYLES}")
    code_key, message_key = _ERROR_KEYS[style]
    return {code_key: code, message_key: message}


def fault_body(status: int, style: str) -> Json:
    """The body of a fault's status given without one: the gateway's (always snake, with a request id)
    for the statuses it answers, else a GES error in ``style``."""
    if status in _GATEWAY_DEFAULTS:
        code, message = _GATEWAY_DEFAULTS[status]
        return {**error_body(code, message, "snake"), "request_id": uuid.uuid4().hex}
    if status == 500:
        return error_body("GES.7006", "Internal error in underlying graph engine.", style)
    return error_body("GES.0001", "Incorrect parameter.", style)
