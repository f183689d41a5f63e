"""A throwaway certificate authority and a server certificate for 127.0.0.1, made with the
`openssl` command, so the TLS paths (imaps://, STARTTLS, smtps://) run against real servers
with real certificate verification.

Clients trust the CA through the SSL_CERT_FILE environment variable, which OpenSSL's default
verify paths (and so `ssl.create_default_context()`) read each time a context is made.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass

_NOT_INSTALLED = "openssl is not installed: apt-get install openssl (or run .ci/run)"


@dataclass(frozen=True)
class TlsFiles:
    ca: str  # PEM: the CA certificate clients must trust
    cert: str  # PEM: the server certificate (CN=localhost, IP:127.0.0.1, DNS:localhost)
    key: str  # PEM: its private key

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_tls_files(directory: str) -> TlsFiles:
    """Create ca.pem, server.pem and server.key in `directory` (readable by everyone: Dovecot
    reads them as root, but the directory may be shared with unprivileged processes)."""
    if shutil.which("openssl") is None:
        raise RuntimeError(_NOT_INSTALLED)
    os.makedirs(directory, exist_ok=True)
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=complaintd test CA",
        "-keyout", path("ca.key"), "-out", path("ca.pem"),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", path("server.key"), "-out", path("server.csr"),
    )
    with open(path("server.ext"), "w") as f:
        f.write(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            "authorityKeyIdentifier=keyid\n"
            "subjectKeyIdentifier=hash\n"
        )
    _openssl(
        "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
        "-CAcreateserial", "-days", "2", "-extfile", path("server.ext"), "-out", path("server.pem"),
    )
    return TlsFiles(ca=path("ca.pem"), cert=path("server.pem"), key=path("server.key"))


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")
