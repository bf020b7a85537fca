"""The GES token, read from Secrets Manager through Powertools Parameters and cached between calls.

The secret's `SecretString` is the token itself, or a JSON object whose `token` key holds it. The
token is never logged, and `scrub` removes it from any text that is about to leave this process.
"""

from __future__ import annotations

import json
from typing import Protocol

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from ges_backup_export.errors import ConfigurationError, DependencyUnavailable

CACHE_SECONDS = 300
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


class TokenSource:
    def __init__(self, secret_id: str, provider: SecretsProvider) -> None:
        self._secret_id = secret_id
        self._provider = provider
        self._seen: set[str] = set()

    def get(self, *, refresh: bool = False) -> str:
        """The token; `refresh=True` bypasses the cache (after GES answered 401)."""
        try:
            value = self._provider.get(
                self._secret_id, max_age=CACHE_SECONDS, force_fetch=refresh, VersionStage=CURRENT_STAGE
            )
        except GetParameterError as error:
            raise _secrets_manager_error(error) from None
        token = _token_from_secret(value)
        self._seen.add(token)
        return token

    def scrub(self, text: str) -> str:
        """`text` with every token this process has read replaced by `***`."""
        for token in sorted(self._seen, key=len, reverse=True):  # a longer token may contain a shorter one
            text = text.replace(token, "***")
        return text


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
