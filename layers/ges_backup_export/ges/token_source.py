"""The GES token, read from Secrets Manager through Powertools Parameters and cached between calls.

The secret's `SecretString` is the token itself, or a JSON object whose `token` key holds it. The
token is never logged, and `scrub` removes it from any text that is about to leave this process.

A JSON secret may also carry the token's `expires_at` (the rotation function stores IAM's): a token
that expires within the hour is logged as a WARNING (`TOKEN_EXPIRING`), once per read of the secret,
so that an alarm catches a rotation that stopped working before GES starts refusing the token.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from ges_backup_export.core.errors import ConfigurationError, DependencyUnavailable, shown_name
from ges_backup_export.core.message_format import format_time
from ges_backup_export.core.observability import logger
from ges_backup_export.core.scrubbing import Scrubber
from ges_backup_export.core.times import UnreadableTime, parse_time

CACHE_SECONDS = 300
EXPIRY_WARNING_SECONDS = 3600
# The WARNING's message: the template's metric filter and the documented Logs Insights query match it.
TOKEN_EXPIRING = "the GES token expires within the hour"  # noqa: S105 - a log message, not a secret
# Named explicitly: the stage a rotation moves last, and the one every reader must see.
CURRENT_STAGE = "AWSCURRENT"
# Secrets Manager answers that no retry can fix: the setting or the secret's permissions must change.
_REFUSALS = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure", "InvalidRequestException"}
)


class TokenReader(Protocol):
    """What a GES client needs of a token source."""

    def get(self, *, refresh: bool = False) -> str:
        """The token; `refresh=True` reads it anew (after GES answered 401)."""
        ...

    def scrub(self, text: str) -> str:
        """`text` with every token this process has read replaced by `***`."""
        ...


@dataclass(frozen=True)
class SecretToken:
    """What a token secret holds: the token, and when it expires if the secret says so."""

    token: str = field(repr=False)
    expires_at: str | None = None


class TokenSource:
    """`clock` (seconds since the epoch) decides whether the token expires soon; tests replace it."""

    def __init__(
        self, secret_id: str, provider: SecretsProvider, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret_id = secret_id
        self._provider = provider
        self._clock = clock
        self._scrubber = Scrubber()
        self._last_read: object = None
        # Concurrent requests read under it: on a cold cache, the first reads the secret and the others
        # find it cached (one GetSecretValue, not one per thread; Powertools' cache has no lock).
        self._lock = threading.Lock()

    def get(self, *, refresh: bool = False) -> str:
        """The token; `refresh=True` bypasses the cache (after GES answered 401)."""
        with self._lock:
            return self._read(refresh)

    def _read(self, refresh: bool) -> str:
        try:
            value = self._provider.get(
                self._secret_id, max_age=CACHE_SECONDS, force_fetch=refresh, VersionStage=CURRENT_STAGE
            )
        except GetParameterError as error:
            raise _secrets_manager_error(error) from None
        secret = parse_secret(value)
        self._scrubber.add(secret.token)
        # Powertools hands back the very object it cached until it reads the secret again: a new object
        # is a new read, and only a new read is checked (one warning per read, not one per call).
        if value is not self._last_read:
            self._last_read = value
            self._warn_if_expiring(secret.expires_at)
        return secret.token

    def scrub(self, text: str) -> str:
        """`text` with every token this process has read replaced by `***`."""
        return self._scrubber.scrub(text)

    def _warn_if_expiring(self, expires_at: str | None) -> None:
        if expires_at is None:
            return
        try:
            at = parse_time(expires_at)
        except UnreadableTime:
            logger.warning(
                "the token secret's expires_at is not an ISO-8601 time",
                extra={"token_expires_at": shown_name(expires_at)},
            )
            return
        seconds_left = at.timestamp() - self._clock()
        if seconds_left < EXPIRY_WARNING_SECONDS:
            logger.warning(
                TOKEN_EXPIRING,
                extra={"token_expires_at": format_time(at), "seconds_left": round(seconds_left)},
            )


def parse_secret(value: object) -> SecretToken:
    """The token in a secret's value, and its `expires_at` when the value is JSON that carries one."""
    token = _token_from_secret(value)
    text = str(value).strip()
    data = json.loads(text) if text.startswith("{") else None  # known to parse: _token_from_secret did
    expires_at = data.get("expires_at") if isinstance(data, dict) else None
    return SecretToken(token, expires_at if isinstance(expires_at, str) else None)


def _token_from_secret(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigurationError("GES_TOKEN_SECRET_ID names a secret without a SecretString")
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigurationError(
                "GES_TOKEN_SECRET_ID: the secret looks like JSON but does not parse"
            ) from None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str):
            raise ConfigurationError("GES_TOKEN_SECRET_ID: the secret's JSON has no 'token' string")
        text = token.strip()
    if not text:
        raise ConfigurationError("GES_TOKEN_SECRET_ID: the secret holds an empty token")
    if not text.isascii() or not text.isprintable():
        raise ConfigurationError("GES_TOKEN_SECRET_ID: the token holds characters a header cannot carry")
    return text


def _secrets_manager_error(error: GetParameterError) -> ConfigurationError | DependencyUnavailable:
    # Powertools wraps every provider error in GetParameterError, raised inside the `except` that
    # caught the original, which therefore stays reachable as __context__.
    cause = error.__context__
    if isinstance(cause, ClientError):
        code = cause.response.get("Error", {}).get("Code", "")
        if code in _REFUSALS:
            return ConfigurationError(
                f"GES_TOKEN_SECRET_ID: Secrets Manager refused to read the secret ({code})"
            )
    return DependencyUnavailable(f"Secrets Manager did not return the token secret: {error}")
