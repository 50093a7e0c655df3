"""The run's own certificate authority: one CA and leaf certificates for the names clients use (a proxy's
listener, the embedded target with `tls: true`). Keys are written only where the caller says, which is a
scratch directory outside the run directory (as the target's store), so a published report never holds
one; the CA's certificate is all a client needs to trust.

    ca = RunCA.create(scratch / "tls")                     # ca.pem + ca-key.pem (0600)
    leaf = ca.issue(["idp.test", "127.0.0.1"], "proxy")    # proxy.pem + proxy-key.pem, signed by the CA

ECDSA P-256 keys: the cheapest handshakes, which is what a load test pays for on every new connection.
`cryptography` directly rather than trustme (what the tests use) because the product must not depend on
a test library, and because the keys must land in files with owner-only permissions.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY_DAYS = 825  # the longest a server certificate may live for clients that enforce CA/B rules


@dataclass(frozen=True)
class LeafFiles:
    cert: Path  # PEM: the leaf, then the CA (a chain any TLS server can serve as it is)
    key: Path  # PEM, PKCS#8, mode 0600


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


class RunCA:
    """A CA whose certificate and key live in `directory` (ca.pem, ca-key.pem)."""

    def __init__(self, directory: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey):
        self.directory, self.cert, self._key = directory, cert, key

    @property
    def cert_path(self) -> Path:
        return self.directory / "ca.pem"

    @classmethod
    def create(cls, directory: Path, common_name: str = "harness run CA", keep_key: bool = True) -> RunCA:
        """A new CA; its key is written beside its certificate only with `keep_key` (a CA that issues once,
        at creation, needs no key on disk afterwards)."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        ca = cls(directory, cert, key)
        ca.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if keep_key:
            _write_private(directory / "ca-key.pem", _key_pem(key))
        return ca

    @classmethod
    def load(cls, directory: Path) -> RunCA:
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca-key.pem").read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{directory / 'ca-key.pem'} is not an EC key")
        return cls(directory, cert, key)

    def issue(self, names: Iterable[str], stem: str, directory: Path | None = None) -> LeafFiles:
        """A server certificate for `names` (host names and IP addresses) as `<stem>.pem`/`<stem>-key.pem` in
        `directory` (default: the CA's)."""
        given = list(names)
        sans = list(dict.fromkeys(_general_name(n) for n in given))
        if not sans:
            raise ValueError("a certificate needs at least one name")
        first = given[0]
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first[:64])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        where = directory or self.directory
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        files = LeafFiles(where / f"{stem}.pem", where / f"{stem}-key.pem")
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.cert.public_bytes(serialization.Encoding.PEM)
        files.cert.write_bytes(chain)
        _write_private(files.key, _key_pem(key))
        return files
