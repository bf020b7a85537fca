"""Which tokens the fake GES accepts: its own, and those of a fake IAM it is given (sections 5 to 7)."""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
from typing import Protocol


class TokenIssuer(Protocol):
    """A fake IAM whose tokens the fake GES accepts besides its own (sections 5 to 7)."""

    def token_project(self, token: str) -> str | None:
        """The project id a token issued by this IAM is scoped to, while it is valid; None otherwise."""


def make_token(size: int = 4096) -> str:
    """A random stand-in for an IAM token: ``MII`` + url-safe base64, exactly ``size`` characters."""
    if size < 4:
        raise ValueError("token size must be at least 4")
    raw = base64.urlsafe_b64encode(secrets.token_bytes(size)).decode("ascii").rstrip("=")
    return "MII" + raw[: size - 3]


class TokenChecks:
    """The fake GES's own token and its issuer, under the fake's lock."""

    _lock: threading.Lock
    _token: str
    _issuer: TokenIssuer | None

    @property
    def token(self) -> str:
        with self._lock:
            return self._token

    def rotate_token(self, new_token: str | None = None) -> str:
        """Replace the fake's own token; the old one is refused at once (tokens of the issuer stay)."""
        with self._lock:
            self._token = new_token or make_token()
            return self._token

    def accept_tokens_from(self, issuer: TokenIssuer | None) -> None:
        """Accept the tokens of a fake IAM besides the fake's own token (None: only the own token)."""
        with self._lock:
            self._issuer = issuer

    def _auth_state(self, sent: str | None, project_id: str | None) -> str:
        """How ``sent`` does in a request on ``project_id``: "ok", "missing", "wrong" or "other_project".

        The own token is valid for any project. An issued token is valid while the issuer says so (a
        newer token does not revoke it, section 7), and only for its own project (section 6): else
        "other_project". The issuer is asked outside the lock, so that it may take locks of its own."""
        if not sent:
            return "missing"
        with self._lock:
            own = hmac.compare_digest(sent.encode(), self._token.encode())
            issuer = self._issuer
        if own:
            return "ok"
        scoped = issuer.token_project(sent) if issuer is not None else None
        if scoped is None:
            return "wrong"
        return "ok" if project_id is None or scoped == project_id else "other_project"
