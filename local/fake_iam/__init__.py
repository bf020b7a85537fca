"""A fake Huawei Cloud IAM token service: a real HTTP server for tests and local runs.

It serves the one route a token rotation needs, shaped after ``docs/iam-api.md``:
``POST /v3/auth/tokens[?nocatalog=...]`` with the password method. A success is 201 Created with the
token in the ``X-Subject-Token`` header (a fresh ``MII...`` blob from :func:`make_token`, different
every time) and the token's description in the body. Tokens stay valid for ``lifetime_seconds``
(24 h; settable, for the tokens issued from then on), also after newer ones are issued, unless
revoked (:meth:`FakeIam.revoke`, a password change, a lock); :meth:`FakeIam.token_project` tells a
fake GES which project a token is scoped to while it is valid. All errors use IAM's own format,
``{"error": {"code", "message", "title"}}``, never ``error_code``/``error_msg``.

Injected faults (:class:`Fault`, shared with the fake GES) stand for the network and the gateway:
they apply to the token route before normal handling. A fault's status without a body gets an
IAM-format error body, except a 2xx status, which gets a token body; no fault ever adds
``X-Subject-Token`` (the "IAM answered without a token" case), unless its own headers do. Nothing
is ever printed or logged. Requests are recorded (:class:`IamCall`) with the user, domain and scope
asked for and the names of their headers, never a password or a token; the fake itself keeps only
SHA-256 digests of both.

Assumptions where docs/iam-api.md is silent:

* Every part of the request is required and must be a non-empty string: ``user.name``,
  ``user.password`` and ``user.domain.name`` (IAM also accepts ids; this fake does not), and a
  ``scope.project`` or ``scope.domain`` must hold an ``id`` or a ``name``. ``methods`` must be a list
  that holds ``"password"``. Anything else, and a body that is not JSON, is 400 "The request body is
  invalid". ``Content-Type`` is not checked.
* A locked user who sends the right password gets 401 "The account is locked." (:data:`USER_LOCKED`);
  with a wrong password, the usual 401 "The username or password is wrong.", so that a locked
  account is not revealed to a guesser.
* A project scope that is not one of the user's projects (by id, or by name), and a domain scope
  naming another domain, is 401 "The request you have made requires authentication."
  (:data:`NO_ACCESS`, Keystone's wording, from which IAM's error bodies come), not 403.
* Without a scope, with an empty one or with a domain scope, the token is domain-scoped: its body has
  a top-level ``domain`` and no ``project``, and :meth:`FakeIam.token_project` gives None for it.
* Like IAM (section 7), changing a user's password or locking the user invalidates the user's tokens
  at once. Roles are always ``[{"id": "0", "name": "te_admin"}]`` and ``catalog`` is empty.
* Unknown paths and other methods (``GET /v3/auth/tokens`` too, and a trailing ``/``) get 404
  "The requested resource could not be found." Faults are only taken by the token route.

The package: ``fake.py`` the fake, its state and its handler (:class:`FakeIam`), ``parsing.py`` what a
request asks for, ``answers.py`` what IAM answers, ``__main__.py`` the command line; the HTTP server is
local/fake_http.py's, shared with the fake GES.
"""

from local.fake_ges.faults import Fault
from local.fake_ges.tokens import make_token
from local.fake_iam.answers import (
    BAD_BODY,
    NO_ACCESS,
    NOT_FOUND,
    TOKENS_PATH,
    USER_LOCKED,
    WRONG_CREDENTIALS,
    format_time,
    iam_error,
)
from local.fake_iam.fake import FakeIam, load_users
from local.fake_iam.parsing import IamCall

__all__ = [
    "BAD_BODY",
    "NOT_FOUND",
    "NO_ACCESS",
    "TOKENS_PATH",
    "USER_LOCKED",
    "WRONG_CREDENTIALS",
    "FakeIam",
    "Fault",
    "IamCall",
    "format_time",
    "iam_error",
    "load_users",
    "make_token",
]
