"""`harness run --dry-run`: what a run would start, send where, and change when; nothing is started."""

from __future__ import annotations

import json

from harness.endpoints import EMBEDDED_PATHS
from harness.faults import Fault
from harness.faults.base import ProxyFault, TargetFault
from harness.scenario.model import Scenario


def describe_plan(scenario: Scenario, listen: str | None = None) -> str:
    lines = [f"scenario {scenario.name}: {scenario.duration_s:g} s, seed {scenario.seed}"]
    where = f"{listen} (--listen)" if listen is not None else "127.0.0.1"
    lines.append(f"target: {scenario.target.kind} (started on {where}, a free port; its store in a scratch dir)")
    if getattr(scenario.target, "netns", False):
        lines.append("network: target in namespace harness-<run tag> (root), veth pair hv<tag>h/hv<tag>n, a "
                     "169.254.x.y/30 chosen at start; removed at the end")  # fmt: skip
    proxy = scenario.proxy
    if proxy.kind == "embedded":
        lines.append(f"proxy: embedded `harness proxy` listening on {where} (its API on 127.0.0.1), clients go "
                     "through it")  # fmt: skip
    elif proxy.kind == "toxiproxy":
        lines.append(f"proxy: the Toxiproxy API at {proxy.api}; a proxy named harness-<run id> is added there")
    else:
        lines.append("proxy: none; clients talk to the target directly")
    load = scenario.load
    lo, hi = load.think_time_s
    lines.append(f"load: {load.users} users (spawn {load.spawn_rate:g}/s), think time {lo:g}-{hi:g} s")
    lines.append("flows: " + ", ".join(f"{f.label}{f' ({f.flow})' if f.name else ''} x{f.weight:g}"
                                       for f in scenario.flows))  # fmt: skip
    offset = 0.0
    for index, phase in enumerate(scenario.phases):
        lines.append(f"  t={offset:>6g} s  phase {phase.name} ({phase.duration_s:g} s)")
        for n, fault in enumerate(phase.faults):
            lines.append(f"             fault {fault.type}: {_fault_line(fault, f'harness-<run>-p{index}-f{n}')}")
        offset += phase.duration_s
    lines.append(f"  t={offset:>6g} s  end: every fault removed, every process stopped")
    for slo in scenario.slos:
        bound = f">= {slo.at_least:g}" if slo.at_least is not None else f"<= {slo.at_most:g}"
        lines.append(f"slo {slo.name}: {slo.metric} ({slo.scope}) {bound} over {', '.join(slo.phases or ['all'])}")
    for cond in scenario.stop_conditions:
        lines.append(f"stop if {cond.label}")
    return "\n".join(lines)


def _fault_line(fault: Fault, name: str) -> str:
    """What the fault's channel is asked for: the toxic, the chaos API call, or the host change."""
    if isinstance(fault, ProxyFault):
        return f"toxic {json.dumps(fault.toxic(name, EMBEDDED_PATHS), sort_keys=True)}"
    if isinstance(fault, TargetFault):
        return f"the target's chaos API {json.dumps(fault.chaos_requests()[0], sort_keys=True)}"
    where = "processes" if fault.channel == "process" else "namespace link"
    return f"on the target's {where} {json.dumps(fault.attributes(), sort_keys=True)}"
