"""Flows through a real `harness proxy` in front of a real target, with an HTTP fault on the token
endpoint: retries show as attempts > operations, and an operation's latency includes its backoff."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.clients.caller import JOURNEY_STEP
from harness.clients.flows import AuthorizationCodePkceFlow, ClientCredentialsFlow, DeviceAuthorizationFlow
from harness.proxy.client import ToxiproxyClient
from harness.scenario.model import Retry, RetryStop, RetryWait
from tests.helpers import LOOPBACK, free_port, harness_argv, running_process
from tests.integration.clients.conftest import Harness, user_context

pytestmark = pytest.mark.integration

WAIT_S = 0.05
JOURNEYS = 12


@pytest.fixture(scope="module")
def proxy_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyClient]:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = harness_argv("proxy", "--port", str(port), "--seed", "7")  # seeded coin flips: same faults each run
    with running_process(argv, log_dir=tmp_path_factory.mktemp("proxy-logs"), name="proxy",
                         ready_url=f"{url}/version"):
        client = ToxiproxyClient(url)
        client.wait_ready(timeout_s=10)
        yield client
        client.close()


@pytest.fixture
def proxied(proxy_api: ToxiproxyClient, target_url: str) -> Iterator[tuple[str, str]]:
    """(proxy name, base URL through the proxy)."""
    upstream = target_url.removeprefix("http://")
    proxy = proxy_api.create_proxy("sso", upstream=upstream, listen=f"{LOOPBACK}:0")
    yield proxy["name"], f"http://{proxy['listen']}"
    proxy_api.delete_proxy(proxy["name"])


def through(base: str, attempts: int = 8) -> Harness:
    return user_context(base, retry=Retry(stop=RetryStop(after_attempt=attempts), wait=RetryWait(fixed_s=WAIT_S),
                                          retry_on=("http_5xx", "connect_error", "reset", "timeout")))


def test_http_503_on_token_retried_attempts_exceed_operations(
    proxy_api: ToxiproxyClient, proxied: tuple[str, str]
) -> None:
    name, base = proxied
    proxy_api.add_toxic(name, "http_error", {"status": 503, "probability": 0.5, "path": "/token", "method": "POST"})
    h = through(base)
    flow = ClientCredentialsFlow(h.ctx)
    for _ in range(JOURNEYS):
        assert flow.run()

    tokens = [op for op in h.sink.operations if op["step"] == "token"]
    token_attempts = [a for a in h.sink.attempts if a["step"] == "token"]
    assert len(tokens) == JOURNEYS and all(op["outcome"] == "ok" for op in tokens)
    assert len(token_attempts) == sum(op["attempts"] for op in tokens) > len(tokens)
    assert {a["outcome"] for a in token_attempts} == {"ok", "http_5xx"}
    assert all(a["status"] == 503 for a in token_attempts if a["outcome"] == "http_5xx")

    retried = [op for op in tokens if op["attempts"] > 1]
    assert retried
    for op in retried:  # backoff is (attempts - 1) waits, and the end-to-end latency includes it
        assert op["backoff_ms"] == pytest.approx((op["attempts"] - 1) * WAIT_S * 1000.0)
        mine = [a for a in token_attempts if a["op_id"] == op["op_id"]]
        assert [a["attempt"] for a in mine] == list(range(1, op["attempts"] + 1))
        assert op["latency_ms"] >= op["backoff_ms"] + sum(a["latency_ms"] for a in mine) * 0.99

    journeys = [op for op in h.sink.operations if op["step"] == JOURNEY_STEP]
    assert len(journeys) == JOURNEYS and all(j["outcome"] == "ok" for j in journeys)
    assert sum(j["attempts"] for j in journeys) == len(h.sink.attempts)
    assert sum(j["backoff_ms"] for j in journeys) == pytest.approx(sum(op["backoff_ms"] for op in tokens))
    assert not h.leaked()


def test_persistent_503_ends_the_journey_as_http_5xx_after_every_attempt(
    proxy_api: ToxiproxyClient, proxied: tuple[str, str]
) -> None:
    name, base = proxied
    proxy_api.add_toxic(name, "http_error", {"status": 503, "retry_after": 0, "path": "/token"})
    h = through(base, attempts=3)
    assert not ClientCredentialsFlow(h.ctx).run()
    (token,) = [op for op in h.sink.operations if op["step"] == "token"]
    assert (token["outcome"], token["attempts"], token["status"]) == ("http_5xx", 3, 503)
    assert token["backoff_ms"] == pytest.approx(2 * WAIT_S * 1000.0)
    (journey,) = [op for op in h.sink.operations if op["step"] == JOURNEY_STEP]
    assert (journey["outcome"], journey["status"]) == ("http_5xx", 503)


def test_device_login_survives_5xx_polls(proxy_api: ToxiproxyClient, proxied: tuple[str, str]) -> None:
    """A 5xx on a poll is retried by the transport policy; the RFC 8628 loop only sees pending/ok."""
    name, base = proxied
    proxy_api.add_toxic(name, "http_error", {"status": 502, "probability": 0.4, "path": "/token"})
    h = through(base)
    assert DeviceAuthorizationFlow(h.ctx).run()
    polls = [op for op in h.sink.operations if op["step"] == "poll"]
    poll_attempts = [a for a in h.sink.attempts if a["step"] == "poll"]
    assert all(op["outcome"] == "ok" for op in polls)
    assert len(poll_attempts) == sum(op["attempts"] for op in polls) >= len(polls)
    assert not h.leaked()


def test_id_token_issuer_checked_through_the_proxy(proxied: tuple[str, str]) -> None:
    """Paths are re-based onto the proxy, the issuer is not: the ID token's `iss` is the target's own."""
    _, base = proxied
    h = through(base)
    assert AuthorizationCodePkceFlow(h.ctx).run()
    (verdict,) = [a for a in h.sink.attempts if a["step"] == "id_token"]
    assert verdict["error"] == "valid"
    assert h.ctx.provider.issuer is not None and not h.ctx.provider.issuer.startswith(base)
