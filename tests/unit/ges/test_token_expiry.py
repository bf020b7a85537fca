"""The token's expiry: `expires_at` read from a JSON secret, and one WARNING per read of the secret when the
token expires within the hour (so that an alarm catches a rotation that stopped working)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ges_backup_export.core.scrubbing import Scrubber
from ges_backup_export.ges.token_source import (
    EXPIRY_WARNING_SECONDS,
    TOKEN_EXPIRING,
    SecretToken,
    TokenSource,
    parse_secret,
)
from tests.tokens import assert_no_token, canary_token

NOW = 1_795_744_800.0  # 2026-11-27T02:00:00Z
TOKEN = canary_token()


class Provider:
    """Stands in for Powertools' SecretsProvider: hands out `value` as the cache does (the same object until
    `read_again`, which stands for a new read of the secret)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get(self, name: str, **options: Any) -> str:
        return self.value

    def read_again(self) -> None:
        self.value = "".join(list(self.value))  # an equal value, in a new object


Logs = Callable[[], list[dict[str, Any]]]


def secret(expires_at: object) -> str:
    return json.dumps({"token": TOKEN, "expires_at": expires_at, "project_id": "p"})


def source(value: str) -> tuple[TokenSource, Provider]:
    provider = Provider(value)
    return TokenSource("ges/token", provider, clock=lambda: NOW), provider  # type: ignore[arg-type]


def warnings(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["level"] == "WARNING"]


# --- parse_secret ----------------------------------------------------------------------------------------


def test_a_json_secret_gives_its_token_and_its_expiry() -> None:
    parsed = parse_secret(secret("2026-11-27T09:05:22.701000Z"))

    same = parsed == SecretToken(TOKEN, "2026-11-27T09:05:22.701000Z")
    assert same


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(TOKEN, id="plain-token"),
        pytest.param(json.dumps({"token": TOKEN}), id="json-without-expiry"),
        pytest.param(secret(1795744800), id="expiry-not-a-string"),
        pytest.param(secret(None), id="expiry-null"),
    ],
)
def test_a_secret_without_an_expiry_string_gives_none(value: str) -> None:
    assert parse_secret(value).expires_at is None


def test_the_token_never_shows_in_a_parsed_secret_s_repr() -> None:
    assert_no_token(repr(parse_secret(secret("2026-11-27T09:05:22Z"))))


# --- the warning ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_at", "seconds_left"),
    [
        pytest.param("2026-11-27T02:30:00.000000Z", 1800, id="in-half-an-hour"),
        pytest.param("2026-11-27T02:59:59Z", 3599, id="just-under-an-hour"),
        pytest.param("2026-11-27T01:00:00Z", -3600, id="expired-an-hour-ago"),
        pytest.param("2026-11-27T03:29:00+01:00", 1740, id="with-an-offset"),
    ],
)
def test_a_token_that_expires_within_the_hour_is_a_warning_with_its_expiry(
    function_logs: Logs, expires_at: str, seconds_left: int
) -> None:
    tokens, _ = source(secret(expires_at))

    tokens.get()

    [warning] = warnings(function_logs())
    assert warning["message"] == TOKEN_EXPIRING
    assert warning["seconds_left"] == seconds_left
    assert warning["token_expires_at"].endswith("Z")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(secret("2026-11-27T03:00:00Z"), id="in-exactly-an-hour"),
        pytest.param(secret("2026-11-28T02:00:00.000000Z"), id="in-a-day"),
        pytest.param(TOKEN, id="plain-token"),
        pytest.param(json.dumps({"token": TOKEN}), id="no-expiry"),
    ],
)
def test_no_warning_otherwise(function_logs: Logs, value: str) -> None:
    tokens, _ = source(value)

    tokens.get()

    assert warnings(function_logs()) == []


def test_one_warning_per_read_of_the_secret_not_per_call(
    function_logs: Logs,
) -> None:
    tokens, provider = source(secret("2026-11-27T02:10:00Z"))

    for _ in range(5):
        tokens.get()
    assert len(warnings(function_logs())) == 1

    provider.read_again()
    tokens.get(refresh=True)
    tokens.get()
    assert len(warnings(function_logs())) == 2


def test_an_expiry_that_is_not_a_time_is_a_warning_of_its_own(
    function_logs: Logs,
) -> None:
    tokens, _ = source(secret("tomorrow morning"))

    assert tokens.get() == TOKEN

    [warning] = warnings(function_logs())
    assert warning["message"] == "the token secret's expires_at is not an ISO-8601 time"
    assert warning["token_expires_at"] == "tomorrow morning"


def test_the_warning_threshold_is_an_hour() -> None:
    assert EXPIRY_WARNING_SECONDS == 3600


# --- the scrubber ---------------------------------------------------------------------------------------


def test_the_scrubber_replaces_every_secret_it_was_given_longest_first() -> None:
    scrubber = Scrubber()
    scrubber.add("abc")
    scrubber.add("abcdef")
    scrubber.add("")

    assert scrubber.scrub("abcdef abc ab") == "*** *** ab"
