"""The second actor of interactive logins: a browser with its own cookie jar that follows redirects one
hop at a time (each hop a recorded step), fills the sign-in form with the user's credentials and accepts
any consent or confirmation form, until the provider redirects to the client's redirect URI."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from harness.clients.caller import Caller, OperationResult
from harness.clients.oauth import UserCredentials
from harness.endpoints import EMBEDDED_PATHS

MAX_HOPS = 8
USER_FIELDS = ("username", "user", "email", "login", "user_name")
APPROVE_WORDS = ("approve", "allow", "accept", "confirm", "yes", "consent")
DENY_WORDS = ("deny", "no", "cancel", "abort", "reject", "decline", "refuse")


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    password_field: str | None = None
    submit: dict[str, str] = field(default_factory=dict)
    submit_approves: bool = False


class _FormParser(HTMLParser):
    """Forms with the controls that belong to them: those inside the form, and those elsewhere that name
    it in a `form` attribute (HTML's form owner: oidc-provider's device confirmation puts its buttons
    after the form). A control outside every form that names none belongs to none."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.by_id: dict[str, Form] = {}
        self.open: Form | None = None
        self.pending: list[tuple[str, dict[str, str]]] = []  # controls naming a form further down

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.open = Form(a.get("action", ""), a.get("method", "get").upper())
            self.forms.append(self.open)
            if a.get("id"):
                self.by_id[a["id"]] = self.open
        elif tag in ("input", "button"):
            if owner := a.get("form"):
                if owner in self.by_id:
                    _add_control(self.by_id[owner], tag, a)
                else:
                    self.pending.append((tag, a))
            elif self.open is not None:
                _add_control(self.open, tag, a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.open = None

    def close(self) -> None:
        super().close()
        for tag, a in self.pending:
            if a["form"] in self.by_id:
                _add_control(self.by_id[a["form"]], tag, a)


def _add_control(form: Form, tag: str, a: dict[str, str]) -> None:
    name, kind = a.get("name", ""), a.get("type", "submit" if tag == "button" else "text").lower()
    if not name:
        return
    if kind == "password":
        form.password_field = name
    elif kind == "submit":
        _offer_submit(form, name, a.get("value", ""))
    elif kind in ("button", "reset", "image"):
        return  # script-driven or clearing buttons send nothing a person means to send
    elif kind not in ("checkbox", "radio") or "checked" in a:
        form.fields[name] = a.get("value", "")


def _denies(word: str) -> bool:
    word = word.strip().lower()
    return word in DENY_WORDS or any(w in word for w in DENY_WORDS if len(w) > 2)


def _offer_submit(form: Form, name: str, value: str) -> None:
    """Keep the button a person would press to go on: an approving one over any other, never a denying
    one. Either word can deny: `name="approve" value="no"` refuses, and so does `name="abort" value="yes"`
    (oidc-provider's device confirmation); the value says approve, or the name when there is no value."""
    if _denies(value) or _denies(name):
        return
    word = value.strip().lower() or name.lower()
    approves = any(w in word for w in APPROVE_WORDS)
    if not form.submit or (approves and not form.submit_approves):
        form.submit, form.submit_approves = {name: value}, approves


def forms_in(html: str) -> list[Form]:
    parser = _FormParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        return []
    return parser.forms


@dataclass
class Landing:
    """Where the browser ended: the redirect URI's query, or the outcome that stopped it."""

    query: dict[str, str] | None
    last: OperationResult | None


class Browser:
    def __init__(self, caller: Caller, flow: str, user: UserCredentials, redirect_uri: str):
        self.caller, self.flow, self.user, self.redirect_uri = caller, flow, user, redirect_uri
        self.session = requests.Session()
        self.session.trust_env = False
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, caller.session.get_adapter(prefix))

    def close(self) -> None:
        self.session.close()

    def visit(self, url: str, step: str, endpoint: str) -> Landing:
        """GET `url` and carry on through redirects and forms until the redirect URI (or a dead end)."""
        result = self._go(step, "GET", url, endpoint)
        for _ in range(MAX_HOPS):
            if not result.ok or result.response is None:
                return Landing(None, result)
            response = result.response
            if response.is_redirect:
                target = urljoin(response.url, response.headers.get("location", ""))
                if self._is_redirect_uri(target):
                    return Landing({k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}, result)
                result = self._go("redirect", "GET", target, _endpoint_of(target))
                continue
            forms = forms_in(response.text)
            if not forms:
                return Landing(None, result)  # a page with nothing to do: e.g. "device approved"
            form = forms[0]
            data = dict(form.fields)
            if form.password_field is not None:
                user_field = next((f for f in data if f.lower() in USER_FIELDS), "username")
                data[user_field], data[form.password_field] = self.user.username, self.user.password
                step = "login"
            else:
                step = "consent"
            data.update(form.submit)
            action = urljoin(response.url, form.action or response.url)
            if form.method == "POST":
                result = self._go(step, "POST", action, _endpoint_of(action), data=data)
            else:
                result = self._go(step, "GET", action, _endpoint_of(action), params=data)
        return Landing(None, result)

    def _go(self, step: str, method: str, url: str, endpoint: str, **kwargs: Any) -> OperationResult:
        return self.caller.call(self.flow, step, method, url, endpoint=endpoint, session=self.session, **kwargs)

    def _is_redirect_uri(self, url: str) -> bool:
        want, got = urlsplit(self.redirect_uri), urlsplit(url)
        # RFC 8252 7.3: a loopback redirect URI matches on any port
        return (got.scheme, got.hostname, got.path) == (want.scheme, want.hostname, want.path)


def _endpoint_of(url: str) -> str:
    """The logical endpoint name of a path on the embedded target, else the path itself (no query)."""
    path = urlsplit(url).path or "/"
    for name, known in EMBEDDED_PATHS.items():
        if path == known:
            return name
    return path
