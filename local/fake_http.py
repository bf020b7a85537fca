"""The HTTP plumbing of the fakes (local/fake_ges/, local/fake_iam/): one server, one base handler.

A fake is a :class:`ServedFake`: ``start()``/``stop()`` or a context manager, a ``url``, and a
:class:`FakeServer` on a thread of its own that serves its :class:`FakeHandler` subclass. The server
tracks its connections and ends them on stop, so that a stopped fake answers nothing more; given a TLS
context it serves HTTPS, the handshake done in the handler's thread (a client that refuses the
certificate fails there, not in the accepting loop). The handler never prints or logs (least of all a
header), sends each answer without Nagle's delay, ends idle keep-alive connections after a minute, and
has what the faults need: drop the connection, break off with garbage (below TLS) or a reset, trickle
an answer one byte at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import struct
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Self, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

Json = dict[str, Any]
GARBAGE = b"\x00\x15\x03 not an answer \xff\xfe\r\n\r\n"

F = TypeVar("F")


class FakeServer(ThreadingHTTPServer, Generic[F]):
    """Serves ``handler`` for ``fake``; tracks its connections (:meth:`close_connections`)."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[FakeHandler[F]],
        fake: F,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.fake = fake
        self._tls = tls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """A connection; under TLS its handshake is left to the handler's thread (`FakeHandler.setup`)."""
        connection, address = super().get_request()
        if self._tls is not None:
            connection = self._tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return connection, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Ends idle keep-alive connections so that a stopped fake answers nothing more."""
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Silent: aborted and dropped connections are expected here, and nothing may be printed."""


class ServedFake:
    """A fake's life: its server on a thread, ``start()``/``stop()``, a context manager, its ``url``.

    A subclass gives its handler class (``handler``) and calls ``__init__``; ``_stopping`` is set while it
    stops, and wakes whatever waits on it (:meth:`_sleep`, a trickle)."""

    handler: type[FakeHandler[Any]]

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self._address = (host, port)
        self._tls = tls
        self._stopping = threading.Event()
        self._server: FakeServer[Self] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        name = type(self).__name__
        if self._server is not None:
            raise RuntimeError(f"{name} is already running")
        self._stopping.clear()
        self._server = FakeServer(self._address, self.handler, self, self._tls)
        thread_name = "fake-" + name.removeprefix("Fake").lower()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers that are sleeping in a delay or a trickle
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host!s}:{port}"

    def _sleep(self, seconds: float) -> None:
        """Sleep, but not past a stop."""
        if seconds > 0:
            self._stopping.wait(seconds)


class FakeHandler(BaseHTTPRequestHandler, Generic[F]):
    """One connection of a fake. A subclass answers each request in :meth:`respond`."""

    protocol_version = "HTTP/1.1"
    # An answer goes out in two writes (headers, body); without TCP_NODELAY the body waits ~40 ms for
    # the client's delayed ACK on a kept-alive connection: not a zero-latency stand-in.
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections end after this

    @property
    def fake(self) -> F:
        return cast(FakeServer[F], self.server).fake

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the server never prints (least of all a header)."""

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()  # a client that refuses the certificate ends it here
        super().setup()

    def do_GET(self) -> None:
        self.respond()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def respond(self) -> None:
        raise NotImplementedError

    def path_and_query(self) -> tuple[str, dict[str, str]]:
        """The request's path, and its query with the first value of each name (blank ones kept)."""
        split = urlsplit(self.path)
        return split.path, {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}

    def read_body(self) -> bytes:
        """The body's bytes (``Content-Length`` of them); none for an unreadable length, which also ends
        the connection after the answer."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length, self.close_connection = 0, True
        return self.rfile.read(length) if length > 0 else b""

    def request_id(self, reply: Json) -> str:
        """The ``X-Request-Id`` of an answer: a new one each time, unless a subclass says otherwise."""
        return uuid.uuid4().hex

    def answer_headers(self, payload: bytes, reply: Json, headers: dict[str, str]) -> list[tuple[str, str]]:
        return [
            ("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
            ("X-Request-Id", self.request_id(reply)), *headers.items(),
        ]  # fmt: skip

    def send(self, status: int, reply: Json, headers: dict[str, str], raw_body: bytes | None = None) -> None:
        """The answer: ``reply`` as JSON, or ``raw_body`` as it is (with the same headers)."""
        payload = json.dumps(reply).encode() if raw_body is None else raw_body
        try:
            self.send_response(status)
            for name, value in self.answer_headers(payload, reply, headers):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (e.g. its read timeout ran out)
            self.close_connection = True

    def drop(self) -> None:
        """No answer: the connection is shut down."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def break_off(self, how: str) -> None:
        """Instead of the answer: ``"garbage"`` written on the socket itself (below TLS), or a reset."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            if how == "garbage":
                os.write(self.connection.fileno(), GARBAGE)
                self.connection.shutdown(socket.SHUT_RDWR)
            else:  # a close with a zero linger time sends RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()

    def trickle(
        self, stopping: threading.Event, pause: float, status: int, reply: Json, headers: dict[str, str]
    ) -> None:
        """The same answer as :meth:`send`, written one byte at a time, ``pause`` seconds apart. A set
        ``stopping`` ends it at once (and the connection with it)."""
        payload = json.dumps(reply).encode()
        lines = [
            f"{self.protocol_version} {status} {self.responses.get(status, ('',))[0]}",
            f"Server: {self.version_string()}", f"Date: {self.date_time_string()}",
            *(f"{name}: {value}" for name, value in self.answer_headers(payload, reply, headers)),
        ]  # fmt: skip
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
        try:
            for index in range(len(raw)):
                if index and stopping.wait(pause):
                    self.drop()
                    return
                self.wfile.write(raw[index : index + 1])
        except OSError:  # the client gave up
            self.close_connection = True


def serve_until_interrupted(fake: ServedFake, describe: Callable[[], list[str]]) -> None:
    """A fake's command line: start it, print what ``describe`` says of it (running, so with its url),
    and serve until Ctrl-C."""
    with fake:
        print(*describe(), sep="\n", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")
