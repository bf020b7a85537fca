"""What the fake IAM answers: IAM's own error body and wording, its token times, and the token body a
user is issued (docs/iam-api.md)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

Json = dict[str, Any]

TOKENS_PATH = "/v3/auth/tokens"
BAD_BODY = "The request body is invalid"
WRONG_CREDENTIALS = "The username or password is wrong."
USER_LOCKED = "The account is locked."
NO_ACCESS = "The request you have made requires authentication."
NOT_FOUND = "The requested resource could not be found."
_FAULT_MESSAGES = {
    429: "The throttling threshold has been reached.",
    500: "An unexpected error prevented the server from fulfilling your request.",
    502: "Bad gateway.",
    503: "The service is temporarily unavailable.",
    504: "Gateway timeout.",
}
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_ROLES = ({"id": "0", "name": "te_admin"},)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def iam_error(status: int, message: str) -> Json:
    """IAM's error body: ``{"error": {"code": 401, "message": ..., "title": "Unauthorized"}}``."""
    return {"error": {"code": status, "message": message, "title": _title(status)}}


def fault_error(status: int) -> Json:
    """The error body of a fault's status given without a body."""
    return iam_error(status, _FAULT_MESSAGES.get(status, f"{_title(status)}."))


def format_time(seconds: float) -> str:
    """IAM's token times: ISO-8601 UTC with microseconds and a ``Z``, e.g. 2020-01-04T09:05:22.701000Z."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime(_TIME_FORMAT)


def digest(secret: str) -> str:
    """What the fake keeps of a password or a token: its SHA-256."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class User:
    domain_name: str
    domain_id: str
    name: str
    user_id: str
    password_digest: str = field(repr=False)
    projects: dict[str, str] = field(default_factory=dict)
    locked: bool = False

    def scope_for(self, scope: tuple[str, str, str]) -> tuple[bool, tuple[str, str] | None]:
        """Whether the user may have the scope, and its project (id, name), None for a domain scope."""
        kind, key, value = scope
        if kind == "domain":
            mine = {"id": self.domain_id, "name": self.domain_name}
            return not value or mine[key] == value, None
        for project_id, name in self.projects.items():
            if (project_id if key == "id" else name) == value:
                return True, (project_id, name)
        return False, None


@dataclass
class Issued:
    user: tuple[str, str]  # (domain name, user name)
    project_id: str | None  # None: domain-scoped
    expires_at: float


def token_body(
    user: User, project: tuple[str, str] | None, issued_at: float, expires_at: float, *, catalog: bool
) -> Json:
    """The body of a 201: the token's description, domain- or project-scoped."""
    domain = {"id": user.domain_id, "name": user.domain_name}
    token: Json = {"expires_at": format_time(expires_at), "issued_at": format_time(issued_at)}
    token["methods"] = ["password"]
    if catalog:
        token["catalog"] = []
    if project is None:
        token["domain"] = dict(domain)
    else:
        token["project"] = {"id": project[0], "name": project[1], "domain": dict(domain)}
    token["roles"] = [dict(role) for role in _ROLES]
    token["user"] = {"id": user.user_id, "name": user.name, "password_expires_at": "", "domain": domain}
    return {"token": token}


def bare_token_body(issued_at: float, expires_at: float) -> Json:
    """The token body of a fault's 2xx status given without a body: times and method, nothing else."""
    times = {"expires_at": format_time(expires_at), "issued_at": format_time(issued_at)}
    return {"token": {**times, "methods": ["password"], "catalog": []}}
