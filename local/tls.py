"""TLS for the local stand-ins: a certificate authority made on the fly (trustme), a server context for
the fake GES, and the CA bundle a client must be told to trust (REQUESTS_CA_BUNDLE), so that tests talk
HTTPS to a stand-in with certificate verification on, as the function does in AWS."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

HOST = "127.0.0.1"


@dataclass(frozen=True)
class LocalTls:
    server: ssl.SSLContext
    ca_bundle: str  # the CA certificate's PEM file: REQUESTS_CA_BUNDLE for a client that trusts it


def local_tls(folder: Path) -> LocalTls:
    """A new CA, a certificate for HOST signed by it, and the CA's PEM file written into `folder`."""
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(HOST).configure_cert(server)
    bundle = folder / "local-ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    return LocalTls(server, str(bundle))
