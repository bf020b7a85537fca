"""Making a running fake GES misbehave from outside: the `/_fake/faults` routes.

The stand-ins (`make stand-ins`) keep a fake GES running for a person who rehearses the runbook; these
routes let that person inject the faults the tests inject with `FakeGes.inject`, e.g. an export whose
outcome is unknown:

    curl -X POST "$GES_ENDPOINT/_fake/faults" -d '{"route": "export", "status": 500, "times": 1}'

* ``POST /_fake/faults`` queues one fault (the body below) and answers ``{"queued": {...}}``;
* ``GET /_fake/faults`` answers ``{"faults_fired": n}``, the faults fired since the fake started;
* ``DELETE /_fake/faults`` drops every fault not fired yet.

The body: ``route``, one of :data:`local.fake_ges.ROUTES` (default ``export``); ``times`` (default 1);
and either ``status`` (GES answers it instead: 500 or 504 make an export's outcome unknown, 429, 502 or
503 are retried; with ``retry_after`` seconds, or ``error_code`` and ``error_msg`` for a GES error
body), or ``fault``: ``reset_after`` or ``garbage_after`` (GES starts the export, then the answer is
lost: unknown, with a job to find), ``undecodable``, ``dropped``, or ``slow`` (with ``seconds``).
``export_path`` narrows it to the exports to that path. A body that is none of these is refused with
400 and says why.

The routes are not GES's and need no token: the stand-ins serve the fake on loopback only. They exist
only on a fake given to :func:`enable`; the tests' fakes have none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from local.fake_ges import ROUTES, Call, FakeGes, Fault, exporting_to

PATH = "/_fake/faults"
_BROKEN_ANSWERS: dict[str, Callable[[], Fault]] = {
    "reset_after": Fault.reset_after,
    "garbage_after": Fault.garbage_after,
    "undecodable": Fault.undecodable,
    "dropped": Fault.dropped,
}
_FIELDS = {
    "route",
    "times",
    "status",
    "retry_after",
    "error_code",
    "error_msg",
    "fault",
    "seconds",
    "export_path",
}
Reply = tuple[int, dict[str, Any]]


class BadFault(ValueError):
    """A fault body the control route refuses, worded for the person who sent it."""


def enable(fake: FakeGes) -> FakeGes:
    """Give `fake` the control routes; returns it."""
    fake.control = lambda method, path, body: answer(fake, method, path, body)
    return fake


def answer(fake: FakeGes, method: str, path: str, body: object) -> Reply | None:
    """The control routes' answer, or None when the request is not for them (GES handles it)."""
    if path.rstrip("/") != PATH:
        return None
    if method == "GET":
        return 200, {"faults_fired": fake.faults_fired}
    if method == "DELETE":
        fake.clear_faults()
        return 200, {"cleared": True}
    if method != "POST":
        return 405, {"error": f"{method} {PATH}: use POST, GET or DELETE"}
    try:
        fault, route, times, when = parse(body)
    except BadFault as error:
        return 400, {"error": str(error)}
    fake.inject(fault, route=route, times=times, when=when)
    return 200, {"queued": body}


def parse(body: object) -> tuple[Fault, str, int, Callable[[Call], bool] | None]:
    """A fault body as `FakeGes.inject`'s arguments: the fault, its route, how many times, and for which
    requests."""
    if not isinstance(body, dict):
        raise BadFault('the body must be a JSON object, e.g. {"route": "export", "status": 500}')
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise BadFault(f"unknown fields {unknown}; known: {sorted(_FIELDS)}")
    route = body.get("route", "export")
    if route not in ROUTES:
        raise BadFault(f"route must be one of {list(ROUTES)}, not {route!r}")
    times = _number(body, "times", 1)
    if times < 1:
        raise BadFault("times must be at least 1")
    path = body.get("export_path")
    when = exporting_to(str(path)) if path is not None else None
    return _fault(body), route, int(times), when


def _fault(body: dict[str, Any]) -> Fault:
    if ("status" in body) == ("fault" in body):
        raise BadFault('give either "status" (an HTTP status) or "fault" (a broken answer), not both')
    if "status" in body:
        status = int(_number(body, "status", 0))
        if not 400 <= status <= 599:
            raise BadFault("status must be an HTTP error status, 400 to 599")
        if "error_code" in body:
            return Fault.ges_error(status, str(body["error_code"]), str(body.get("error_msg", "")))
        retry_after = body.get("retry_after")
        return Fault.http(status, None if retry_after is None else _number(body, "retry_after", 0))
    kind = body["fault"]
    if kind == "slow":
        return Fault.slow(_number(body, "seconds", 0))
    if kind not in _BROKEN_ANSWERS:
        raise BadFault(f"fault must be one of {[*_BROKEN_ANSWERS, 'slow']}, not {kind!r}")
    return _BROKEN_ANSWERS[kind]()


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadFault(f"{name} must be a number, 0 or more")
    return float(value) if isinstance(value, float) else value
