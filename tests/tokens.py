"""The GES tokens of the suite: every one carries a marker, so that any slice of one found in output
fails the run (tests/conftest.py searches every test phase's captured output); and the one fake token
source the unit tests hand to a GES client."""

from __future__ import annotations

from local.fake_ges import make_token

CANARY = "TOKENCANARY"
STATIC_TOKEN = "test-token"


def canary_token(size: int = 6144) -> str:
    """A multi-KB token, like IAM's, in which any 520-character slice holds the marker."""
    token = make_token(size)
    return "".join(token[start : start + 500] + CANARY for start in range(0, size, 500))


def assert_no_token(value: object) -> None:
    """Fail if a token (or a slice of one) is in `value`'s text."""
    assert CANARY not in repr(value), "a GES token leaked"


class StaticTokens:
    """A token source (ges_backup_export.token_source.TokenReader) that always gives STATIC_TOKEN."""

    def get(self, *, refresh: bool = False) -> str:
        return STATIC_TOKEN

    def scrub(self, text: str) -> str:
        return text.replace(STATIC_TOKEN, "***")
