"""Every way an export can fail, each with the code users see and whether trying again can help.

The message of every error is `"<code>: <text>"`, so a failed console run shows its code first. The text
never holds the GES token: errors are built from GES's answer with the token scrubbed (see `ges.py`).
"""

from __future__ import annotations

from datetime import datetime

from ges_backup_export.message_format import error_text, with_request_time

MAX_SHOWN_NAME = 64  # characters of a name from the input that an error repeats


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
        super().__init__(error_text(self.code, message))

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def noting_request_time(self, at: datetime) -> ExportError:
        """This error, its text ending with the request's time: an asynchronous run's failure record keeps
        only the text, and a redrive of it must resolve the request against the same time."""
        self.args = (with_request_time(error_text(self.code, self.message), at),)
        return self

    def naming_graph(self, graph_id: str) -> ExportError:
        """This error, its message starting with the graph it concerns (one graph of a `"*"` request),
        unless it names the graph already (GES's refusals do)."""
        if self.message.startswith(f"graph {graph_id} "):
            return self
        self.message = f"graph {graph_id}: {self.message}"
        self.args = (error_text(self.code, self.message),)
        return self


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
    """GES answered 4xx: the code is GES's own `error_code` (or `GesHttp<status>` when it sent none). The
    message starts with what GES was asked about (`about`, e.g. "graph movies (project p)"), then GES's
    own message (`ges_message`)."""

    permanent = True

    def __init__(self, status: int, code: str, message: str, *, about: str = "") -> None:
        self.status = status
        self.ges_message = message
        super().__init__(f"{about}: {message}" if about else message, code=code)


class TokenRejected(ExportError):
    """GES answered 401 again after the token was re-read from Secrets Manager."""

    code = "TokenRejected"
    permanent = True


class GesUnavailable(ExportError):
    """Transient GES failures outlasted the attempts or the time left; GES certainly started nothing."""

    code = "GesUnavailable"


class ExportOutcomeUnknown(ExportError):
    """GES may or may not have started the export (500, 504, no answer after the request was sent, or an
    invocation that died holding the export's lock).

    GES has no idempotency key and the OBS directory must be empty, so the export is remembered as
    unknown and never sent again automatically: a person checks GES's job list and settles it.
    """

    code = "ExportOutcomeUnknown"
    permanent = True


class ExportInProgress(ExportError):
    """The same export is being handled by another invocation right now."""

    code = "ExportInProgress"


class DeliveryFailed(ExportError):
    """GES accepted the export but sending its message downstream failed (it may or may not have
    arrived: consumers key on job_id).

    The job_id is remembered: a retry sends it without exporting again.
    """

    code = "DeliveryFailed"


class DependencyUnavailable(ExportError):
    """An AWS service the job relies on (Secrets Manager, DynamoDB, SQS) failed."""

    code = "DependencyUnavailable"


# The token rotation's own failures (functions/rotate_token). Any of them fails the rotation step:
# Secrets Manager retries the rotation later, and AWSCURRENT keeps the previous token meanwhile.


class RotationRefused(ExportError):
    """A rotation step that must not run: the event names a secret other than GES_TOKEN_SECRET_ID, a
    secret without rotation enabled, or a version that is not the secret's pending one."""

    code = "RotationRefused"
    permanent = True


class IamCredentialsRejected(ExportError):
    """IAM answered 401: the IAM credentials were rejected (wrong password, locked or disabled user, or
    no access to the project). Never retried: repeated wrong passwords lock an IAM user."""

    code = "IamCredentialsRejected"
    permanent = True


class IamRefused(ExportError):
    """IAM refused the token request with another 4xx; the error carries IAM's message."""

    code = "IamRefused"
    permanent = True


class IamUnavailable(ExportError):
    """Transient IAM failures (429, 5xx, no connection, no whole answer in time) outlasted the attempts or
    the time left."""

    code = "IamUnavailable"


class IamAnswerInvalid(ExportError):
    """IAM answered success without a usable token: no `X-Subject-Token`, no `token.expires_at`, or a token
    scoped to another project."""

    code = "IamAnswerInvalid"


def field_name(where: str, name: str) -> str:
    """`name` inside `where` (e.g. `exports[2].graph_id`), as errors name a field."""
    name = shown_name(name)
    return f"{where}.{name}" if where else name


def shown_name(name: str) -> str:
    """A name taken from the input, as an error repeats it: as it is when it is printable ASCII of at most
    MAX_SHOWN_NAME characters; else escaped and cut (`'gr\\u0430ph'`), so that a look-alike shows, and no
    control character, lone surrogate or megabyte-long key reaches a log line or an SQS message attribute."""
    if len(name) <= MAX_SHOWN_NAME and name.isascii() and name.isprintable():
        return name
    return ascii(name[:MAX_SHOWN_NAME]) + ("..." if len(name) > MAX_SHOWN_NAME else "")
