"""The AWS proxy (local/aws_proxy.py) tells a request its client gave up on (it timed out while the service
was busy) from one it answered: the soak uses it to tell a put the tracker could not know the outcome of
from a bug."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local.aws_proxy import AwsProxy
from tests.stand_ins import wait_for

SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20261129/eu-west-1/events/aws4_request, Signature=x"


class SlowService(BaseHTTPRequestHandler):
    """An AWS service stand-in that takes `delay` seconds to answer."""

    delay = 0.0
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.delay)
        body = b'{"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def proxy() -> Iterator[AwsProxy]:
    service = ThreadingHTTPServer(("127.0.0.1", 0), SlowService)
    service.daemon_threads = True
    threading.Thread(target=service.serve_forever, daemon=True).start()
    host, port = service.server_address[:2]
    with AwsProxy(f"http://{host!s}:{port}").running() as running:
        yield running
    service.shutdown()
    service.server_close()


def put(proxy: AwsProxy, job_id: str, timeout: float) -> int | None:
    """One signed PutEvents through the proxy; its status, or None when the client gave up waiting."""
    body = json.dumps({"Entries": [{"Detail": json.dumps({"job_id": job_id})}]})
    headers = {"Authorization": SIGNED, "X-Amz-Target": "AWSEvents.PutEvents"}
    connection = http.client.HTTPConnection(proxy.url.removeprefix("http://"), timeout=timeout)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        return connection.getresponse().status
    except TimeoutError:
        return None
    finally:
        connection.close()


def test_a_request_whose_client_gave_up_is_kept_as_unanswered(proxy: AwsProxy) -> None:
    SlowService.delay = 0.5

    assert put(proxy, "gave-up", timeout=0.1) is None

    wait_for(lambda: proxy.unanswered_of("events.PutEvents"))  # once the service answered the proxy
    (unanswered,) = proxy.unanswered_of("events.PutEvents")
    assert json.loads(unanswered["Entries"][0]["Detail"]) == {"job_id": "gave-up"}
    assert proxy.requests["events.PutEvents"] == 1


def test_an_answered_request_is_not(proxy: AwsProxy) -> None:
    SlowService.delay = 0.0

    assert put(proxy, "answered", timeout=5) == 200

    assert proxy.unanswered_of("events.PutEvents") == []
    assert [p["Entries"][0]["Detail"] for p in proxy.parameters_of("events.PutEvents")] == [
        json.dumps({"job_id": "answered"})
    ]
