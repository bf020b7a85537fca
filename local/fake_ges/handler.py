"""One request to the fake GES, as the API gateway in front of GES and the network treat it: the control
routes first, then the record, the fault, the unknown API, the token check, and GES (routes.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from local.fake_ges.faults import Call, Fault
from local.fake_ges.routes import dispatch, match
from local.fake_http import FakeHandler

if TYPE_CHECKING:
    from local.fake_ges.fake import FakeGes

Json = dict[str, Any]
Reply = tuple[int, Json]


class GesHandler(FakeHandler["FakeGes"]):
    def respond(self) -> None:
        with self.fake._handling():
            self._handle()

    def request_id(self, reply: Json) -> str:
        """The gateway's request id where the body has one, so that both agree."""
        return str(reply.get("request_id") or uuid.uuid4().hex)

    def _handle(self) -> None:
        fake = self.fake
        path, query = self.path_and_query()
        body = self._read_json_or_text()
        if fake.control is not None and (answer := fake.control(self.command, path, body)) is not None:
            self.send(*answer, {})  # not a GES call: neither recorded nor faulted
            return
        route, groups = match(self.command, path)
        project_id = groups[0] if groups else None
        state = fake._auth_state(self.headers.get("X-Auth-Token"), project_id)
        call = Call(
            self.command, path, query, body, state in ("ok", "other_project"),
            header_names=tuple(self.headers.keys()),
        )  # fmt: skip
        fake._record(call)
        generation = fake.generation
        fault = fake._take_fault(route, call) or Fault()
        fake._sleep(fault.delay + fake.latency)
        if fault.drop or generation != fake.generation:  # reset meanwhile: the next test's state is not its
            self.drop()
            return
        answer_it = partial(dispatch, fake, route, groups, query, body)
        status, reply, headers = self._answer(fake, fault, route is not None, project_id, answer_it)
        with fake._lock:
            call.status = status
        if fault.after is not None:
            self.break_off(fault.after)
        elif fault.byte_pause > 0:
            self.trickle(fake._stopping, fault.byte_pause, status, reply, headers)
        else:
            self.send(status, reply, headers, fault.raw_body)

    def _answer(
        self,
        fake: FakeGes,
        fault: Fault,
        known_route: bool,
        project_id: str | None,
        answer_it: Callable[[], Reply],
    ) -> tuple[int, Json, dict[str, str]]:
        """Like the gateway: the fault, else 404 for an unknown API, else the token check (as of now,
        after any delay); then GES, which refuses an issued token of another project (GES.0016)."""
        if fault.status is not None and fault.raw_body is None:
            return fault.status, fault.body or fake._fault_body(fault.status), fault.headers
        if not known_route:
            return 404, fake._fault_body(404), {}
        state = fake._auth_state(self.headers.get("X-Auth-Token"), project_id)
        if state in ("missing", "wrong"):
            reason = "x-auth-token not found" if state == "missing" else "decrypt token fail"
            message = f"Incorrect IAM authentication information: {reason}"
            return 401, {"error_msg": message, "error_code": "APIG.0301", "request_id": uuid.uuid4().hex}, {}
        if state == "other_project":
            return (*fake._error(400, "GES.0016", "Resource not found"), {})
        try:
            status, reply = answer_it()
        except Exception as exc:  # a bug in the fake: answer it rather than print a traceback
            status, reply = 500, {"error_code": "FAKE.0500", "error_msg": f"fake_ges bug: {exc!r}"}
        return fault.status or status, reply, {}

    def _read_json_or_text(self) -> object:
        """The JSON body; its text when it is not JSON; None when empty."""
        raw = self.read_body().decode("utf-8", "replace")
        if not raw:
            return None
        try:
            return cast(object, json.loads(raw))
        except ValueError:
            return raw
