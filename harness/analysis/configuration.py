"""What a run tested, as the reports state it: the question and hypothesis, the load (users, arrival, think
time, flow mix), the clients' retry policy in full, the timeouts, the seed and duration scale, the target
and proxy, the plan of phases and faults, and where and with what it ran (host, versions).

From the resolved scenario and the journal only, so `harness report` rebuilds it exactly; `compare` diffs
two of these (`flatten`), which is how two runs' set-ups are told apart at a glance.
"""

from __future__ import annotations

from typing import Any

from harness.scenario.model import Scenario


def configuration(scenario: Scenario, journal: dict[str, Any]) -> dict[str, Any]:
    entry = journal.get("scenario") or {}
    services = journal.get("services") or {}
    versions = journal.get("versions") or {}
    load, retry = scenario.load, scenario.retry
    return {
        "question": " ".join(scenario.question.split()),
        "hypothesis": " ".join(scenario.hypothesis.split()),
        "seed": scenario.seed,
        "duration_scale": entry.get("duration_scale", 1.0),
        "planned_duration_s": scenario.duration_s,
        "load": {
            "users": load.users,
            "spawn_rate": load.spawn_rate,
            "arrival": load.arrival,
            "rate_per_s": load.rate_per_s,
            "think_time_s": list(load.think_time_s) if load.arrival == "closed" else None,
            "workers": _workers(services),
        },
        "flows": [{"flow": f.label, "kind": f.flow, "weight": f.weight} for f in scenario.flows],
        "retry": {
            "stop": retry.stop.model_dump(mode="json"),
            "wait": retry.wait.model_dump(mode="json", exclude_none=True) or {"none": "retry at once"},
            "retry_on": list(retry.retry_on),
            "respect_retry_after": retry.respect_retry_after,
            "max_retry_after_s": retry.max_retry_after_s,
            "circuit_breaker": None if retry.circuit_breaker is None else retry.circuit_breaker.model_dump(mode="json"),
            "budget": None if retry.budget is None else retry.budget.model_dump(mode="json"),
        },
        "timeouts_s": retry.timeout_s.model_dump(mode="json"),
        "target": _target(scenario, services),
        "proxy": _proxy(scenario, services),
        "phases": [
            {
                "name": p.name,
                "duration_s": p.duration_s,
                "users": p.users if p.users is not None else load.users,
                "faults": [f.model_dump(mode="json", exclude_none=True) for f in p.faults],
            }
            for p in scenario.phases
        ],
        "host": journal.get("host"),
        "harness_version": versions.get("sso-resilience-harness"),
        "versions": dict(versions),
    }


def _workers(services: dict[str, Any]) -> int:
    return sum(1 for name in services if name.startswith("locust-worker-"))


def _target(scenario: Scenario, services: dict[str, Any]) -> dict[str, Any]:
    target = scenario.target
    seen = services.get("target") or {}
    url = str(seen.get("base_url") or seen.get("issuer") or seen.get("url") or "")
    out: dict[str, Any] = {"kind": target.kind, "tls": url.startswith("https://") if url else None, "url": url or None}
    if target.kind == "embedded":
        out |= {"workers": target.workers, "signing_alg": target.signing_alg, "netns": target.netns}
    else:
        out |= {"issuer": target.issuer, "allow": list(target.allow)}
    return out


def _proxy(scenario: Scenario, services: dict[str, Any]) -> dict[str, Any]:
    proxy = scenario.proxy
    seen = services.get("proxy") or {}
    out: dict[str, Any] = {"kind": proxy.kind}
    if proxy.kind == "toxiproxy":
        out["api"] = proxy.api
    if seen.get("listen"):
        out["listen"] = seen["listen"]
    return out


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """`{"load.users": "10", "phases.1.faults.0.status": "503", ...}`: one line per leaf, for a diff."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return {prefix: ", ".join(str(v) for v in value)}
        out = {}
        for i, item in enumerate(value):
            out |= flatten(item, f"{prefix}.{i}")
        return out
    return {prefix: "—" if value is None else str(value)}
