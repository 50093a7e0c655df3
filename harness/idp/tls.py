"""`--tls`: a CA and a server certificate for loopback and the given host, made once and kept (so clients
that trust the CA keep trusting it across restarts). Clients trust `ca.pem` (requests: `verify=<path>`,
boto3: `verify=<path>` or AWS_CA_BUNDLE); the path is printed at start. `harness run` with
`target: {tls: true}` writes these files itself, from the run's CA, before the target starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.tlsca import RunCA


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def tls_files(directory: Path) -> TlsFiles:
    return TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")


def ensure_tls_files(directory: Path, host: str) -> TlsFiles:
    files = tls_files(directory)
    if files.ca_cert.exists() and files.server_cert.exists() and files.server_key.exists():
        return files
    ca = RunCA.create(directory, "harness target test CA", keep_key=False)  # issues once: no key kept
    ca.issue(["localhost", "127.0.0.1", host], "server")
    return files
