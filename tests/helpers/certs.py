"""Test certificates made with the ``openssl`` CLI: a CA, a server cert for 127.0.0.1/localhost,
a client cert, and a second, unrelated CA (with its own server cert) for "wrong CA" tests.

EC P-256 keys keep generation fast; the extensions (SAN, key usage, AKI/SKI) satisfy strict
verifiers such as Python's ``ssl`` with ``VERIFY_X509_STRICT`` as well as gRPC.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
_KEY_ARGS = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
_CA_EXT = [
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    "-addext", "subjectKeyIdentifier=hash",
]
_LEAF_EXT = """\
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage={usage}
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
{san}
"""


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class CertSet:
    """Paths of PEM files; ``server`` is signed by ``ca`` and valid for 127.0.0.1, ::1 and localhost."""

    ca: CertPair
    server: CertPair
    client: CertPair
    other_ca: CertPair  # unrelated to ``ca``: trusting it must fail against ``server``
    other_server: CertPair  # same names as ``server`` but signed by ``other_ca``

    @property
    def ca_cert(self) -> Path:
        return self.ca.cert

    @property
    def server_cert(self) -> Path:
        return self.server.cert

    @property
    def server_key(self) -> Path:
        return self.server.key

    @property
    def client_cert(self) -> Path:
        return self.client.cert

    @property
    def client_key(self) -> Path:
        return self.client.key

    @property
    def other_ca_cert(self) -> Path:
        return self.other_ca.cert


def make_certs(directory: Path) -> CertSet:
    """Create every certificate under ``directory`` (which must exist)."""
    ca = _make_ca(directory, "ca", "remsvc-console test CA")
    other_ca = _make_ca(directory, "other-ca", "unrelated test CA")
    san = "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"
    return CertSet(
        ca=ca,
        server=_make_leaf(directory, "server", "localhost", ca, "serverAuth", san),
        client=_make_leaf(directory, "client", "remsvc-console test client", ca, "clientAuth", ""),
        other_ca=other_ca,
        other_server=_make_leaf(directory, "other-server", "localhost", other_ca, "serverAuth", san),
    )


def _make_ca(directory: Path, name: str, subject: str) -> CertPair:
    pair = CertPair(directory / f"{name}.pem", directory / f"{name}.key")
    _openssl("req", "-x509", *_KEY_ARGS, "-keyout", pair.key, "-out", pair.cert, "-days", "3650",
             "-subj", f"/CN={subject}", *_CA_EXT)
    return pair


def _make_leaf(directory: Path, name: str, common_name: str, issuer: CertPair, usage: str, san: str) -> CertPair:
    pair = CertPair(directory / f"{name}.pem", directory / f"{name}.key")
    csr = directory / f"{name}.csr"
    ext = directory / f"{name}.ext"
    ext.write_text(_LEAF_EXT.format(usage=usage, san=san))
    _openssl("req", "-new", *_KEY_ARGS, "-keyout", pair.key, "-out", csr, "-subj", f"/CN={common_name}")
    _openssl("x509", "-req", "-in", csr, "-CA", issuer.cert, "-CAkey", issuer.key, "-CAcreateserial",
             "-out", pair.cert, "-days", "825", "-sha256", "-extfile", ext)
    return pair


def _openssl(*args: object) -> None:
    result = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")
