"""The report's "What was tested" and "Methods" sections: the question and hypothesis, the load, the flow
mix, the retry policy in full, timeouts, seed, duration scale, target and proxy, the plan, where it ran;
and how every interval and test on the page was computed. Read from summary.json's `configuration` and
`methods` (harness.analysis.configuration), so a reader can tell what a number is a number of.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.analysis import metrics
from harness.report.htmlkit import e, number, table

# Only the methods a report shows, in the order it uses them.
METHOD_ORDER = ("wilson", "newcombe", "fisher_exact", "chi2", "none", "order_statistic", "student_t",
                "mann_whitney_u", "bootstrap")  # fmt: skip


def tested_section(summary: Mapping[str, Any]) -> str:
    config = summary.get("configuration") or {}
    if not config:
        return '<p class="muted">This summary does not record its configuration (built by an older harness).</p>'
    out = []
    if config.get("question"):
        out.append(f'<p class="question"><strong>Question.</strong> {e(config["question"])}</p>')
    if config.get("hypothesis"):
        out.append(f'<p class="hypothesis"><strong>Hypothesis.</strong> {e(config["hypothesis"])}</p>')
    rows = [[e(k), e(v)] for k, v in settings(config)]
    out.append(table(["setting", "value"], rows, table_id="tested", numeric=set()))
    out.append(_plan(config))
    return "".join(out)


def settings(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(setting, plain-text value) pairs, in reading order."""
    load, retry = config.get("load") or {}, config.get("retry") or {}
    scale = config.get("duration_scale") or 1.0
    planned = config.get("planned_duration_s")
    duration = f"{number(planned, 2)} s planned"
    if scale != 1.0 and isinstance(planned, int | float):
        written = number(planned / scale, 2)
        duration += f" (--duration-scale {scale:g}: the scenario file's phases add up to {written} s)"
    retry_after = "ignored"
    if retry.get("respect_retry_after"):
        retry_after = f"honoured, at most {number(retry.get('max_retry_after_s'), 2)} s"
    return [
        ("load", describe_load(load)),
        ("load generators", _generators(load.get("workers") or 0)),
        ("flow mix", describe_flows(config.get("flows") or [])),
        ("retry: stop", describe_stop(retry.get("stop") or {})),
        ("retry: wait", describe_wait(retry.get("wait") or {})),
        ("retry: on", ", ".join(retry.get("retry_on") or []) or "nothing (no retries)"),
        ("retry: Retry-After", retry_after),
        ("retry: circuit breaker", describe_breaker(retry.get("circuit_breaker"))),
        ("retry: budget", describe_budget(retry.get("budget"))),
        ("timeouts", ", ".join(f"{k} {number(v, 2)} s" for k, v in (config.get("timeouts_s") or {}).items())),
        ("seed", str(config.get("seed"))),
        ("duration", duration),
        ("target", describe_target(config.get("target") or {})),
        ("proxy", describe_proxy(config.get("proxy") or {})),
        ("ran on", f"host {config.get('host') or '?'}, harness {config.get('harness_version') or '?'}"),
        ("versions", ", ".join(f"{k} {v}" for k, v in sorted((config.get("versions") or {}).items()))),
    ]


def describe_load(load: Mapping[str, Any]) -> str:
    users = f"{load.get('users')} users (spawn {number(load.get('spawn_rate'), 2)}/s)"
    if load.get("arrival") == "open":
        return f"{users}, open arrival: {number(load.get('rate_per_s'), 2)} journeys/s started whatever the " \
               "response times (latency counted from the intended start)"  # fmt: skip
    low, high = load.get("think_time_s") or (None, None)
    return f"{users}, closed loop: think time {number(low, 2)}-{number(high, 2)} s between journeys"


def _generators(workers: int) -> str:
    return "one Locust process" if not workers else f"a Locust master and {workers} local workers"


def describe_flows(flows: list[Mapping[str, Any]]) -> str:
    total = sum(float(f.get("weight") or 0) for f in flows) or 1.0
    parts = []
    for f in flows:
        kind = f" ({f['kind']})" if f.get("kind") and f.get("kind") != f.get("flow") else ""
        parts.append(f"{f.get('flow')}{kind} {100 * float(f.get('weight') or 0) / total:.0f}%")
    return ", ".join(parts)


def describe_stop(stop: Mapping[str, Any]) -> str:
    parts = []
    if stop.get("after_attempt") is not None:
        parts.append(f"after {stop['after_attempt']} attempts")
    if stop.get("after_delay_s") is not None:
        parts.append(f"after {number(stop['after_delay_s'], 2)} s")
    return " or ".join(parts) or "never (retries until success)"


def describe_wait(wait: Mapping[str, Any]) -> str:
    if "fixed_s" in wait:
        return f"fixed {number(wait['fixed_s'], 3)} s"
    for key, name in (("exponential_jitter", "exponential with full jitter"), ("exponential", "exponential")):
        if key in wait:
            w = wait[key]
            return (f"{name}: {number(w.get('initial_s'), 3)} s, x{number(w.get('multiplier'), 2)} each retry, "
                    f"at most {number(w.get('max_s'), 2)} s")  # fmt: skip
    if "random" in wait:
        w = wait["random"]
        return f"random {number(w.get('min_s'), 3)}-{number(w.get('max_s'), 3)} s"
    return "none: retry at once"


def describe_breaker(breaker: Mapping[str, Any] | None) -> str:
    if not breaker:
        return "none"
    return (f"opens after {breaker.get('fail_max')} failures in a row ({', '.join(breaker.get('trip_on') or [])}), "
            f"stays open {number(breaker.get('reset_timeout_s'), 2)} s, closes after "
            f"{breaker.get('success_threshold')} successful trial(s)")  # fmt: skip


def describe_budget(budget: Mapping[str, Any] | None) -> str:
    if not budget:
        return "none"
    return (f"retries at most {number(100 * float(budget.get('ratio') or 0), 1)}% of the requests of the last "
            f"{number(budget.get('window_s'), 2)} s, plus {number(budget.get('min_retries_per_s'), 2)} retries/s")


def describe_target(target: Mapping[str, Any]) -> str:
    tls = {True: "TLS", False: "plain HTTP, no TLS", None: "TLS unknown"}[target.get("tls")]
    if target.get("kind") == "embedded":
        where = f" at {target['url']}" if target.get("url") else ""
        netns = ", in its own network namespace" if target.get("netns") else ""
        return (f"the embedded SSO target{where}: {target.get('workers')} worker(s), {target.get('signing_alg')} "
                f"signatures, {tls}{netns}")  # fmt: skip
    allowed = ", ".join(target.get("allow") or []) or "loopback only"
    return f"external provider {target.get('issuer')} ({tls}; load allowed to {allowed})"


def describe_proxy(proxy: Mapping[str, Any]) -> str:
    kind = proxy.get("kind")
    listen = f", clients connect to {proxy['listen']}" if proxy.get("listen") else ""
    if kind == "embedded":
        return f"the harness's own fault proxy (Toxiproxy API){listen}"
    if kind == "toxiproxy":
        return f"a Toxiproxy at {proxy.get('api')}{listen}"
    return "none: clients talk to the target directly"


def _plan(config: Mapping[str, Any]) -> str:
    rows = []
    offset = 0.0
    for p in config.get("phases") or []:
        faults = "; ".join(_fault_text(f) for f in p.get("faults") or []) or "—"
        rows.append([e(p.get("name")), e(number(offset, 2)), e(number(p.get("duration_s"), 2)), e(p.get("users")),
                     e(faults)])  # fmt: skip
        offset += float(p.get("duration_s") or 0)
    head = ["phase", "planned start (s)", "duration (s)", "users", "faults"]
    return "<h3>Plan</h3>" + table(head, rows, table_id="plan", numeric={1, 2, 3})


def _fault_text(spec: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" if k != "type" else str(v) for k, v in spec.items())


def methods_section(summary: Mapping[str, Any]) -> str:
    """How each interval and test was computed, and how the metrics are defined."""
    methods = summary.get("methods") or {}
    tolerance = summary.get("recovery_tolerance") or {}
    items = [f"<li><strong>{e(k)}</strong>: {e(methods[k])}</li>" for k in METHOD_ORDER if k in methods]
    definitions = [
        "Availability: the share of records whose outcome is ok; operation scope counts each step once after "
        "its retries (whole-journey records left out), attempt scope every HTTP exchange.",
        "Latency percentiles: from the raw samples (numpy's linear interpolation), never from buckets; "
        "operation latency is end to end, retries and backoff included.",
        "Attempts per operation: the mean of the attempts each step operation took (retry amplification).",
        f"Time to detect / to recover: per 1-second window against the baseline phase, a window being within "
        f"tolerance when its operation availability is at most {tolerance.get('availability_drop')} below the "
        f"baseline's and its p95 at most max({tolerance.get('p95_factor')} x baseline p95, baseline p95 + "
        f"{tolerance.get('p95_slack_ms')} ms). The recovery is watched from the fault's removal until the next "
        f"fault takes effect or the next phase ends; a window shorter than {tolerance.get('min_window_s')} s "
        "gives no time to recover.",
        metrics.IN_FLIGHT_DEFINITION,
        "Verdicts use the point estimate; an SLO whose 95% interval reaches across its objective is marked "
        "\u201cnot conclusive\u201d. p-values below 0.001 read \u201c< 0.001\u201d.",
    ]
    return (
        "<ul id=\"definitions\">" + "".join(f"<li>{e(d)}</li>" for d in definitions) + "</ul>"
        + f'<ul id="methods">{"".join(items)}</ul>'
    )
