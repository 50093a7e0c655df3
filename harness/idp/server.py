"""`harness target`: prepare the store once, then serve the app with uvicorn (uvloop + httptools where
installed) in one or more worker processes that share the port (each with a listening socket of its own,
harness.idp.listeners) and the SQLite file.

uvicorn and starlette are imported inside `run` so that other commands never pay for them.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sqlite3
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.contract import Env, seeded_username
from harness.errors import InfrastructureError, InputError
from harness.idp.chaosapi import admin_token_sha256
from harness.idp.config import TargetConfig, default_issuer
from harness.idp.directory import DEFAULT_PUBLIC_CLIENT_ID, seed_directory, seed_from_env
from harness.idp.files import ensure_private
from harness.idp.services import load_keys
from harness.idp.store import Store

if TYPE_CHECKING:  # uvicorn is imported inside `run` (see above)
    from uvicorn import Config

APP_FACTORY = "harness.idp.app:create_app_from_env"
# uvicorn's httptools protocol plus the head limits and timeouts it lacks (protocol.py)
HTTP_PROTOCOL = "harness.idp.protocol:GuardedHttpToolsProtocol"
GRACEFUL_SHUTDOWN_S = 10
# With TLS, a connection its client closed without close_notify keeps uvicorn's graceful shutdown waiting
# for the whole timeout (seen with uvicorn 0.54, both loops and both HTTP parsers); a short one bounds it.
GRACEFUL_SHUTDOWN_TLS_S = 2
_VERBOSE_LEVELS = {"trace", "debug", "info"}


class DropQueryString(logging.Filter):
    """Cut the query string from uvicorn access log lines: a misbehaving client may put a secret there,
    and later faces take codes and states in URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].partition("?")[0], *args[3:])
        return True


def config_from_args(args: argparse.Namespace) -> TargetConfig:
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1 (got {args.workers})")
    if args.max_inflight < 1:
        raise InputError(f"--max-inflight must be at least 1 (got {args.max_inflight})")
    for name in ("seed_users", "device_interval_s"):
        if getattr(args, name) < 0:
            raise InputError(f"--{name.replace('_', '-')} must not be negative")
    for name in ("access_token_ttl_s", "device_expires_s"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("header_timeout_s", "body_timeout_s"):
        if not getattr(args, name) > 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive")
    if args.rate_limit_per_client is not None and args.rate_limit_per_client <= 0:
        raise InputError("--rate-limit-per-client must be positive")
    admin = os.environ.get(Env.TARGET_ADMIN_TOKEN)
    scheme = "https" if args.tls else "http"
    return TargetConfig(
        db_path=os.path.abspath(args.db),
        issuer=args.issuer or default_issuer(args.host, args.port, scheme=scheme),
        signing_alg=args.signing_alg,
        audit_log=os.path.abspath(args.audit_log) if args.audit_log else None,
        request_log=os.path.abspath(args.request_log) if args.request_log else None,
        max_inflight=args.max_inflight,
        access_token_ttl_s=args.access_token_ttl_s,
        device_interval_s=args.device_interval_s,
        device_expires_s=args.device_expires_s,
        rate_limit_per_client=args.rate_limit_per_client,
        admin_token_sha256=admin_token_sha256(admin) if admin else None,
        tls=bool(args.tls),
        header_timeout_s=args.header_timeout_s,
        body_timeout_s=args.body_timeout_s,
    )


def prepare(config: TargetConfig, environ: MutableMapping[str, str], *, seed_users: int = 0) -> str | None:
    """Create schema and signing keys and seed clients and directory, once, before any worker starts;
    return the seeded client id. Workers then only open the store. The client secrets and the admin token
    leave `environ` afterwards so that worker processes never hold them (workers get the token's hash)."""
    store = Store(config.db_path)
    try:
        store.initialize()
        load_keys(store, config)
        client_id = seed_from_env(store, environ)
        seed_directory(store, seed_users)
    except sqlite3.Error as exc:
        raise InfrastructureError(f"target store {config.db_path}: {exc}") from exc
    finally:
        store.close()
        environ.pop(Env.CLIENT_SECRET, None)
        environ.pop(Env.RESOURCE_SERVER_SECRET, None)
        environ.pop(Env.TARGET_ADMIN_TOKEN, None)
    for what, log_path in (("audit log", config.audit_log), ("request log", config.request_log)):
        if log_path:
            try:
                ensure_private(log_path)  # before any worker opens it: created 0600, whatever the umask
            except OSError as exc:
                raise InfrastructureError(f"{what} {log_path}: {exc}") from exc
    return client_id


def startup_lines(
    config: TargetConfig, args: argparse.Namespace, client_id: str | None, public_id: str, api_id: str | None = None
) -> list[str]:
    """What `harness target` says when it starts: where it listens, and how a client gets credentials
    (never a secret: the confidential client's secret is the one its caller put in the environment)."""
    scheme = "https" if config.tls else "http"
    host = f"[{args.host}]" if ":" in args.host else args.host
    lines = [
        f"harness target: listening on {scheme}://{host}:{args.port} ({args.workers} worker(s)); issuer "
        f"{config.issuer}, discovery at {config.issuer}/.well-known/openid-configuration",
        f"harness target: public client {public_id!r} (no secret: authorization code with PKCE, device flow)",
    ]
    if client_id:
        lines.append(f"harness target: confidential client {client_id!r} with the secret given in "
                     f"${Env.CLIENT_SECRET} (client_credentials, and every user grant)")  # fmt: skip
    else:
        lines.append(f"harness target: no confidential client: set {Env.CLIENT_ID} and {Env.CLIENT_SECRET} "
                     "before starting to seed one (client_credentials needs it)")  # fmt: skip
    if api_id:
        lines.append(f"harness target: resource server {api_id!r} (token introspection) with the secret given in "
                     f"${Env.RESOURCE_SERVER_SECRET}")  # fmt: skip
    if args.seed_users:
        first, last = seeded_username(1, args.seed_users), seeded_username(args.seed_users, args.seed_users)
        lines.append(f"harness target: users {first}..{last}, each with the password pw-<username>")
    return lines


def log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg.setdefault("filters", {})["drop_query"] = {"()": f"{__name__}.DropQueryString"}
    cfg["handlers"]["access"]["filters"] = ["drop_query"]
    return cfg


def serve_workers(config: Config, args: argparse.Namespace) -> None:
    """uvicorn's supervisor over `config.workers` workers, each listening on a socket of its own
    (harness.idp.listeners). Returns when the supervisor stops; a worker that could not start stops it."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from harness.idp.listeners import Reservation

    try:
        reservation = Reservation(args.host, args.port)
    except OSError as exc:
        raise InfrastructureError(f"target did not start on {args.host}:{args.port}: {exc}") from None
    with reservation:
        supervisor = Multiprocess(config, sockets=[reservation])
        supervisor.run()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise InfrastructureError(f"target did not start on {args.host}:{args.port} (see log)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    config = config_from_args(args)
    public_id = os.environ.get(Env.PUBLIC_CLIENT_ID) or DEFAULT_PUBLIC_CLIENT_ID
    api_id = os.environ.get(Env.RESOURCE_SERVER_ID) if os.environ.get(Env.RESOURCE_SERVER_SECRET) else None
    client_id = prepare(config, os.environ, seed_users=args.seed_users)
    os.environ.update(config.to_env())  # read by create_app_from_env in every worker
    level = str(args.log_level).lower()
    tls: dict[str, str] = {}
    if args.tls:
        from harness.idp.tls import ensure_tls_files

        tls_dir = Path(args.tls_dir) if args.tls_dir else Path(config.db_path).parent / "harness-target-tls"
        files = ensure_tls_files(tls_dir, args.host)
        tls = {"ssl_certfile": str(files.server_cert), "ssl_keyfile": str(files.server_key)}
        print(f"harness target: TLS CA certificate at {files.ca_cert}", file=sys.stderr, flush=True)
    for line in startup_lines(config, args, client_id, public_id, api_id):
        print(line, file=sys.stderr, flush=True)
    settings: dict[str, Any] = dict(
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="auto",  # uvloop when installed
        http=HTTP_PROTOCOL,  # httptools (a dependency) with our limits
        log_level=level,
        log_config=log_config(),
        access_log=level in _VERBOSE_LEVELS,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_TLS_S if args.tls else GRACEFUL_SHUTDOWN_S,
        **tls,
    )
    if args.workers > 1:
        serve_workers(uvicorn.Config(APP_FACTORY, **settings), args)
        return 0
    try:
        uvicorn.run(APP_FACTORY, **settings)
    except SystemExit as exc:  # uvicorn exits when it cannot bind or the app fails to start
        if exc.code not in (0, None):
            raise InfrastructureError(f"target did not start on {args.host}:{args.port} (see log)") from None
    return 0
