"""`harness target`: prepare the store once, then serve the app with uvicorn (uvloop + httptools where
installed) in one or more worker processes that share the listener and the SQLite file.

uvicorn and starlette are imported inside `run` so that other commands never pay for them.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sqlite3
from collections.abc import MutableMapping
from typing import Any

from harness.errors import InfrastructureError, InputError
from harness.target.config import TargetConfig, default_issuer
from harness.target.directory import CLIENT_SECRET_ENV, seed_from_env
from harness.target.keys import KeyRing
from harness.target.store import Store

APP_FACTORY = "harness.target.app:create_app_from_env"
GRACEFUL_SHUTDOWN_S = 10
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
    return TargetConfig(
        db_path=os.path.abspath(args.db),
        issuer=args.issuer or default_issuer(args.host, args.port),
        signing_alg=args.signing_alg,
        audit_log=os.path.abspath(args.audit_log) if args.audit_log else None,
        max_inflight=args.max_inflight,
    )


def prepare(config: TargetConfig, environ: MutableMapping[str, str]) -> str | None:
    """Create schema and signing key and seed the client, once, before any worker starts; return the
    seeded client id. Workers then only open the store. The secret leaves `environ` afterwards so that
    worker processes never hold it."""
    store = Store(config.db_path)
    try:
        store.initialize()
        KeyRing.load(store, config.signing_alg)
        client_id = seed_from_env(store, environ)
    except sqlite3.Error as exc:
        raise InfrastructureError(f"target store {config.db_path}: {exc}") from exc
    finally:
        store.close()
        environ.pop(CLIENT_SECRET_ENV, None)
    if config.audit_log:
        try:
            with open(config.audit_log, "ab"):
                pass
        except OSError as exc:
            raise InfrastructureError(f"audit log {config.audit_log}: {exc}") from exc
    return client_id


def log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg.setdefault("filters", {})["drop_query"] = {"()": f"{__name__}.DropQueryString"}
    cfg["handlers"]["access"]["filters"] = ["drop_query"]
    return cfg


def run(args: argparse.Namespace) -> int:
    import uvicorn

    config = config_from_args(args)
    prepare(config, os.environ)
    os.environ.update(config.to_env())  # read by create_app_from_env in every worker
    level = str(args.log_level).lower()
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            loop="auto",  # uvloop when installed
            http="auto",  # httptools when installed
            log_level=level,
            log_config=log_config(),
            access_log=level in _VERBOSE_LEVELS,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
    except SystemExit as exc:  # uvicorn exits when it cannot bind or the app fails to start
        if exc.code not in (0, None):
            raise InfrastructureError(f"target did not start on {args.host}:{args.port} (see log)") from None
    return 0
