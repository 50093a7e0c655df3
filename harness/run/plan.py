"""`harness run --dry-run`: what a run would start, send where, and change when; nothing is started. For
an external provider behind a proxy the plan comes from its discovery document, read now, through the
same code the run uses (harness.run.origins), so the origins shown are the ones the run proxies."""

from __future__ import annotations

import json
from collections.abc import Mapping

from harness.endpoints import EMBEDDED_PATHS
from harness.faults import Fault
from harness.faults.base import PluginFault, ProxyFault, TargetFault
from harness.faults.command import CommandFault
from harness.run.origins import ProviderMap
from harness.run.soak import disk_line
from harness.scenario.model import EmbeddedTarget, ExternalTarget, Scenario


def describe_plan(
    scenario: Scenario, provider: ProviderMap | None = None, listen: str | None = None, load_processes: int = 1
) -> str:
    lines = [f"scenario {scenario.name}: {scenario.duration_s:g} s, seed {scenario.seed}"]
    target = scenario.target
    where = f"{listen} (--listen)" if listen is not None else "127.0.0.1"
    lines += _target_lines(target, scenario, provider, where)
    proxy = scenario.proxy
    if proxy.kind == "embedded":
        relay = "" if proxy.native_relay else "; every connection relayed in Python (native_relay: false)"
        lines.append(f"proxy: embedded `harness proxy` listening on {where} (its API on 127.0.0.1), clients go "
                     f"through it{relay}")  # fmt: skip
    elif proxy.kind == "toxiproxy":
        lines.append(f"proxy: the Toxiproxy API at {proxy.api}; proxies named harness-<run id>... are added there")
    else:
        lines.append("proxy: none; clients talk to the target directly")
    paths: Mapping[str, str] = EMBEDDED_PATHS
    if provider is not None:
        paths = {name: path for name in provider.endpoints if (path := provider.path(name)) is not None}
        lines += [f"  {line}" for line in provider.describe()]
    load = scenario.load
    lo, hi = load.think_time_s
    lines.append(f"load: {load.users} users (spawn {load.spawn_rate:g}/s), think time {lo:g}-{hi:g} s")
    lines.append("flows: " + ", ".join(f"{f.label}{f' ({f.flow})' if f.name else ''} x{f.weight:g}"
                                       for f in scenario.flows))  # fmt: skip
    offset = 0.0
    for index, phase in enumerate(scenario.phases):
        lines.append(f"  t={offset:>6g} s  phase {phase.name} ({phase.duration_s:g} s)")
        for n, fault in enumerate(phase.faults):
            line = _fault_line(fault, f"harness-<run>-p{index}-f{n}", paths)
            lines.append(f"             fault {fault.type}: {line}")
        offset += phase.duration_s
    lines.append(f"  t={offset:>6g} s  end: every fault removed, every process stopped")
    live = scenario.live
    if live.metrics_port is not None:
        port = live.metrics_port or "<a free port>"
        lines.append(f"metrics: Prometheus text at http://{live.metrics_host}:{port}/metrics while the run goes")
    lines.append(disk_line(scenario, live.partial_report_every_s, load_processes))
    for slo in scenario.slos:
        bound = f">= {slo.at_least:g}" if slo.at_least is not None else f"<= {slo.at_most:g}"
        lines.append(f"slo {slo.name}: {slo.metric} ({slo.scope}) {bound} over {', '.join(slo.phases or ['all'])}")
    for probe in scenario.probes:
        when = [w for w, on in (("before", probe.before), ("after", probe.after)) if on]
        if probe.every_s is not None:
            when.append(f"every {probe.every_s:g} s during the load")
        lines.append(f"probe {probe.name} ({probe.type}): {', '.join(when) or 'never'}")
    for cond in scenario.stop_conditions:
        lines.append(f"stop if {cond.label}")
    return "\n".join(lines)


def _target_lines(
    target: EmbeddedTarget | ExternalTarget, scenario: Scenario, provider: ProviderMap | None, where: str
) -> list[str]:
    if isinstance(target, ExternalTarget):
        lines = [f"target: external provider, issuer {target.issuer}",
                 f"  allow: {', '.join(target.allow) or '(loopback only)'}"]  # fmt: skip
        if target.resolve:
            resolved = sorted(target.resolve.items())
            lines.append("  resolve: " + ", ".join(f"{host} -> {addr}" for host, addr in resolved))
        lines.append(f"  certificates verified against {target.ca_bundle or 'the system store'}")
        if scenario.proxy.kind != "none" and provider is None:
            lines.append("  its discovery document is read at start; one proxy per allowed origin")
        return lines
    tls = ", https with a certificate from the run's CA" if target.tls else ""
    lines = [f"target: embedded (started on {where}, a free port; its store in a scratch dir{tls})"]
    if target.netns:
        lines.append("network: target in namespace harness-<run tag> (root), veth pair hv<tag>h/hv<tag>n, a "
                     "169.254.x.y/30 chosen at start; removed at the end")  # fmt: skip
    return lines


def _fault_line(fault: Fault, name: str, paths: Mapping[str, str]) -> str:
    """What the fault's channel is asked for: the toxic, the chaos API call, or the host change."""
    if isinstance(fault, ProxyFault):
        where = f" on the proxy of the {fault.aimed_at()} endpoint's origin" if fault.aimed_at() else ""
        switch = fault.proxy_switch()
        if switch is not None:
            return f"the proxy itself {json.dumps(switch[0])}, then {json.dumps(switch[1])}{where or ' (every proxy)'}"
        try:
            return f"toxic {json.dumps(fault.toxic(name, paths), sort_keys=True)}{where}"
        except KeyError as exc:
            return f"the provider has no {exc.args[0]} endpoint on an allowed host: this fault will fail"
    if isinstance(fault, TargetFault):
        return f"the target's chaos API {json.dumps(fault.chaos_requests()[0], sort_keys=True)}"
    if isinstance(fault, CommandFault):
        return (f"run {json.dumps(list(fault.apply))} (no shell, timeout {fault.timeout_s:g} s), at its end "
                f"{json.dumps(list(fault.revert))}; output in logs/")  # fmt: skip
    if isinstance(fault, PluginFault):
        return f"a plugin fault, applied by the orchestrator {json.dumps(fault.attributes(), sort_keys=True)}"
    where = "processes" if fault.channel == "process" else "namespace link"
    return f"on the target's {where} {json.dumps(fault.attributes(), sort_keys=True)}"
