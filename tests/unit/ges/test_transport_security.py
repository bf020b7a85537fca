"""How the function talks to GES: TLS verification always on, no redirects followed, only the token
header, and the endpoint only from GES_ENDPOINT (https, or http for a loopback host)."""

from __future__ import annotations

import ast
import io
import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.adapters import BaseAdapter
from urllib3.util import parse_url

from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import ConfigurationError, GesRefused
from ges_backup_export.core.message_format import ExportIdentity
from ges_backup_export.export.settings import Settings
from ges_backup_export.ges.client import GesClient
from ges_backup_export.ges.http import BoundedSession
from tests import reliability
from tests.tokens import STATIC_TOKEN, StaticTokens

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted([*(ROOT / "layers").rglob("*.py"), *(ROOT / "functions").rglob("*.py")])
ENDPOINT = "https://ges.cn-north-4.myhuaweicloud.com"
IDENTITY = ExportIdentity("0a1b2c3d", "movies", "b-1", "ges-backups/movies/")
# What requests itself sends, besides the token; anything else would have come from somewhere else.
REQUESTS_HEADERS = {"user-agent", "accept-encoding", "accept", "connection", "content-length", "content-type"}


class RecordingAdapter(BaseAdapter):
    """The transport under a real requests.Session: records what would be sent, answers `status`."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.status = status
        self.headers = headers or {}
        self.sent: list[tuple[requests.PreparedRequest, dict[str, Any]]] = []

    def send(  # type: ignore[override] # records whatever requests passes, by name
        self, request: requests.PreparedRequest, **options: Any
    ) -> requests.Response:
        self.sent.append((request, options))
        response = requests.Response()
        response.status_code = self.status
        response.headers.update({"Content-Type": "application/json", **self.headers})
        response.raw = io.BytesIO(b'{"job_id": "ff8080815f9a3c84015f9a438ff70001"}')
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to close."""


def client_with(adapter: RecordingAdapter) -> GesClient:
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return GesClient(ENDPOINT, StaticTokens(), timeout=1.0, max_attempts=1, http=BoundedSession(session))


# --- TLS -----------------------------------------------------------------------------------------------


def test_the_default_session_verifies_tls() -> None:
    client = GesClient(ENDPOINT, StaticTokens(), timeout=1.0, max_attempts=1)

    assert client._http.session.verify is True


@pytest.mark.parametrize("empty", [None, "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_every_request_is_sent_with_tls_verification(
    monkeypatch: pytest.MonkeyPatch, empty: str | None
) -> None:
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)
    if empty:
        monkeypatch.setenv(empty, "")  # an empty CA bundle variable must not turn verification off
    adapter = RecordingAdapter()

    client_with(adapter).export_backup(IDENTITY, Deadline(at=None))

    [(_, options)] = adapter.sent
    assert options["verify"] is True


def test_a_ca_bundle_from_the_environment_still_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    adapter = RecordingAdapter()

    client_with(adapter).export_backup(IDENTITY, Deadline(at=None))

    [(_, options)] = adapter.sent
    assert options["verify"] == "/etc/ssl/certs/ca-certificates.crt"  # verified against that bundle


def _verification_switched_off(node: ast.AST) -> str | None:
    """What in `node` turns TLS verification or its warnings off, if anything."""
    if (
        isinstance(node, ast.keyword)
        and node.arg == "verify"
        and not (isinstance(node.value, ast.Constant) and node.value.value is True)
    ):
        return f"verify={ast.unparse(node.value)}"
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr in (
                "verify",
                "check_hostname",
                "verify_mode",
            ):
                return f"assignment to .{target.attr}"
    if isinstance(node, ast.Attribute) and node.attr in (
        "disable_warnings",
        "InsecureRequestWarning",
        "CERT_NONE",
        "_create_unverified_context",
    ):
        return node.attr
    if isinstance(node, ast.Name) and node.id in ("disable_warnings", "InsecureRequestWarning", "CERT_NONE"):
        return node.id
    return None


def test_no_source_turns_tls_verification_or_its_warnings_off() -> None:
    assert any(path.name == "client.py" and path.parent.name == "ges" for path in SOURCES)
    found = []
    for path in SOURCES:
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if problem := _verification_switched_off(node):
                found.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}: {problem}")
        for pattern in (r"verify\s*=\s*False", r"PYTHONHTTPSVERIFY", r"disable_warnings", r"CERT_NONE"):
            found += [f"{path.relative_to(ROOT)}: {pattern}" for _ in re.finditer(pattern, text)]
    assert found == []


def test_the_scan_finds_what_it_looks_for() -> None:
    samples = [
        "requests.get(url, verify=False)",
        "session.verify = False",
        "s.request('GET', url, verify=flag)",
        "urllib3.disable_warnings()",
        "requests.packages.urllib3.disable_warnings(InsecureRequestWarning)",
        "context.check_hostname = False",
        "context.verify_mode = ssl.CERT_NONE",
        "ssl._create_unverified_context()",
    ]
    for sample in samples:
        assert any(_verification_switched_off(node) for node in ast.walk(ast.parse(sample))), sample


# --- where a request goes, and with which headers ----------------------------------------------------------


def test_a_redirect_from_ges_is_not_followed() -> None:
    adapter = RecordingAdapter(status=307, headers={"Location": "https://evil.example/steal"})

    with pytest.raises(GesRefused):
        client_with(adapter).export_backup(IDENTITY, Deadline(at=None))

    assert [request.url for request, _ in adapter.sent] == [
        f"{ENDPOINT}/v2/0a1b2c3d/graphs/movies/backups/export"
    ]


def test_a_request_carries_the_token_and_nothing_but_what_requests_adds() -> None:
    adapter = RecordingAdapter()

    client_with(adapter).export_backup(IDENTITY, Deadline(at=None))

    [(request, _)] = adapter.sent
    names = {name.lower() for name in request.headers}
    assert "x-auth-token" in names
    assert names - {"x-auth-token"} <= REQUESTS_HEADERS
    assert request.headers["X-Auth-Token"] == STATIC_TOKEN


def _nodes(path: Path) -> list[ast.AST]:
    return list(ast.walk(ast.parse(path.read_text())))


def test_the_endpoint_comes_only_from_the_settings() -> None:
    """GES_ENDPOINT is read by the settings alone, handed to GesClient by the two builders alone
    (ges/connect.py, for the functions that read the token secret, and the rotation's runtime), and kept by
    GesClient as it was given: no request, event or answer can change where a request goes."""
    layer = ROOT / "layers/ges_backup_export"
    read_by = {
        str(path.relative_to(layer))
        for path in SOURCES
        for node in _nodes(path)
        if getattr(node, "value", None) == "GES_ENDPOINT"
    }
    assert read_by == {"core/settings.py", "rotation/settings.py"}
    used_by = {
        str(path.relative_to(layer))
        for path in SOURCES
        for node in _nodes(path)
        if isinstance(node, ast.Attribute) and node.attr == "ges_endpoint"
    }
    assert used_by == {"ges/connect.py", "rotation/runtime.py"}
    for runtime in used_by:
        [built] = [
            node
            for node in _nodes(layer / runtime)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "GesClient"
        ]
        assert ast.unparse(built.args[0]) == "settings.ges_endpoint"
    assignments = [
        ast.unparse(node)
        for node in _nodes(ROOT / "layers/ges_backup_export/ges/calls.py")
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign)
        and "_endpoint" in ast.unparse(node.targets[0] if isinstance(node, ast.Assign) else node.target)
    ]
    assert assignments == ["self._endpoint = endpoint"]  # in __init__, from its argument


# --- GES_ENDPOINT ----------------------------------------------------------------------------------------


def endpoint(raw: str) -> str:
    return Settings.from_env(
        {
            "GES_ENDPOINT": raw,
            "GES_TOKEN_SECRET_ID": "ges/token",
            "IDEMPOTENCY_TABLE_NAME": "table",
            "DOWNSTREAM_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/downstream",
        }
    ).ges_endpoint


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.2", "http://127.0.0.2"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://[::1]", "http://[::1]"),
        ("http://[0:0:0:0:0:0:0:1]:8080", "http://[0:0:0:0:0:0:0:1]:8080"),
        ("https://evil-but-https.example", "https://evil-but-https.example"),
    ],
)
def test_a_loopback_http_or_any_https_endpoint_is_accepted(raw: str, expected: str) -> None:
    assert endpoint(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "http://127.0.0.1.evil.com",
        "http://127.0.0.1.nip.io",
        "http://localhost.evil",
        "http://localhost.",
        "http://localhost.localdomain.evil.com",
        "http://evil.localhost",
        "http://0x7f.0.0.1",
        "http://0177.0.0.1",
        "http://2130706433",
        "http://127.1",
        "http://[::1].evil.com",
        "http://[::1]evil.com",
        "http://[::1%25eth0]",
        "http://127.0.0.1\\.evil.com",
        "http://127.0.0.1%2f.evil.com",
        "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54",  # fullwidth "localhost"
        "http://l\u043ecalhost",  # Cyrillic o
        "http://127.0.0.1:8080/../evil",
        "http://127.0.0.1?host=evil.com",
        "http://127.0.0.1#@evil.com",
        "http://127.0.0.1@evil.com",
        "http://localhost:80@evil.com",
        "http://evil.com\\@127.0.0.1",
        "https://ges@evil.example",
        "https://ges:secret@evil.example",
        "HTTP://evil.example",
        "http:evil.example",
        "http:/evil.example",
        "http:///evil.example",
        "//evil.example",
        "ws://127.0.0.1",
        "https://ges.example:443:80",
        "https://ges.example:0",  # requests would drop it and connect to 443
        "http://localhost:08080",
    ],
)
def test_a_tricky_endpoint_is_refused_by_name(raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        endpoint(raw)

    assert caught.value.message.startswith("GES_ENDPOINT ")
    assert "secret" not in caught.value.message


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


HOSTS = st.one_of(
    st.sampled_from(
        (
            "localhost", "LocalHost", "127.0.0.1", "127.9.9.9", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0",  # noqa: S104
            "[::]", "10.0.0.1", "ges.cn-north-4.myhuaweicloud.com", "evil.example", "localhost.evil",
            "127.0.0.1.evil", "[::1].evil", "[::1", "::1", "0x7f000001", "127.1", "",
        )
    ),
    st.text(alphabet="abcl0127.:[]-%@\\/#?x\uff0e\u3002", max_size=16),
)  # fmt: skip
ENDPOINTS = st.builds(
    lambda scheme, userinfo, host, port, rest: f"{scheme}{userinfo}{host}{port}{rest}",
    st.sampled_from(("https://", "http://", "HTTP://", "http:", "http:/", "//", "ftp://", "")),
    st.sampled_from(("", "", "", "user@", "user:pw@", "127.0.0.1@", "@")),
    HOSTS,
    st.sampled_from(("", "", ":8080", ":0", ":99999", ":", ":80:80", ":8o")),
    st.sampled_from(("", "", "/", "//", "/v2", "?a=b", "#x", "/..", "\\evil.com", ".evil.com", "\t", "\n")),
)


@settings(derandomize=True, deadline=None, max_examples=150)
@given(ENDPOINTS)
def test_any_endpoint_is_refused_or_sends_only_to_https_or_a_loopback_host(raw: str) -> None:
    reliability.add("bad_inputs")
    refusal: str | None
    try:
        accepted = endpoint(raw)
    except ConfigurationError as error:
        refusal = error.message
    else:
        refusal = None
    if refusal is not None:
        assert refusal.startswith("GES_ENDPOINT ")
        return
    # What requests (urllib3) makes of it, with a path appended as the client does.
    sent = parse_url(requests.Request("POST", accepted + "/v2/p/graphs/g/backups/export").prepare().url or "")
    assert sent.scheme in ("https", "http")
    assert sent.auth is None
    assert (sent.path, sent.query, sent.fragment) == ("/v2/p/graphs/g/backups/export", None, None)
    assert accepted.lower() == f"{sent.scheme}://{sent.netloc}".lower()
    if sent.scheme == "http":
        assert _is_loopback(sent.host or ""), accepted
