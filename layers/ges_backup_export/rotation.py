"""The token rotation: Secrets Manager's four steps for the GES token secret, each safe to repeat.

Secrets Manager registers a new version of the secret (the event's `ClientRequestToken`) at AWSPENDING,
without a value, then calls the rotation function once per step, and calls a step again when it failed
(or when it is unsure whether it ran):

- createSecret: unless the version already holds a value, get a token from IAM (with the credentials in
  IAM_CREDENTIALS_SECRET_ID) and store it as that version, at AWSPENDING;
- setSecret: nothing: GES takes a token as it is, there is nothing to register;
- testSecret: the pending token must outlive the next rotation (and GES must accept it: it lists the
  project's graphs);
- finishSecret: AWSCURRENT moves to the version (never to one that holds no token, or a token that would
  not outlive the next rotation); the one it leaves becomes AWSPREVIOUS.

Before any step, as AWS's own rotation functions do: the secret must have rotation enabled and list the
version; a version already at AWSCURRENT means the rotation is done, so the step does nothing; any other
version must be at AWSPENDING. So a repeated step, or a step run again after a failure, makes no second
IAM call and no second version.

A step that cannot complete raises: Secrets Manager marks the rotation failed and tries it again later
with the same version (whose value cannot change), and AWSCURRENT keeps the previous token meanwhile.
A retry can succeed after a transient failure, never once the pending token is dead: GES rejected it, or
it would expire before the next rotation is due plus LIFETIME_MARGIN_HOURS (also found by createSecret,
when a retry comes that late). Then the step gives the version up: it removes AWSPENDING from it, AWS's
recipe for a stranded rotation, and raises saying so. Secrets Manager refuses to start a rotation while a
version other than the current one holds AWSPENDING; without the label the next rotation starts with a
new version, and a new token, while the retries of the given-up version are refused at once
(docs/token-rotation.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from ges_backup_export.aws_clients import WORST_CALL_SECONDS
from ges_backup_export.deadline import Deadline
from ges_backup_export.errors import ExportError, InvalidRequest, RotationRefused, TokenRejected, shown_name
from ges_backup_export.export_request import parse_time
from ges_backup_export.ges import GesClient
from ges_backup_export.iam import IamClient, IamCredentials
from ges_backup_export.observability import logger
from ges_backup_export.scrubbing import Scrubber
from ges_backup_export.secret_versions import PENDING_STAGE, SecretState, SecretVersions
from ges_backup_export.settings import RotationSettings
from ges_backup_export.token_source import CURRENT_STAGE, SecretToken, TokenReader, parse_secret

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
# Kept free after IAM's answer, for the one AWS call that follows it (PutSecretValue), at its worst.
MARGIN_SECONDS = WORST_CALL_SECONDS
_ARN_SUFFIX = 7  # the "-" and six random characters Secrets Manager appends to a secret's name in its ARN
_MAX_SHOWN_ID = 256  # a secret's ARN is longer than errors.MAX_SHOWN_NAME
# A new token must outlive the next rotation (TOKEN_ROTATION_HOURS from now) by this much: Secrets Manager
# runs a rate(N hours) rotation at any time in a window of one hour.
LIFETIME_MARGIN_HOURS = 1
_HOUR = 3600
EXPIRES_TOO_SOON = "TokenExpiresTooSoon"
Sleep = Callable[[float], None]
Clock = Callable[[], float]
# A GES client that uses the given tokens and waits between attempts with the given sleep.
GesFactory = Callable[[TokenReader, Sleep], GesClient]


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


class PendingTokenGivenUp(ExportError):
    """The pending token can never pass (its code says why: TokenRejected, TokenExpiresTooSoon), and the
    step removed AWSPENDING from its version, so that the next rotation can start with a new one."""

    permanent = True


class PendingToken:
    """The token of the version being rotated in, read from the secret at AWSPENDING: the token reader
    (token_source.TokenReader) of the GES client that tests it."""

    def __init__(self, secrets: SecretVersions, secret_id: str, version_id: str, scrubber: Scrubber) -> None:
        self._secrets = secrets
        self._secret_id = secret_id
        self._version_id = version_id
        self._scrubber = scrubber
        self._read: SecretToken | None = None

    def get(self, *, refresh: bool = False) -> str:
        return self.read(refresh=refresh).token

    def read(self, *, refresh: bool = False) -> SecretToken:
        """The token and its expires_at."""
        if self._read is None or refresh:
            value = self._secrets.pending_value(self._secret_id, self._version_id)
            if value is None:
                version = _shown(self._version_id)
                raise RotationRefused(
                    f"version {version} holds no token yet: createSecret has not stored one"
                )
            self._read = _parsed(value, self._scrubber)
        return self._read

    def scrub(self, text: str) -> str:
        return self._scrubber.scrub(text)


class TokenRotation:
    """The four steps. `sleep` times the retries of the GES client that tests a token (tests replace it,
    as IamClient's)."""

    def __init__(
        self,
        settings: RotationSettings,
        secrets: SecretVersions,
        iam: IamClient,
        ges: GesFactory,
        scrubber: Scrubber,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._iam = iam
        self._ges = ges
        self._scrubber = scrubber
        self.sleep: Sleep = time.sleep
        self.clock: Clock = time.time

    def run(self, request: RotationRequest, deadline: Deadline) -> None:
        """Run the step; raises when it cannot complete."""
        self._check_secret(request.secret_id)
        state = self._secrets.describe(request.secret_id)
        if self._already_current(state, request):
            return
        steps = {
            "createSecret": self._create,
            "setSecret": self._set,
            "testSecret": self._test,
            "finishSecret": self._finish,
        }
        steps[request.step](request, state, deadline)

    def _check_secret(self, secret_id: str) -> None:
        configured = self._settings.token_secret_id
        if configured is not None and not same_secret(configured, secret_id):
            raise RotationRefused(
                f"this function rotates GES_TOKEN_SECRET_ID ({configured}), not {_shown(secret_id)}"
            )

    def _already_current(self, state: SecretState, request: RotationRequest) -> bool:
        """Whether the version is already AWSCURRENT (nothing to do); refuses a step that must not run."""
        version = _shown(request.version_id)
        if not state.rotation_enabled:
            raise RotationRefused(f"secret {state.name} does not have rotation enabled")
        stages = state.stages.get(request.version_id)
        if not stages:  # on AWS a version without stages is not listed at all
            self._refuse_without_stages(state, request, stages)
        if CURRENT_STAGE in stages:
            logger.info("the version is already AWSCURRENT: nothing to do")
            return True
        if PENDING_STAGE not in stages:
            raise RotationRefused(
                f"version {version} of secret {state.name} is not at AWSPENDING (its stages: {list(stages)})"
            )
        return False

    def _refuse_without_stages(
        self, state: SecretState, request: RotationRequest, stages: tuple[str, ...] | None
    ) -> NoReturn:
        """A version that has no stage: one that a step gave up (it still has its value), else unknown."""
        version = _shown(request.version_id)
        if self._holds_value(request):
            raise RotationRefused(
                f"version {version} of secret {state.name} was given up (AWSPENDING was removed from it: "
                "its token was dead or expired too soon) and can never become current: this retry does "
                "nothing; the next rotation fetches a new token"
            )
        if stages is None:
            raise RotationRefused(f"version {version} is not a version of secret {state.name}")
        raise RotationRefused(
            f"version {version} of secret {state.name} is not at AWSPENDING (its stages: [])"
        )

    def _holds_value(self, request: RotationRequest) -> bool:
        try:
            return self._secrets.holds_value(request.secret_id, request.version_id)
        except ExportError:  # cannot tell (e.g. an id Secrets Manager does not take): refused as unknown
            return False

    def _create(self, request: RotationRequest, state: SecretState, deadline: Deadline) -> None:
        stored = self._secrets.pending_value(request.secret_id, request.version_id)
        if stored is not None:  # a retry: the version's value cannot change, so it must still do
            self._check_lifetime(request, _parsed(stored, self._scrubber))
            logger.info("the pending version already holds a token: nothing to do")
            return
        credentials = IamCredentials.from_secret(
            self._secrets.current_value(self._settings.iam_credentials_secret_id)
        )
        issued = self._iam.issue_token(credentials, self._settings.ges_project_id, deadline)
        self._secrets.put_pending(request.secret_id, request.version_id, issued.secret_string())
        logger.info(
            "stored a new token from IAM at AWSPENDING", extra={"token_expires_at": issued.expires_at}
        )

    def _set(self, request: RotationRequest, state: SecretState, deadline: Deadline) -> None:
        logger.info("nothing to set: GES takes the token as it is")

    def _test(self, request: RotationRequest, state: SecretState, deadline: Deadline) -> None:
        tokens = PendingToken(self._secrets, request.secret_id, request.version_id, self._scrubber)
        self._check_lifetime(request, tokens.read())
        try:
            self._ges(tokens, self.sleep).check_access(self._settings.ges_project_id, deadline)
        except TokenRejected as error:  # dead (a 401, twice): unlike GES unavailable, no retry can help
            raise self._give_up(
                request, error.code, f"GES rejected the pending token: {error.message}"
            ) from None
        logger.info("GES accepted the pending token")

    def _finish(self, request: RotationRequest, state: SecretState, deadline: Deadline) -> None:
        # Out of order (createSecret never succeeded), AWSCURRENT would move to a version without a token;
        # run again much later, to a token that expires too soon.
        pending = PendingToken(self._secrets, request.secret_id, request.version_id, self._scrubber).read()
        self._check_lifetime(request, pending)
        current = state.current_version()
        self._secrets.make_current(request.secret_id, request.version_id, current)
        logger.info("the new token is AWSCURRENT", extra={"previous_version": current})

    def _check_lifetime(self, request: RotationRequest, pending: SecretToken) -> None:
        """Gives the version up unless its token outlives the next rotation by LIFETIME_MARGIN_HOURS."""
        hours = self._settings.token_rotation_hours
        needed = self.clock() + (hours + LIFETIME_MARGIN_HOURS) * _HOUR
        expiry = _time_or_none(pending.expires_at)
        if expiry is not None and expiry >= needed:
            return
        period = f"(TOKEN_ROTATION_HOURS={hours}) plus a margin of {LIFETIME_MARGIN_HOURS} hour"
        why = (
            f"the pending token has no usable expires_at: a token must be shown to stay valid until the "
            f"next rotation is due {period}, until {_utc(needed)}"
            if expiry is None
            else f"the pending token expires at {pending.expires_at}, before the next rotation is due "
            f"{period}: it must stay valid until {_utc(needed)}"
        )
        raise self._give_up(request, EXPIRES_TOO_SOON, why)

    def _give_up(self, request: RotationRequest, code: str, why: str) -> PendingTokenGivenUp:
        """Removes AWSPENDING from the version, whose token can never pass; the error to raise."""
        version = _shown(request.version_id)
        try:
            self._secrets.give_up_pending(request.secret_id, request.version_id)
        except ExportError as failure:  # the version stays pending: its next retry gives it up again
            return PendingTokenGivenUp(
                f"{why}; removing AWSPENDING from version {version} failed too ({failure.message}): "
                "a retry of this rotation tries again",
                code=code,
            )
        return PendingTokenGivenUp(
            f"{why}; version {version} is given up: AWSPENDING was removed from it, so it never becomes "
            "current, its retries fail at once and the next rotation fetches a new "
            "token; AWSCURRENT keeps the token in use",
            code=code,
        )


def _parsed(value: str, scrubber: Scrubber) -> SecretToken:
    token = parse_secret(value)
    scrubber.add(token.token)
    return token


def _time_or_none(value: str | None) -> float | None:
    """An expires_at as a POSIX time; None when there is none or it is not a time with its offset."""
    try:
        return None if value is None else parse_time(value, "expires_at").timestamp()
    except InvalidRequest:
        return None


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _shown(value: str) -> str:
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
