"""Consent (OIDC Core 3.1.2.4, RFC 9700 4.11): a client that is not first-party (anyone can register one
with RegisterClient) gets a consent screen before any code is issued, even to a user with a live session;
`prompt=consent` asks first-party clients too; `prompt=none` answers login_required / consent_required
instead of showing a page. The harness's own seeded clients are first-party."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .conftest import PUBLIC_CLIENT_ID, REDIRECT, Target, pkce_pair

pytestmark = pytest.mark.integration
LOOPBACK_CB = "http://127.0.0.1/oauth/callback"


def signed_in_browser(target: Target, username: str = "user0001") -> requests.Session:
    browser = requests.Session()
    response = browser.post(f"{target.base}/login", data={"username": username, "password": f"pw-{username}"},
                            timeout=5)
    assert response.status_code == 200 and "harness_session" in browser.cookies
    return browser


def third_party(target: Target, redirect: str = LOOPBACK_CB) -> dict[str, Any]:
    client: dict[str, Any] = target.sso_oidc().register_client(
        clientName="Totally Legit App", clientType="public", grantTypes=["authorization_code", "refresh_token"],
        redirectUris=[redirect], scopes=["sso:account:access"])
    return client


def authz_params(client_id: str, redirect: str, **extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": client_id, "redirect_uri": redirect, "state": "st",
            "code_challenge": pkce_pair()[1], "code_challenge_method": "S256", **extra}


def query(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def consent_ticket(page: requests.Response) -> str:
    assert page.status_code == 200 and 'name="consent_ticket"' in page.text, page.text[:300]
    return page.text.split('name="consent_ticket" value="', 1)[1].split('"', 1)[0]


def test_a_self_registered_client_gets_a_consent_screen_not_a_silent_code(target: Target) -> None:
    client = third_party(target, "https://attacker.example/cb")
    browser = signed_in_browser(target)
    page = browser.get(f"{target.base}/authorize", allow_redirects=False,
                       params=authz_params(client["clientId"], "https://attacker.example/cb"))
    assert page.status_code == 200 and "code=" not in page.headers.get("location", "")
    assert "Totally Legit App" in page.text and "attacker.example" in page.text and "sso:account:access" in page.text
    consent_ticket(page)


def test_approving_issues_the_code_and_denying_answers_access_denied(target: Target) -> None:
    client = third_party(target)
    browser = signed_in_browser(target)
    url = f"{target.base}/authorize"
    ticket = consent_ticket(browser.get(url, params=authz_params(client["clientId"], LOOPBACK_CB), timeout=5))
    answer = query(browser.post(url, data={"consent_ticket": ticket, "approve": "yes"}, allow_redirects=False))
    assert answer["code"] and answer["state"] == "st" and answer["iss"] == target.base
    # the ticket is single use
    again = browser.post(url, data={"consent_ticket": ticket, "approve": "yes"}, allow_redirects=False)
    assert again.status_code == 400 and "location" not in again.headers
    ticket = consent_ticket(browser.get(url, params=authz_params(client["clientId"], LOOPBACK_CB), timeout=5))
    denied = query(browser.post(url, data={"consent_ticket": ticket, "approve": "no"}, allow_redirects=False))
    assert denied["error"] == "access_denied" and "code" not in denied


def test_a_consent_ticket_works_only_in_the_browser_that_was_shown_it(target: Target) -> None:
    client = third_party(target)
    victim = signed_in_browser(target, "user0002")
    url = f"{target.base}/authorize"
    ticket = consent_ticket(victim.get(url, params=authz_params(client["clientId"], LOOPBACK_CB), timeout=5))
    for other in (requests.Session(), signed_in_browser(target, "user0003")):
        forged = other.post(url, data={"consent_ticket": ticket, "approve": "yes"}, allow_redirects=False)
        assert forged.status_code == 400 and "location" not in forged.headers
    assert query(victim.post(url, data={"consent_ticket": ticket, "approve": "yes"}, allow_redirects=False))["code"]


def test_signing_in_for_a_third_party_client_leads_to_consent(target: Target) -> None:
    client = third_party(target)
    browser = requests.Session()
    params = authz_params(client["clientId"], LOOPBACK_CB)
    assert browser.get(f"{target.base}/authorize", params=params, timeout=5).status_code == 200  # sign-in form
    page = browser.post(f"{target.base}/login", data={**params, "username": "user0004", "password": "pw-user0004"},
                        allow_redirects=False)
    ticket = consent_ticket(page)
    answer = query(browser.post(f"{target.base}/authorize", data={"consent_ticket": ticket, "approve": "yes"},
                                allow_redirects=False))
    assert answer["code"]


def test_prompt_consent_asks_a_first_party_client_too(target: Target) -> None:
    browser = signed_in_browser(target)
    url = f"{target.base}/authorize"
    silent = browser.get(url, params=authz_params(PUBLIC_CLIENT_ID, REDIRECT), allow_redirects=False)
    assert query(silent)["code"]  # first-party, live session: no screen
    page = browser.get(url, params=authz_params(PUBLIC_CLIENT_ID, REDIRECT, prompt="consent"), timeout=5)
    ticket = consent_ticket(page)
    assert query(browser.post(url, data={"consent_ticket": ticket, "approve": "yes"}, allow_redirects=False))["code"]


def test_prompt_none_never_shows_a_page(target: Target) -> None:
    url = f"{target.base}/authorize"
    client = third_party(target)
    anonymous = requests.get(url, params=authz_params(PUBLIC_CLIENT_ID, REDIRECT, prompt="none"),
                             allow_redirects=False, timeout=5)
    assert query(anonymous)["error"] == "login_required"
    browser = signed_in_browser(target)
    needs_consent = browser.get(url, params=authz_params(client["clientId"], LOOPBACK_CB, prompt="none"),
                                allow_redirects=False)
    assert query(needs_consent)["error"] == "consent_required" and "code" not in query(needs_consent)
    assert query(browser.get(url, params=authz_params(PUBLIC_CLIENT_ID, REDIRECT, prompt="none"),
                             allow_redirects=False))["code"]
    mixed = browser.get(url, params=authz_params(PUBLIC_CLIENT_ID, REDIRECT, prompt="none consent"),
                        allow_redirects=False)
    assert query(mixed)["error"] == "invalid_request"
    both = browser.get(url, params=authz_params(PUBLIC_CLIENT_ID, REDIRECT, prompt="login consent"), timeout=5)
    assert both.status_code == 200 and 'name="password"' in both.text  # login first, consent after
