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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import LOOPBACK, free_port, running_process

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "oidc_provider"
SERVER = FIXTURE / "server.mjs"
DEFAULT_DIR = Path.home() / ".cache" / "harness-bench" / "oidc-provider"
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


@contextlib.contextmanager
def start_oidc_provider(log_dir: Path, *, device_interval_s: int | None = 1,
                        client_secret: str = "it-Ext-Secret-q8Vw3nZr5T",
                        password: str = "pw-Ext-Alice-4kDm9xQe") -> Iterator[OidcProvider]:
    node, where, version = node_and_package()
    port = free_port()
    provider = OidcProvider(f"http://{LOOPBACK}:{port}", "it-external", client_secret, password=password,
                            version=version)
    env = {
        "OIDC_PROVIDER_DIR": str(where),
        "OIDC_CLIENT_ID": provider.client_id,
        "OIDC_CLIENT_SECRET": provider.client_secret,
        "OIDC_USERNAME": provider.username,
        "OIDC_PASSWORD": provider.password,
        "OIDC_REDIRECT_URI": provider.redirect_uri,
        "OIDC_RESOURCE": provider.resource,
    }
    if device_interval_s is not None:
        env["OIDC_DEVICE_INTERVAL_S"] = str(device_interval_s)
    with running_process([node, str(SERVER), str(port)], log_dir=log_dir, name="oidc-provider", env=env,
                         ready_url=f"{provider.issuer}/.well-known/openid-configuration"):
        yield provider
