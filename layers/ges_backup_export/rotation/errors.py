"""The token rotation's own failures. Any of them fails the rotation step: Secrets Manager retries the
rotation later, and AWSCURRENT keeps the previous token meanwhile."""

from __future__ import annotations

from ges_backup_export.core.errors import ExportError


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


class PendingTokenGivenUp(ExportError):
    """The pending token can never pass (its code says why: TokenRejected, TokenExpiresTooSoon), and the
    step removed AWSPENDING from its version, so that the next rotation can start with a new one."""

    permanent = True
