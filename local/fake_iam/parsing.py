"""What a token request asks for: the password-method request it must be (:func:`parse`), and what of it
the fake records (:func:`asked`, :class:`IamCall`): never a password, a token or a header's value."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class IamCall:
    """One received request. Only what was asked for is kept: the user and domain names and the scope's
    ids and names. Never the password, the token or a header's value (only header names)."""

    method: str
    path: str
    query: dict[str, str]
    user_name: str | None
    domain_name: str | None
    scope: dict[str, dict[str, str]] | None
    status: int | None = None
    header_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class PasswordRequest:
    """A valid password-method request. ``scope`` is (kind, key, value), e.g. ("project", "id", "..."),
    or ("domain", "", "") for no scope."""

    domain_name: str
    user_name: str
    password: str = field(repr=False)
    scope: tuple[str, str, str] = ("domain", "", "")


def _dig(value: object, *keys: str) -> object:
    """``value[k1][k2]...``, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _scope_part(kind: str, part: object) -> tuple[str, str, str] | None:
    for key in ("id", "name"):
        value = _text(_dig(part, key))
        if value:
            return kind, key, value
    return None


def _parse_scope(scope: object) -> tuple[str, str, str] | None:
    """The scope asked for (project wins over domain; none or empty is domain), or None if invalid."""
    if scope is None:
        return "domain", "", ""
    if not isinstance(scope, dict):
        return None
    for kind in ("project", "domain"):
        if kind in scope:
            return _scope_part(kind, scope[kind])
    return "domain", "", ""


def parse(body: object) -> PasswordRequest | None:
    """The password-method request in ``body``, or None if any required part is missing or invalid."""
    identity = _dig(body, "auth", "identity")
    methods = _dig(identity, "methods")
    if not isinstance(methods, list) or "password" not in methods:
        return None
    user = _dig(identity, "password", "user")
    name, password = _text(_dig(user, "name")), _text(_dig(user, "password"))
    domain = _text(_dig(user, "domain", "name"))
    scope = _parse_scope(_dig(body, "auth", "scope"))
    if name is None or password is None or domain is None or scope is None:
        return None
    return PasswordRequest(domain, name, password, scope)


def asked(body: object) -> tuple[str | None, str | None, dict[str, dict[str, str]] | None]:
    """For the record: the user name, domain name and scope a body asks for, whatever else it holds."""
    user = _dig(body, "auth", "identity", "password", "user")
    user_name, domain_name = _dig(user, "name"), _dig(user, "domain", "name")
    scope = _dig(body, "auth", "scope")
    kept = None
    if isinstance(scope, dict):
        kept = {
            kind: {
                key: value for key, value in part.items() if key in ("id", "name") and isinstance(value, str)
            }
            for kind, part in scope.items()
            if kind in ("project", "domain") and isinstance(part, dict)
        }
    return (
        user_name if isinstance(user_name, str) else None,
        domain_name if isinstance(domain_name, str) else None,
        kept,
    )
