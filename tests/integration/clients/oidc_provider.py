"""node `oidc-provider` (panva, v9, OpenID certified) on loopback, started from
tests/fixtures/oidc_provider/server.mjs: the independent provider the external-target tests run against.

tests/fixtures/oidc_provider/install.sh (`make test` runs it) fills a cache outside the repository with
oidc-provider and links DIR/bin/node to a node it runs on (20 or later). Anything missing is a failure
that says what to run, never a skip: a test that cannot run has not passed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.helpers import LOOPBACK, free_port, running_process

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "oidc_provider"
SERVER = FIXTURE / "server.mjs"
DEFAULT_DIR = Path.home() / ".cache" / "harness-bench" / "oidc-provider"
# Quiet, the provider answers 0.4 s after node starts. `make test` once saw one still silent after 20 s, with the
# machine's two cores shared by both test workers (its log ended before key generation was done): a slow
# start is not what these tests are about, so it gets a minute; a process that dies still fails at once.
READY_S = 60.0
INSTALL_HINT = "run `make oidc-provider` (tests/fixtures/oidc_provider/install.sh; `make test` runs it too)"
MIN_NODE_MAJOR = 20  # oidc-provider 9 uses the global WebCrypto


@dataclass(frozen=True)
class OidcProvider:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    username: str = "alice.tester"
    password: str = field(default="", repr=False)
    redirect_uri: str = "http://127.0.0.1/callback"
    resource: str = "urn:harness:api"
    version: str = "?"


def node_and_package() -> tuple[str, Path, str]:
    """(node executable, oidc-provider install dir, its version), or a test failure saying what to do."""
    where = Path(os.environ.get("OIDC_PROVIDER_DIR", DEFAULT_DIR)).expanduser()
    linked = where / "bin" / "node"
    node = str(linked) if linked.exists() else shutil.which("node")
    if node is None:
        pytest.fail(f"node is not installed: the external-provider tests need it (Debian: apt-get install nodejs "
                    f"npm; .ci/run does this as root), then {INSTALL_HINT}", pytrace=False)
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if not version.startswith("v") or int(version[1:].split(".")[0]) < MIN_NODE_MAJOR:
        pytest.fail(f"{node} is node {version or '?'}; oidc-provider 9 needs {MIN_NODE_MAJOR} or later: "
                    f"{INSTALL_HINT}, which installs node 22 beside it", pytrace=False)
    package = where / "node_modules" / "oidc-provider" / "package.json"
    if not package.exists():
        pytest.fail(f"oidc-provider is not installed in {where}: {INSTALL_HINT}", pytrace=False)
    return node, where, str(json.loads(package.read_text())["version"])


@dataclass(frozen=True)
class ProviderTls:
    """Serve https for `host` (reached at 127.0.0.1, as `target.resolve` says) with a certificate from a
    test CA (trustme): `ca_file` is what clients must trust."""

    host: str
    cert_file: str
    key_file: str
    ca_file: str

    @classmethod
    def for_host(cls, host: str, directory: Path) -> ProviderTls:
        import trustme

        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        leaf = ca.issue_cert(host)
        files = cls(host, str(directory / "idp.pem"), str(directory / "idp-key.pem"), str(directory / "idp-ca.pem"))
        leaf.private_key_pem.write_to_path(files.key_file)
        with open(files.cert_file, "wb") as chain:
            for pem in leaf.cert_chain_pems:
                chain.write(pem.bytes())
        ca.cert_pem.write_to_path(files.ca_file)
        return files


def _wait_https(issuer: str, tls: ProviderTls, process: subprocess.Popen[bytes], timeout_s: float = READY_S) -> None:
    """Discovery answers over TLS, at 127.0.0.1 under the provider's name (polling, never a fixed sleep)."""
    from harness.clients.transport import OriginMap, make_session

    deadline = time.monotonic() + timeout_s
    with make_session(origins=OriginMap(resolve={tls.host: LOOPBACK}, ca_bundle=tls.ca_file)) as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited ({process.returncode}) before it was ready")
            try:
                if session.get(f"{issuer}/.well-known/openid-configuration", timeout=1.0).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
    raise TimeoutError(f"{issuer} not ready after {timeout_s} s")


def _signing_keys(where: Path) -> Path:
    """The provider's signing keys as private JWKs in a 0600 file, made here rather than by node: twice a
    `make test` saw node's start stall inside its own key generation (its log ended before "signing keys
    generated"; the second time for over a minute, with both test workers busy)."""
    keys = [
        {**RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048), as_dict=True), "kid": "it-rs256", "alg": "RS256"},
        {**ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()), as_dict=True), "kid": "it-es256",
         "alg": "ES256"},
    ]  # fmt: skip
    for key in keys:
        key.pop("key_ops", None)  # `use` says it, and a JWK should not carry both (RFC 7517 section 4.3)
        key["use"] = "sig"
    where.mkdir(parents=True, exist_ok=True)
    path = where / "signing-keys.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(keys, out)
    return path


@contextlib.contextmanager
def start_oidc_provider(log_dir: Path, *, device_interval_s: int | None = 1,
                        client_secret: str = "it-Ext-Secret-q8Vw3nZr5T",
                        password: str = "pw-Ext-Alice-4kDm9xQe", tls: ProviderTls | None = None,
                        userinfo_url: str | None = None, users_file: Path | None = None) -> Iterator[OidcProvider]:
    node, where, version = node_and_package()
    port = free_port()
    issuer = f"https://{tls.host}:{port}" if tls is not None else f"http://{LOOPBACK}:{port}"
    provider = OidcProvider(issuer, "it-external", client_secret, password=password, version=version)
    env = {
        "OIDC_PROVIDER_DIR": str(where),
        "OIDC_CLIENT_ID": provider.client_id,
        "OIDC_CLIENT_SECRET": provider.client_secret,
        "OIDC_USERNAME": provider.username,
        "OIDC_PASSWORD": provider.password,
        "OIDC_REDIRECT_URI": provider.redirect_uri,
        "OIDC_RESOURCE": provider.resource,
        "OIDC_SIGNING_KEYS": str(_signing_keys(log_dir.with_name(f"{log_dir.name}-keys"))),
    }
    if device_interval_s is not None:
        env["OIDC_DEVICE_INTERVAL_S"] = str(device_interval_s)
    if tls is not None:
        env |= {"OIDC_TLS_CERT": tls.cert_file, "OIDC_TLS_KEY": tls.key_file, "OIDC_ISSUER": issuer}
    if userinfo_url is not None:
        env["OIDC_USERINFO_URL"] = userinfo_url
    if users_file is not None:
        env["OIDC_USERS_FILE"] = str(users_file)
    ready = None if tls is not None else f"{provider.issuer}/.well-known/openid-configuration"
    with running_process([node, str(SERVER), str(port)], log_dir=log_dir, name="oidc-provider", env=env,
                         ready_url=ready, ready_timeout_s=READY_S) as process:
        if tls is not None:
            _wait_https(issuer, tls, process)
        yield provider
