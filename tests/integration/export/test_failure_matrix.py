"""Every row of the contract's failure table, in queue mode: where a request ends up.

Each case sends one request to the input queue and injects its fault; the event source (the local
poller) runs while the fault lasts, then the fault is repaired and the queue drained. The request must
end in exactly one place, downstream with one job_id or dead-lettered with its reason, and GES must have
been asked exactly as often as the case says: nothing lost, no export started twice.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from local.aws_proxy import AwsFault, AwsProxy, on_queue
from local.fake_ges import FakeGes, Fault
from tests.stand_ins import MOVIES_BACKUP, Function, Graphs, VirtualWaits
from tests.tokens import canary_token

REQUEST = {"graph_id": "movies", "backup_id": MOVIES_BACKUP, "export_path": "ges-backups/movies/m/"}
DOWNSTREAM = "downstream"
ALWAYS = 1000


@dataclass
class Scene:
    function: Function
    ges: FakeGes
    aws: AwsProxy
    monkeypatch: pytest.MonkeyPatch

    def queue(self, name: str) -> Callable[[dict[str, Any]], bool]:
        return on_queue(self.function.stack.queue_urls[name])

    def ges_refuses_connections(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        self.monkeypatch.setenv("GES_ENDPOINT", f"http://127.0.0.1:{closed_port}")

    def token_rotated(self, in_the_secret: bool) -> None:
        """GES takes a new token; the function has the old one cached (from one export before)."""
        self.function.invoke({**REQUEST, "export_path": "ges-backups/movies/warm/"})
        self.function.downstream()
        token = self.ges.rotate_token(canary_token())
        if in_the_secret:
            secret = self.function.stack.secret_arn
            boto3.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=token)


@dataclass(frozen=True)
class Case:
    fault: str
    inject: Callable[[Scene], None]
    ends: str  # DOWNSTREAM, or the error_code it is dead-lettered with
    export_calls: int  # POSTs GES received for it, all attempts together
    body: str | None = None  # the message body, when not REQUEST


def at_ges(fault: Fault, times: int = 1) -> Callable[[Scene], None]:
    return lambda scene: scene.ges.inject(fault, times=times)


CASES = [
    Case("GES 429 with Retry-After, twice", at_ges(Fault.http(429, 0), times=2), DOWNSTREAM, 3),
    Case("GES 502 once", at_ges(Fault.http(502)), DOWNSTREAM, 2),
    Case("GES 503 beyond the attempts", at_ges(Fault.http(503), times=ALWAYS), DOWNSTREAM, 4),
    Case("GES refuses connections", Scene.ges_refuses_connections, DOWNSTREAM, 1),
    Case("GES 500", at_ges(Fault.http(500)), "ExportOutcomeUnknown", 1),
    Case("GES 504", at_ges(Fault.http(504)), "ExportOutcomeUnknown", 1),
    Case("no answer in time after sending", at_ges(Fault.slow(1.0)), "ExportOutcomeUnknown", 1),
    # These two count the export that cached the old token.
    Case("401 once: the secret was rotated", lambda s: s.token_rotated(in_the_secret=True), DOWNSTREAM, 3),
    Case("401 always", lambda s: s.token_rotated(in_the_secret=False), "TokenRejected", 3),
    Case(
        "GES 400, snake_case body",
        at_ges(Fault.ges_error(400, "GES.7001", "x")),
        "GES.7001",
        1,
    ),
    Case(
        "GES 403, camelCase body",
        at_ges(Fault.ges_error(403, "GES.7041", "no", style="camel")),
        "GES.7041",
        1,
    ),
    Case("GES 404", at_ges(Fault.ges_error(404, "GES.0047", "gone")), "GES.0047", 1),
    Case(
        "Secrets Manager unavailable",
        lambda s: s.aws.inject("secretsmanager.GetSecretValue", AwsFault.error(503), times=ALWAYS),
        DOWNSTREAM,
        1,
    ),
    Case(
        "idempotency table unavailable",
        lambda s: s.aws.inject("dynamodb.PutItem", AwsFault.error(500, "InternalServerError"), times=ALWAYS),
        DOWNSTREAM,
        1,
    ),
    Case(
        "downstream queue unavailable after GES accepted",
        lambda s: s.aws.inject(
            "sqs.SendMessage", AwsFault.dropped(), times=ALWAYS, when=s.queue("DownstreamQueue")
        ),
        DOWNSTREAM,
        1,
    ),
    Case("bad request", lambda s: None, "InvalidRequest", 0, body='{"graph_id": "movies"}'),
    Case(
        "bad request, dead-letter queue unavailable",
        lambda s: s.aws.inject(
            "sqs.SendMessage", AwsFault.error(503), times=ALWAYS, when=s.queue("InputDeadLetterQueue")
        ),
        "InvalidRequest",
        0,
        body='{"graph_id": "movies", "backup_id": "b"}',
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.fault for case in CASES])
def test_a_queued_request_ends_in_one_place(
    function: Function,
    graphs: Graphs,
    ges: FakeGes,
    aws: AwsProxy,
    monkeypatch: pytest.MonkeyPatch,
    case: Case,
) -> None:
    function.waits = VirtualWaits()
    monkeypatch.setenv("GES_TIMEOUT_SECONDS", "0.3")
    with monkeypatch.context() as during_the_fault:
        case.inject(Scene(function, ges, aws, during_the_fault))
        function.send(case.body or REQUEST)
        function.poller().poll_once()
        ges.clear_faults()
        aws.clear_faults()
    function.poller().drain()

    downstream, dead = function.downstream(), function.take("InputDeadLetterQueue")
    if case.ends == DOWNSTREAM:
        assert (len(downstream), dead) == (1, [])
        assert downstream[0]["job_id"] in ges.jobs
    else:
        assert (downstream, [message.attributes["error_code"] for message in dead]) == ([], [case.ends])
        assert dead[0].raw_body == (case.body or json.dumps(REQUEST))  # the body, unchanged
    assert len(ges.export_calls) == case.export_calls
    assert function.take("InputQueue") == []
