"""The GES token: read from the secret's SecretString, and scrubbed from text that leaves the process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ges_backup_export.core.errors import ConfigurationError
from ges_backup_export.ges.token_source import CACHE_SECONDS, TokenSource, _token_from_secret

SECRET_ID = "ges-backup-export/token"
TOKEN = "MIIEhAYJKoZIhvcNAQcCoIIEdTCCBHECAQExDTALBglghkgBZQMEAgEwggLTBgkqhkiG9w0BBwGgggLE"


class FakeProvider:
    """Stands in for Powertools' SecretsProvider: hands out the given values in turn, and records calls."""

    def __init__(self, *values: object) -> None:
        self._values = list(values)
        self.calls: list[dict[str, Any]] = []

    def get(self, name: str, max_age: int, force_fetch: bool, **sdk_options: str) -> object:
        self.calls.append({"name": name, "max_age": max_age, "force_fetch": force_fetch, **sdk_options})
        return self._values.pop(0) if len(self._values) > 1 else self._values[0]


def source(*values: object) -> tuple[TokenSource, FakeProvider]:
    provider = FakeProvider(*values)
    return TokenSource(SECRET_ID, provider), provider  # type: ignore[arg-type]


def refused(value: object) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        _token_from_secret(value)
    return caught.value


# --- _token_from_secret -------------------------------------------------------------------------------


def test_plain_secret_is_the_token() -> None:
    assert _token_from_secret(TOKEN) == TOKEN


@pytest.mark.parametrize("padding", [" ", "\n", "\r\n", "\t", "  \n\n"])
def test_whitespace_around_a_plain_token_is_dropped(padding: str) -> None:
    assert _token_from_secret(padding + TOKEN + padding) == TOKEN


def test_json_secret_gives_its_token_key() -> None:
    assert _token_from_secret(json.dumps({"token": TOKEN})) == TOKEN


def test_json_secret_ignores_other_keys() -> None:
    secret = json.dumps({"user": "ges-exporter", "token": TOKEN, "expires_at": "2026-11-28T02:00:00Z"})

    assert _token_from_secret(secret) == TOKEN


def test_json_secret_with_whitespace_around_it_is_read() -> None:
    assert _token_from_secret("\n  " + json.dumps({"token": TOKEN}) + "\n") == TOKEN


def test_whitespace_around_a_json_token_is_dropped() -> None:
    assert _token_from_secret(json.dumps({"token": f"  {TOKEN}\n"})) == TOKEN


def test_multi_kilobyte_token_is_accepted() -> None:
    token = "A" * 8192

    assert _token_from_secret(json.dumps({"token": token})) == token


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param({"user": "x"}, id="no-token-key"),
        pytest.param({"Token": TOKEN}, id="other-case-key"),
        pytest.param({"token": None}, id="null-token"),
        pytest.param({"token": 12345}, id="number-token"),
        pytest.param({"token": [TOKEN]}, id="array-token"),
        pytest.param({"token": {"value": TOKEN}}, id="object-token"),
        pytest.param({}, id="empty-object"),
    ],
)
def test_json_secret_without_a_token_string_is_refused(secret: dict[str, Any]) -> None:
    assert "has no 'token' string" in refused(json.dumps(secret)).message


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("{", id="brace-only"),
        pytest.param("{token: abc}", id="unquoted"),
        pytest.param("{'token': 'abc'}", id="single-quotes"),
        pytest.param('{"token": "abc",}', id="trailing-comma"),
        pytest.param('{"token": "abc"} trailing', id="trailing-text"),
    ],
)
def test_secret_that_looks_like_json_but_does_not_parse_is_refused(secret: str) -> None:
    assert "does not parse" in refused(secret).message


@pytest.mark.parametrize("secret", ["[1, 2]", '"quoted"', "123", "null"])
def test_secret_that_is_json_but_not_an_object_is_taken_as_the_token_itself(secret: str) -> None:
    # docs/settings.md, "The secret": the SecretString is the token itself unless it is a JSON object.
    assert _token_from_secret(secret) == secret


@pytest.mark.parametrize(
    "secret", ["", "   ", "\n\t", json.dumps({"token": ""}), json.dumps({"token": "  "})]
)
def test_empty_token_is_refused(secret: str) -> None:
    assert "empty token" in refused(secret).message


@pytest.mark.parametrize("secret", [TOKEN.encode(), None, 12345, {"token": TOKEN}, bytearray(b"abc")])
def test_secret_that_is_not_a_string_is_refused(secret: object) -> None:
    assert "without a SecretString" in refused(secret).message


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("abc\ndef", id="newline"),
        pytest.param("abc\r\ndef", id="crlf"),
        pytest.param("abc\tdef", id="tab"),
        pytest.param("abc\x00def", id="nul"),
        pytest.param("abc\x7fdef", id="del"),
        pytest.param("t\u00f6ken", id="latin-1"),
        pytest.param("tok\u0435n", id="cyrillic"),
        pytest.param("\uff54oken", id="fullwidth"),
        pytest.param("token\u200b", id="zero-width-space"),
        pytest.param("token\u00a0x", id="no-break-space"),
    ],
)
@pytest.mark.parametrize("wrap", ["plain", "json"])
def test_token_that_a_header_cannot_carry_is_refused(token: str, wrap: str) -> None:
    secret = token if wrap == "plain" else json.dumps({"token": token})

    assert "characters a header cannot carry" in refused(secret).message


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(TOKEN + "\n" + TOKEN, id="newline"),
        pytest.param("{" + TOKEN, id="bad-json"),
        pytest.param(json.dumps({"not_token": TOKEN}), id="no-token-key"),
        pytest.param("t\u00f6ken" + TOKEN, id="non-ascii"),
    ],
)
def test_refusal_never_repeats_the_secret(secret: str) -> None:
    error = refused(secret)

    assert TOKEN not in str(error)
    assert TOKEN not in repr(error.as_dict())


@pytest.mark.parametrize("secret", ["abc\ndef", "{", ""])
def test_refusal_names_the_secret_setting(secret: str) -> None:
    assert refused(secret).message.startswith("GES_TOKEN_SECRET_ID")


# --- TokenSource ----------------------------------------------------------------------------------


def test_get_reads_the_named_secret_at_its_current_stage_with_the_cache() -> None:
    tokens, provider = source(TOKEN)

    assert tokens.get() == TOKEN
    assert provider.calls == [
        {"name": SECRET_ID, "max_age": CACHE_SECONDS, "force_fetch": False, "VersionStage": "AWSCURRENT"}
    ]


def test_refresh_bypasses_the_cache_and_still_reads_the_current_stage() -> None:
    tokens, provider = source(TOKEN)

    tokens.get(refresh=True)

    assert provider.calls[0]["force_fetch"] is True
    assert provider.calls[0]["VersionStage"] == "AWSCURRENT"


def test_get_parses_a_json_secret() -> None:
    tokens, _ = source(json.dumps({"token": TOKEN}))

    assert tokens.get() == TOKEN


def test_get_refuses_a_bad_secret() -> None:
    tokens, _ = source("")

    with pytest.raises(ConfigurationError):
        tokens.get()


def test_scrub_replaces_a_token_that_was_read() -> None:
    tokens, _ = source(TOKEN)
    tokens.get()

    assert tokens.scrub(f"GES said: bad token {TOKEN}.") == "GES said: bad token ***."


def test_scrub_replaces_every_occurrence() -> None:
    tokens, _ = source(TOKEN)
    tokens.get()

    assert tokens.scrub(f"{TOKEN}|{TOKEN}|{TOKEN}") == "***|***|***"


def test_scrub_replaces_every_token_read_so_far() -> None:
    old, new = "old-token-" + "a" * 40, "new-token-" + "b" * 40
    tokens, _ = source(old, new)
    tokens.get()
    tokens.get(refresh=True)

    assert tokens.scrub(f"first {old} then {new}") == "first *** then ***"


def test_scrub_replaces_the_token_of_a_json_secret_not_the_secret_text() -> None:
    tokens, _ = source(json.dumps({"token": TOKEN}))
    tokens.get()

    assert tokens.scrub(f"X-Auth-Token: {TOKEN}") == "X-Auth-Token: ***"


def test_scrub_replaces_the_stripped_token() -> None:
    tokens, _ = source(f"  {TOKEN}\n")
    tokens.get()

    assert tokens.scrub(f"[{TOKEN}]") == "[***]"


def test_scrub_before_any_read_changes_nothing() -> None:
    tokens, _ = source(TOKEN)

    assert tokens.scrub(f"text {TOKEN}") == f"text {TOKEN}"


def test_scrub_leaves_text_without_a_token_unchanged() -> None:
    tokens, _ = source(TOKEN)
    tokens.get()

    assert tokens.scrub("GES answered 503 Service Unavailable") == "GES answered 503 Service Unavailable"


def test_refused_secret_is_not_remembered_for_scrubbing() -> None:
    tokens, _ = source("bad\ntoken")
    with pytest.raises(ConfigurationError):
        tokens.get()

    assert tokens.scrub("bad\ntoken") == "bad\ntoken"
