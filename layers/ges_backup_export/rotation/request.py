"""One step of one rotation, as Secrets Manager's event names it, and how ids from the event are compared
and shown."""

from __future__ import annotations

from dataclasses import dataclass

from ges_backup_export.core.errors import InvalidRequest, shown_name

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
_ARN_SUFFIX = 7  # the "-" and six random characters Secrets Manager appends to a secret's name in its ARN
_MAX_SHOWN_ID = 256  # a secret's ARN is longer than errors.MAX_SHOWN_NAME


@dataclass(frozen=True)
class RotationRequest:
    """One step of one rotation, as Secrets Manager's event names it."""

    secret_id: str
    version_id: str
    step: str

    @classmethod
    def from_event(cls, event: object) -> RotationRequest:
        """From `{"SecretId", "ClientRequestToken", "Step"}` (other keys are ignored)."""
        if not isinstance(event, dict):
            raise InvalidRequest("event", "must be a JSON object with SecretId, ClientRequestToken and Step")
        secret_id, version_id, step = (
            _text(event, key) for key in ("SecretId", "ClientRequestToken", "Step")
        )
        if step not in STEPS:
            raise InvalidRequest("Step", f"must be one of {', '.join(STEPS)}, got {shown_name(step)}")
        return cls(secret_id, version_id, step)


def same_secret(configured: str, secret_id: str) -> bool:
    """Whether two ids name the same secret. Two ARNs are compared whole (Secrets Manager's events carry
    the secret's full ARN); otherwise the names are compared, an ARN's name being what follows `:secret:`
    without the `-` and six characters Secrets Manager appends. A partial ARN (one without that suffix)
    is not supported."""
    if _is_arn(configured) and _is_arn(secret_id):
        return configured == secret_id
    return _name_of(configured) == _name_of(secret_id)


def _is_arn(secret_id: str) -> bool:
    return secret_id.startswith("arn:") and ":secret:" in secret_id


def _name_of(secret_id: str) -> str:
    if not _is_arn(secret_id):
        return secret_id
    resource = secret_id.split(":secret:", 1)[1]
    return resource[:-_ARN_SUFFIX] if len(resource) > _ARN_SUFFIX else resource


def shown_id(value: str) -> str:
    """An id from the event as an error repeats it: whole when it is printable ASCII of a sensible length,
    else escaped and cut (errors.shown_name)."""
    return (
        value
        if len(value) <= _MAX_SHOWN_ID and value.isascii() and value.isprintable()
        else shown_name(value)
    )


def _text(event: dict[str, object], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(key, "is required (a non-empty string)")
    return value
