"""Huawei Cloud IAM: a project-scoped token for the IAM user whose credentials the rotation reads.

`POST {IAM_ENDPOINT}/v3/auth/tokens?nocatalog=true` with the password method, scoped to one project by
its id. The token is the `X-Subject-Token` header of the answer (201 Created), several KB long; its
expiry is the body's `token.expires_at`. IAM writes its errors as `{"error": {"code", "message", "title"}}`.

Retrying: asking for a token twice is harmless (a new token leaves the earlier ones valid), so every
transient failure is retried within the attempts and the time left, whether or not the request reached
IAM: 429, 5xx, a failed connection, no whole answer within the timeout; `Retry-After` is honoured. A 401
is never retried: every try with a wrong password counts towards locking the IAM user.

The password and the token are scrubbed from every text this module puts in an error or a log line.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import requests

from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import ConfigurationError, shown_name
from ges_backup_export.core.scrubbing import Scrubber
from ges_backup_export.core.times import UnreadableTime, parse_time
from ges_backup_export.ges.http import BoundedSession, ExchangeFailed, json_body, retry_after
from ges_backup_export.ges.retrying import Retry, RetryingClient
from ges_backup_export.rotation.errors import (
    IamAnswerInvalid,
    IamCredentialsRejected,
    IamRefused,
    IamUnavailable,
)

IAM_TIMEOUT_SECONDS = 10.0
IAM_MAX_ATTEMPTS = 3
TOKENS_PATH = "/v3/auth/tokens"
CREDENTIAL_FIELDS = ("domain_name", "user_name", "password")
_CREDENTIALS_SETTING = "IAM_CREDENTIALS_SECRET_ID"
_MAX_TEXT = 500


@dataclass(frozen=True)
class IamCredentials:
    """An IAM user's password credentials: the account (domain) name, the user name and the password."""

    domain_name: str
    user_name: str
    password: str = field(repr=False)

    @classmethod
    def from_secret(cls, value: str | None) -> IamCredentials:
        """From the credentials secret's `SecretString`, JSON `{"domain_name", "user_name", "password"}`.
        Errors name the setting and the field, never a value (the text may hold the password)."""
        if value is None:
            raise ConfigurationError(f"{_CREDENTIALS_SETTING}: the secret holds no SecretString")
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ConfigurationError(
                f"{_CREDENTIALS_SETTING}: the secret must be a JSON object with "
                f"{', '.join(CREDENTIAL_FIELDS)}; it does not parse as one"
            )
        for name in CREDENTIAL_FIELDS:
            if not isinstance(data.get(name), str) or not data[name]:
                raise ConfigurationError(f"{_CREDENTIALS_SETTING}: the secret's JSON has no '{name}' string")
        return cls(data["domain_name"], data["user_name"], data["password"])


@dataclass(frozen=True)
class IssuedToken:
    """A token IAM issued, scoped to `project_id`, valid until `expires_at` (IAM's own text)."""

    token: str = field(repr=False)
    expires_at: str
    project_id: str

    def secret_string(self) -> str:
        """The token secret's value: exactly `token`, `expires_at` and `project_id`, as JSON."""
        return json.dumps({"token": self.token, "expires_at": self.expires_at, "project_id": self.project_id})


class IamClient(RetryingClient):
    """`sleep` and `rng` time the retries (retrying.py); tests replace them to run without waiting. Every
    secret it sees goes into `scrubber`."""

    service = "IAM"
    unavailable = IamUnavailable

    def __init__(
        self,
        endpoint: str,
        scrubber: Scrubber,
        *,
        timeout: float = IAM_TIMEOUT_SECONDS,
        max_attempts: int = IAM_MAX_ATTEMPTS,
        http: BoundedSession | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(timeout=timeout, max_attempts=max_attempts, http=http, sleep=sleep, rng=rng)
        self._url = endpoint + TOKENS_PATH
        self._scrubber = scrubber

    def issue_token(self, credentials: IamCredentials, project_id: str, deadline: Deadline) -> IssuedToken:
        """A new token for the user, scoped to the project."""
        self._scrubber.add(credentials.password)
        response = self._exchange(_token_request(credentials, project_id), deadline)
        if response.status_code == 401:
            raise IamCredentialsRejected(
                f"IAM rejected the IAM credentials of user {shown_name(credentials.user_name)} in domain "
                f"{shown_name(credentials.domain_name)}: {self._message(response)}"
            )
        if not 200 <= response.status_code < 300:
            raise IamRefused(f"IAM answered {response.status_code}: {self._message(response)}")
        return self._issued(response, project_id)

    def _exchange(self, body: dict[str, Any], deadline: Deadline) -> requests.Response:
        """Send until IAM gives an answer that is not transient, within the attempts and the time left."""
        return self._retried(partial(self._attempt, body), deadline)

    def _attempt(self, body: dict[str, Any], ready: Callable[[], None]) -> requests.Response | Retry:
        ready()
        where = f"POST {TOKENS_PATH}"
        try:
            response = self._http.send(
                "POST",
                self._url,
                seconds=self._timeout,
                params={"nocatalog": "true"},
                json=body,
                headers={"Content-Type": "application/json;charset=utf8"},
            )
        except ExchangeFailed as error:  # sent or not: a second token request is harmless
            return Retry(f"{where} failed: {self._clean(str(error))}")
        if response.status_code == 429 or response.status_code >= 500:
            asked = retry_after(response.headers.get("Retry-After"))
            return Retry(f"IAM answered {response.status_code}: {self._message(response)}", asked)
        return response

    def _issued(self, response: requests.Response, project_id: str) -> IssuedToken:
        token = response.headers.get("X-Subject-Token", "").strip()
        if not token:
            raise IamAnswerInvalid(f"IAM answered {response.status_code} without an X-Subject-Token header")
        self._scrubber.add(token)
        if not token.isascii() or not token.isprintable() or " " in token:
            raise IamAnswerInvalid("the X-Subject-Token IAM sent holds characters a header cannot carry")
        body = json_body(response)
        scoped = _dig(body, "token", "project", "id")
        if scoped is not None and scoped != project_id:
            raise IamAnswerInvalid(
                f"IAM scoped the token to project {shown_name(str(scoped))}, not to {project_id}"
            )
        return IssuedToken(token, _expires_at(body), project_id)

    def _message(self, response: requests.Response) -> str:
        """IAM's error title and message; the raw answer when it is not in IAM's format."""
        error = _dig(json_body(response), "error")
        message = _dig(error, "message")
        if isinstance(message, str):
            title = _dig(error, "title")
            return self._clean(f"{title}: {message}" if isinstance(title, str) and title else message)
        return self._clean(f"{response.reason}: {response.text}")

    def _clean(self, text: str) -> str:
        return self._scrubber.scrub(text)[:_MAX_TEXT]


def _token_request(credentials: IamCredentials, project_id: str) -> dict[str, Any]:
    user = {
        "name": credentials.user_name,
        "password": credentials.password,
        "domain": {"name": credentials.domain_name},
    }
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"id": project_id}},
        }
    }


def _expires_at(body: object) -> str:
    expires_at = _dig(body, "token", "expires_at")
    if not isinstance(expires_at, str):
        raise IamAnswerInvalid("IAM's answer has no token.expires_at")
    try:
        parse_time(expires_at)
    except UnreadableTime as error:
        raise IamAnswerInvalid(f"IAM's answer has no usable token.expires_at: {error}") from None
    return expires_at


def _dig(value: object, *keys: str) -> object:
    """`value[k1][k2]...`, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
