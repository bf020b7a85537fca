"""Every way an export can fail, each with the code users see and whether trying again can help.

The message of every error is `"<code>: <text>"`, so a failed console run shows its code first. The text
never holds the GES token: errors are built from GES's answer with the token scrubbed (see `ges.py`).
"""

from __future__ import annotations


class ExportError(Exception):
    """A request that did not end with a job_id in the downstream queue.

    `permanent` errors can never succeed by retrying the same request (a queue record carrying one goes
    to the dead-letter queue at once); the others are worth retrying later.
    """

    code: str = "ExportError"
    permanent: bool = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        self.message = message
        super().__init__(f"{self.code}: {message}")

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InvalidRequest(ExportError):
    """The request itself is wrong; the message names the field."""

    code = "InvalidRequest"
    permanent = True

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


class ConfigurationError(ExportError):
    """A setting of the function (or the secret it names) is missing or malformed.

    Not permanent for a queue record: once the setting is fixed, the same record succeeds.
    """

    code = "ConfigurationError"


class GesRefused(ExportError):
    """GES answered 4xx: the code is GES's own `error_code` (or `GesHttp<status>` when it sent none)."""

    permanent = True

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        super().__init__(message, code=code)


class TokenRejected(ExportError):
    """GES answered 401 again after the token was re-read from Secrets Manager."""

    code = "TokenRejected"
    permanent = True


class GesUnavailable(ExportError):
    """Transient GES failures outlasted the attempts or the time left; GES certainly started nothing."""

    code = "GesUnavailable"


class ExportOutcomeUnknown(ExportError):
    """GES may or may not have started the export (500, 504, or no answer after the request was sent).

    GES has no idempotency key and the OBS directory must be empty, so this is never retried
    automatically: a person checks GES's job list first.
    """

    code = "ExportOutcomeUnknown"
    permanent = True


class ExportInProgress(ExportError):
    """The same export is being handled by another invocation right now."""

    code = "ExportInProgress"


class DeliveryFailed(ExportError):
    """GES accepted the export but its message did not reach the downstream queue.

    The job_id is remembered: a retry sends it without exporting again.
    """

    code = "DeliveryFailed"


class DependencyUnavailable(ExportError):
    """An AWS service the job relies on (Secrets Manager, DynamoDB, SQS) failed."""

    code = "DependencyUnavailable"
