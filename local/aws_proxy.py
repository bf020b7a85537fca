"""A loopback proxy in front of moto that counts AWS requests and injects AWS faults.

boto3 reaches it through `AWS_ENDPOINT_URL` like it would reach moto. Each request is named by its
service (from the SigV4 credential scope) and action (the JSON protocols' `X-Amz-Target`, or the query
protocol's `Action`), e.g. `dynamodb.PutItem`; the count of each name is what the benchmark and the
request-cost tests read, and the parameters of each request are kept (`parameters_of`) for tests that
check what was asked, e.g. a message's DelaySeconds; so are those of a request moto handled but whose
client had given up waiting (`unanswered_of`): a loaded machine can stall moto past a client's timeout,
and what the client then does (repeat the call) is on it, not on moto. A fault injected for an action
answers in moto's place: an AWS error (botocore retries a 5xx and throttling per its retry mode), a
connection closed without an answer, or a 200 answer of the test's making (e.g. a PutEvents entry
EventBridge refused).

It also refuses what real SQS refuses and moto 5.2.5 lets through: a `SendMessage` (or an entry of a
`SendMessageBatch`) whose body or string attribute holds a character outside SQS's set, or whose body
and attributes together exceed SQS_MAX_MESSAGE_BYTES (the size template.yaml gives the input queue and
its dead-letter queue), and a batch of more than ten entries or that size.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# SQS's own rules, written here independently of the function's code (ges_backup_export.core.message_format),
# so that a mistake there is caught here rather than shared.
SQS_MAX_MESSAGE_BYTES = 262_144
_NOT_FOR_SQS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class AwsFault:
    """What the proxy does instead of forwarding: an AWS error answer, or a dropped connection."""

    status: int = 0
    code: str = ""
    drop: bool = False
    reply: str | None = None  # the JSON body of a 200 answer given in moto's place

    @classmethod
    def error(cls, status: int = 503, code: str = "ServiceUnavailable") -> AwsFault:
        return cls(status=status, code=code)

    @classmethod
    def answer(cls, body: dict[str, Any]) -> AwsFault:
        """A successful answer with `body`, e.g. PutEvents' `{"FailedEntryCount": 1, ...}`."""
        return cls(status=200, reply=json.dumps(body))

    @classmethod
    def dropped(cls) -> AwsFault:
        return cls(drop=True)


@dataclass
class _Pending:
    fault: AwsFault
    remaining: int | None
    when: Callable[[dict[str, Any]], bool] | None


class AwsProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._lock = threading.Lock()
        self._faults: dict[str, deque[_Pending]] = {}
        self.requests: Counter[str] = Counter()
        self._parameters: list[tuple[str, dict[str, Any]]] = []
        self._unanswered: list[tuple[str, dict[str, Any]]] = []
        self.faults_fired = 0  # over the proxy's life
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- faults and counts -----------------------------------------------------------------
    def inject(
        self,
        action: str,
        fault: AwsFault,
        *,
        times: int | None = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Answer `action` (e.g. `sqs.SendMessage`) with `fault`, `times` times (None: until cleared);
        `when` narrows it to requests whose parameters it accepts, e.g. one queue's URL."""
        with self._lock:
            self._faults.setdefault(action, deque()).append(_Pending(fault, times, when))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self._parameters.clear()
            self._unanswered.clear()

    def parameters_of(self, action: str) -> list[dict[str, Any]]:
        """The parameters of every `action` request since the counts were reset, in arrival order."""
        with self._lock:
            return [parameters for name, parameters in self._parameters if name == action]

    def unanswered_of(self, action: str) -> list[dict[str, Any]]:
        """The parameters of the `action` requests moto handled after their client had hung up (it timed
        out waiting), since the counts were reset."""
        with self._lock:
            return [parameters for name, parameters in self._unanswered if name == action]

    def count(self, prefix: str = "") -> int:
        """Requests whose name starts with `prefix` (all of them by default)."""
        with self._lock:
            return sum(n for name, n in self.requests.items() if name.startswith(prefix))

    def _take_fault(self, action: str, parameters: dict[str, Any]) -> AwsFault | None:
        with self._lock:
            pending_faults = self._faults.get(action, deque())
            for pending in pending_faults:
                if pending.when is None or pending.when(parameters):
                    if pending.remaining is not None:
                        pending.remaining -= 1
                        if pending.remaining == 0:
                            pending_faults.remove(pending)
                    self.faults_fired += 1
                    return pending.fault
        return None

    def _count(self, action: str, parameters: dict[str, Any]) -> None:
        with self._lock:
            self.requests[action] += 1
            self._parameters.append((action, parameters))

    # -- lifecycle -------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[AwsProxy]:
        proxy = self

        class Handler(_Forwarder):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        thread = threading.Thread(target=self._server.serve_forever, name="aws-proxy", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()


def on_queue(queue_url: str) -> Callable[[dict[str, Any]], bool]:
    """For `inject(when=...)`: the requests about one queue."""
    return lambda parameters: parameters.get("QueueUrl") == queue_url


def action_of(headers: Any, body: bytes) -> tuple[str, dict[str, Any]]:
    """`service.Action` of a signed AWS request, and its parameters; `unsigned` for anything else."""
    scope = _SCOPE.search(headers.get("Authorization", ""))
    if not scope:
        return "unsigned", {}
    service = scope.group(1)
    target = headers.get("X-Amz-Target", "")
    if target:
        try:
            parameters = json.loads(body or b"{}")
        except ValueError:
            parameters = {}
        return f"{service}.{target.rsplit('.', 1)[-1]}", parameters if isinstance(parameters, dict) else {}
    form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
    return f"{service}.{form.get('Action', 'unknown')}", form


class _Forwarder(BaseHTTPRequestHandler):
    owner: AwsProxy
    protocol_version = "HTTP/1.1"
    # An answer goes out in two writes (headers, body); without TCP_NODELAY the body waits ~40 ms for
    # the client's delayed ACK on a kept-alive connection: not a zero-latency stand-in.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read counts, not access logs."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        action, parameters = action_of(self.headers, body)
        if action != "unsigned":
            self.owner._count(action, parameters)
        fault = self.owner._take_fault(action, parameters)
        if fault is None and action == "sqs.SendMessage":
            fault = sqs_refusal(parameters)
        if fault is None and action == "sqs.SendMessageBatch":
            fault = sqs_batch_refusal(parameters)
        if fault is None:
            self._forward(body, action, parameters)
        elif fault.drop:
            self.close_connection = True
            self.connection.close()
        elif fault.reply is not None:
            self._answer(200, {"Content-Type": "application/x-amz-json-1.1"}, fault.reply.encode())
        else:
            self._answer(fault.status, {"x-amzn-ErrorType": fault.code}, _error_body(fault))

    def _forward(self, body: bytes, action: str, parameters: dict[str, Any]) -> None:
        connection = http.client.HTTPConnection(*self.owner._upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            content = answer.read()
            kept = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP}
            if self._client_gone():
                with self.owner._lock:
                    self.owner._unanswered.append((action, parameters))
                self.close_connection = True
                return
            self._answer(answer.status, kept, content)
        finally:
            connection.close()

    def _client_gone(self) -> bool:
        """Whether the client closed its connection while moto was busy: it timed out waiting. (It sends
        nothing else before its answer, so a readable socket is the end of the stream.)"""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True
        return peeked == b""

    def _answer(self, status: int, headers: dict[str, str], content: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


def sqs_refusal(parameters: dict[str, Any]) -> AwsFault | None:
    """The error real SQS answers a SendMessage with, where moto accepts it; None when SQS accepts it."""
    body = str(parameters.get("MessageBody", ""))
    attributes = parameters.get("MessageAttributes") or {}
    texts = [body, *(str(value.get("StringValue", "")) for value in attributes.values())]
    if any(_NOT_FOR_SQS.search(text) for text in texts):
        return AwsFault.error(400, "InvalidMessageContents")
    too_long = _sqs_size(parameters) > SQS_MAX_MESSAGE_BYTES
    return AwsFault.error(400, "InvalidParameterValue") if too_long else None


def sqs_batch_refusal(parameters: dict[str, Any]) -> AwsFault | None:
    """The error real SQS answers a whole SendMessageBatch with: more than ten entries, or more than
    SQS_MAX_MESSAGE_BYTES together (an entry it refuses alone would be listed as failed; here the whole
    batch is refused, which a sender must handle as well)."""
    entries = parameters.get("Entries") or []
    if len(entries) > 10:
        return AwsFault.error(400, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
    if sum(_sqs_size(entry) for entry in entries) > SQS_MAX_MESSAGE_BYTES:
        return AwsFault.error(400, "AWS.SimpleQueueService.BatchRequestTooLong")
    return next(filter(None, map(sqs_refusal, entries)), None)


def _sqs_size(parameters: dict[str, Any]) -> int:
    attributes = parameters.get("MessageAttributes") or {}
    return len(str(parameters.get("MessageBody", "")).encode()) + sum(
        len(f"{name}{value.get('DataType', '')}{value.get('StringValue', '')}".encode())
        for name, value in attributes.items()
    )


def _error_body(fault: AwsFault) -> bytes:
    return json.dumps({"__type": fault.code, "message": f"injected {fault.code}"}).encode()
