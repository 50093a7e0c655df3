"""`harness` command line: arguments in, one call out. Heavy modules are imported only by the command
that needs them, so `harness validate` answers in a fraction of a second and never imports gevent."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from harness.errors import EXIT_ABORTED, EXIT_BAD_INPUT, HarnessError, InputError, ScenarioWarning

if TYPE_CHECKING:
    from harness.run.console import Console

Handler = Callable[[argparse.Namespace], int]
HarnessUsage = InputError  # a usage error of ours (exit 2), beside argparse's own


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.errors import ScenarioError
    from harness.scenario import load_scenario

    failed = False
    for path in args.scenarios:
        try:
            scenario = load_scenario(path, args.set)
        except ScenarioError as exc:
            failed = True
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            continue
        print(f"{path}: ok ({scenario.name}, {len(scenario.phases)} phases, {scenario.duration_s:g} s)")
    return EXIT_BAD_INPUT if failed else 0


def _cmd_scenarios(args: argparse.Namespace) -> int:
    from harness.scenario.catalog import listing, shipped_scenarios

    if args.plugins:
        return _list_plugins()
    for line in listing(shipped_scenarios()):
        print(line)
    return 0


def _list_plugins() -> int:
    """Every flow, fault, probe and metric registered (ours and plugins'), and any that does not load."""
    from harness import plugins
    from harness.scenario.judging import BUILTIN_METRICS, metric_plugins

    registry = plugins.registry()
    failed = False
    try:
        described = {name: str(cls.description) for name, cls in metric_plugins().items()}  # checked (queries too)
        unusable = []
    except plugins.PluginError as exc:
        described, unusable = {}, exc.failures
    for kind in plugins.KINDS:
        print(f"{kind}:")
        problems = {f.entry.name: f.error for f in registry.failures(kind)}
        problems |= {f.entry.name: f.error for f in unusable if f.entry.kind == kind}
        if kind == "metrics":  # ours are defined in harness.analysis.metrics, not registered as entries
            print("\n".join(f"  {name:<30} {'built-in':<28} harness.analysis.metrics" for name in BUILTIN_METRICS))
        for entry in registry.entries(kind):
            origin = "built-in" if entry.builtin else f"{entry.package} {entry.version}"
            line = f"  {entry.name:<30} {origin:<28} {entry.value}"
            if entry.name in problems:
                failed = True
                line += f"\n    FAILED TO LOAD: {problems[entry.name]}"
            elif kind == "metrics" and described.get(entry.name):
                line += f"\n    {described[entry.name]}"
            print(line)
    return EXIT_BAD_INPUT if failed else 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from harness.scenario.schema import render

    text = render(builtin=args.builtin)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"schema: {args.out}")
    else:
        print(text, end="")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness import scaffold

    if args.plugin:
        if args.question:
            raise HarnessUsage("give a question or --plugin, not both")
        directory = Path(args.out or args.plugin)
        written = scaffold.write_plugin(args.plugin, directory)
        print("\n".join(f"wrote {p}" for p in written))
        print(f"next: pip install -e {directory} && harness scenarios --plugins && "
              f"harness run {directory / 'scenario.yaml'}")  # fmt: skip
        return 0
    if not args.question:
        raise HarnessUsage(f"give a question ({', '.join(scaffold.QUESTIONS)}) or --plugin PACKAGE")
    out = Path(args.out or f"{args.question}.yaml")
    scaffold.write_starter(args.question, out)
    print(f"wrote {out}\nnext: harness validate {out} && harness run {out} --duration-scale 0.25")
    return 0


def _console(args: argparse.Namespace) -> Console:
    from harness.errors import InputError
    from harness.run.console import Console

    if not args.progress_interval_s > 0:
        raise InputError(f"--progress-interval-s must be above 0 (got {args.progress_interval_s:g})")
    return Console(mode="quiet" if args.quiet else args.progress, interval_s=args.progress_interval_s)


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.run.soak import SoakOptions
    from harness.run.start import run_scenario_file

    return run_scenario_file(
        args.scenario,
        out=args.out,
        seed=args.seed,
        duration_scale=args.duration_scale,
        dry_run=args.dry_run,
        workers=args.workers,
        master_bind=args.master_bind,
        expect_workers=args.expect_workers,
        workers_timeout_s=args.workers_timeout,
        listen=args.listen,
        console=_console(args),
        overrides=args.set,
        soak=SoakOptions(args.duration, args.until, args.metrics_port, args.partial_every),
    )


def _cmd_ui(args: argparse.Namespace) -> int:
    from harness.run.loadgen import LoadMode
    from harness.run.start import run_scenario_file

    ui = LoadMode(workers=args.workers, ui=True, web_host=args.web_host, web_port=args.web_port)
    return run_scenario_file(args.scenario, out=args.out, seed=args.seed, duration_scale=args.duration_scale, ui=ui,
                             console=_console(args), overrides=args.set)  # fmt: skip


def _cmd_worker(args: argparse.Namespace) -> int:
    from harness.run.worker import run_worker

    return run_worker(args.master, node=args.node, out=args.out, master_timeout_s=args.master_timeout)


def _cmd_cleanup(args: argparse.Namespace) -> int:
    from harness.run.start import clean_leftovers

    return clean_leftovers(args.out)


def _cmd_target(args: argparse.Namespace) -> int:
    from harness.idp.server import run

    return run(args)


def _cmd_proxy(args: argparse.Namespace) -> int:
    from harness.proxy.server import run

    return run(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.report.build import build_report

    result = build_report(args.run_dir, out_dir=args.out, index=args.out is None)
    print(f"report: {result.report_html}")
    return result.exit_code


def _cmd_notebook(args: argparse.Namespace) -> int:
    from harness.report.notebook import execute_notebook

    result = execute_notebook(args.run_dir)
    print(f"notebook: {result.ipynb}\nnotebook html: {result.html}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from harness.report.compare import compare_runs

    result = compare_runs(args.run_dirs, out_dir=args.out)
    print(result.out_dir)
    return 0


def _add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument(
        "--db", default="harness-target.sqlite3", help="SQLite file (WAL); shared by workers, kept across restarts"
    )
    p.add_argument("--issuer", default=None, help="issuer URL (default: http://HOST:PORT)")
    p.add_argument("--workers", type=int, default=1, help="server processes sharing the listener and the store")
    p.add_argument("--signing-alg", choices=["RS256", "ES256"], default="RS256")
    p.add_argument("--audit-log", default=None, help="JSON-lines audit log (default: none)")
    p.add_argument("--request-log", default=None, help="JSON-lines log, one line per HTTP request (default: none)")
    p.add_argument("--max-inflight", type=int, default=512, help="answer 429 + Retry-After above this many requests")
    p.add_argument(
        "--seed-users", type=int, default=100, help="seed users user0001..userNNNN (password: pw-<username>)"
    )
    p.add_argument("--access-token-ttl-s", type=int, default=3600)
    p.add_argument("--device-interval-s", type=int, default=1, help="device flow polling interval (0: no slow_down)")
    p.add_argument("--device-expires-s", type=int, default=600, help="lifetime of device codes")
    p.add_argument(
        "--rate-limit-per-client", type=float, default=None, help="requests/s per client id and worker (429/SlowDown)"
    )
    p.add_argument("--header-timeout-s", type=float, default=10.0,
                   help="a request head must arrive within this (408 and close otherwise)")
    p.add_argument("--body-timeout-s", type=float, default=10.0,
                   help="a request body must arrive within this of its head (408 and close otherwise)")
    p.add_argument("--tls", action="store_true", help="serve https with a generated CA (its cert path is printed)")
    p.add_argument("--tls-dir", default=None, help="where the CA and server certificate live (default: next to --db)")
    p.add_argument("--log-level", default="warning")


def _add_proxy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address of the control API")
    p.add_argument("--port", type=int, default=8474, help="port of the control API (Toxiproxy's default)")
    p.add_argument("--config", default=None, help="JSON file of proxies to create at start (like toxiproxy -config); "
                   "a proxy may add listen_tls {cert, key} and upstream_tls {server_name, ca}")
    p.add_argument("--seed", type=int, default=None, help="seed for per-request fault coin flips")
    p.add_argument("--allow-listen", metavar="ADDR", default=None,
                   help="one non-loopback address proxies may listen on (the API stays on --host)")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--no-native", dest="native", action="store_false", help="relay every connection in Python")


def _add_set_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a value of the scenario, e.g. --set load.users=200 --set phases.1.duration_s=60 "
                        "(validated like the file; repeat for several)")  # fmt: skip


def _add_progress_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", choices=["text", "json"], default="text",
                   help="the live line every interval as text (default) or as one JSON object a line on stdout")
    p.add_argument("--progress-interval-s", type=float, default=5.0, help="seconds between live lines (default: 5)")
    p.add_argument("--quiet", action="store_true", help="no live lines and no timeline events; only the verdict")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("sso-resilience-harness")
    except metadata.PackageNotFoundError:  # a checkout run with python -m, not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness",
                                     description="Resilience and chaos testing for single sign-on services.")
    parser.add_argument("--version", action="version", version=f"harness {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run a scenario headless and write a report")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--out", default="reports", help="parent directory of the run directory (default: reports)")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument(
        "--duration-scale",
        type=float,
        default=1.0,
        help="multiply every phase duration (e.g. 0.25 for a rehearsal)",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would be started and sent where; start nothing")
    p.add_argument("--workers", type=int, default=0, help="Locust worker processes on this machine (0: one process)")
    p.add_argument("--duration", default=None, metavar="LENGTH",
                   help="run this long (24h, 90m, 1h30m, seconds): every phase stretched by one factor")
    p.add_argument("--until", default=None, metavar="TIME",
                   help="end at this wall-clock time (2026-12-06T09:00Z): every phase stretched by one factor")
    p.add_argument("--partial-every", default=None, metavar="LENGTH",
                   help="a partial report of the records so far every LENGTH (30m) in RUN_DIR/partial/<elapsed>/")
    p.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                   help="serve Prometheus text at /metrics on this port (0: a free one) while the run goes")
    p.add_argument("--master-bind", metavar="HOST:PORT", default=None,
                   help="where the Locust master listens for workers (default: 127.0.0.1, a free port)")
    p.add_argument("--expect-workers", type=int, default=0, metavar="N",
                   help="wait for N workers in all (the --workers ones included) before the first phase; the "
                   "others join with `harness worker --master HOST:PORT`")
    p.add_argument("--workers-timeout", type=float, default=60.0, metavar="S",
                   help="how long to wait for them (default: 60 s); then exit 4 saying who is missing")
    p.add_argument("--listen", metavar="ADDR", default=None,
                   help="put the target and the proxy on this address of this machine instead of loopback, "
                   "for workers on other machines")
    _add_set_arg(p)
    _add_progress_args(p)
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser(
        "ui",
        help="start target and proxy, then Locust's web UI with the Resilience tab",
        description="Start target and proxy, then Locust's web UI. Its start form offers this scenario and "
        "those beside its file or shipped in scenarios/ that run on the same services.",
    )
    p.add_argument("scenario", help="scenario YAML file (the form's default)")
    p.add_argument("--out", default="reports", help="parent directory of the run directory (default: reports)")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--web-host", default="127.0.0.1", help="address of the web UI (default: 127.0.0.1)")
    p.add_argument("--web-port", type=int, default=8089, help="port of the web UI (default: 8089)")
    p.add_argument(
        "--duration-scale", type=float, default=1.0, help="multiply every phase duration of every offered scenario"
    )
    p.add_argument("--workers", type=int, default=0, help="Locust worker processes on this machine (0: one process)")
    _add_set_arg(p)
    _add_progress_args(p)
    p.set_defaults(handler=_cmd_ui)

    p = sub.add_parser(
        "worker",
        help="a Locust worker joining a `harness run --master-bind` master on another machine",
        description="Join a run: the master sends the scenario, endpoints and seed; secrets come from this "
        "machine's environment (the same variable names as on the master, e.g. HARNESS_CLIENT_SECRET).",
    )
    p.add_argument("--master", required=True, metavar="HOST:PORT", help="the master's --master-bind address")
    p.add_argument("--node", default=None, help="this worker's name in records (default: <hostname>-<pid>)")
    p.add_argument("--out", default="reports", help="records go to OUT/<run id>-<node>/records/ (then home)")
    p.add_argument("--master-timeout", type=float, default=20.0, metavar="S",
                   help="quit after this long without hearing from the master (default: 20 s)")
    p.set_defaults(handler=_cmd_worker)

    p = sub.add_parser("cleanup", help="stop processes and remove proxies left behind by crashed runs")
    p.add_argument("--out", default=None,
                   help="also clean runs of older versions, which registered in OUT/.active (runs now register "
                        "once per user, so no directory is needed)")
    p.set_defaults(handler=_cmd_cleanup)

    p = sub.add_parser("validate", help="check scenario files; run nothing")
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO")
    _add_set_arg(p)
    p.set_defaults(handler=_cmd_validate)

    p = sub.add_parser("scenarios", help="list the shipped scenarios (--plugins: every flow, fault, probe, metric)")
    p.add_argument("--plugins", action="store_true",
                   help="list every registered flow, fault, probe and metric, ours and plugins' (exit 2 when one "
                        "does not load)")  # fmt: skip
    p.set_defaults(handler=_cmd_scenarios)

    p = sub.add_parser("schema", help="the scenario JSON Schema, with the installed plugins' types")
    p.add_argument("--builtin", action="store_true", help="the harness's own types only (scenarios/schema.json)")
    p.add_argument("--out", default=None, help="write it to this file (default: standard output)")
    p.set_defaults(handler=_cmd_schema)

    p = sub.add_parser("init", help="write a commented starter scenario, or a plugin package's skeleton")
    p.add_argument("question", nargs="?", choices=["brownout", "throttling", "key-rotation", "external"],
                   help="the question the starter scenario asks")
    p.add_argument("--plugin", metavar="PACKAGE", default=None,
                   help="write a plugin package named PACKAGE (a flow, a fault, a probe, a scenario using them)")
    p.add_argument("--out", default=None,
                   help="the file (default: QUESTION.yaml) or, with --plugin, the directory (default: PACKAGE)")
    p.set_defaults(handler=_cmd_init)

    p = sub.add_parser("target", help="run the embedded SSO target alone")
    _add_target_args(p)
    p.set_defaults(handler=_cmd_target)

    p = sub.add_parser("proxy", help="run the fault proxy alone (Toxiproxy API)")
    _add_proxy_args(p)
    p.set_defaults(handler=_cmd_proxy)

    p = sub.add_parser("report", help="rebuild summary, figures and report of a run directory")
    p.add_argument("run_dir")
    p.add_argument("--out", default=None, help="write the report files here instead of into the run directory "
                                               "(a running soak's partial report; the index is left alone)")
    p.set_defaults(handler=_cmd_report)

    p = sub.add_parser("notebook", help="execute the report notebook against a run; write .ipynb and .html")
    p.add_argument("run_dir")
    p.set_defaults(handler=_cmd_notebook)

    p = sub.add_parser("compare", help="several runs side by side: differences with intervals, overlaid figures")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", default=None, help="output directory (default: compare-<UTC stamp> beside the first run)")
    p.set_defaults(handler=_cmd_compare)
    return parser


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """A scenario's warnings read like its errors (`file:line: field: what`); others as Python shows them."""
    if issubclass(category, ScenarioWarning):
        print(f"harness: warning: {message}", file=file or sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    # SIGTERM and SIGHUP mean the same as Ctrl-C: stop, clean up, exit 3 (commands that start things
    # install their own handlers for the time they hold resources)
    previous = {sig: signal.signal(sig, _terminate_as_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return handler(args)
    except HarnessError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return EXIT_ABORTED
    except BrokenPipeError:
        return _reader_went_away()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def entry() -> int:
    """The `harness` command: `main`, then an exit without the interpreter's last garbage collections, which
    walk every object pandas, scipy and DuckDB made for cycles the exit frees anyway (0.25 s after `harness
    report`). atexit handlers, weakref finalizers and flushing stay; nothing relies on cycles' finalizers."""
    code = main()
    gc.freeze()
    return code


def _reader_went_away() -> int:
    """`harness scenarios | head`: the reader closed the pipe because it had what it wanted. No traceback;
    stdout goes to /dev/null so that the interpreter's last flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0
