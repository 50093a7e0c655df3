"""A fast transport for the retry-aware clients: the HTTP client Locust's FastHttpUser uses (its
`LocustUserAgent` over geventhttpclient, with a cookie jar and the same default headers) behind the small
part of the requests.Session surface that `Caller` uses (`request`, `close`; responses with `status_code`,
`headers`, `content`, `json()`). Lives in `load/` because it needs gevent.

It does per request what FastHttpUser's client does (URL parsing, cookies in and out, `Accept-Encoding`,
decompression, status check) so that "harness user on the fast transport vs FastHttpUser" compares like
with like: an earlier version called geventhttpclient's bare HTTPClient, skipped all of that, and measured
1.6x FastHttpUser. No hidden retries or redirects (`max_retries=0`, redirects off: the caller's policy
decides), no proxy environment, TLS verified. Errors come out as requests' own exception types, so the
clients' classifier sees the same outcomes as with the default transport.
"""

from __future__ import annotations

import json
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urlencode

import gevent
import gevent.ssl
import requests
from geventhttpclient.useragent import RetriesExceeded
from locust.contrib.fasthttp import LocustUserAgent
from requests.structures import CaseInsensitiveDict

ACCEPT_ENCODING = "gzip, deflate, br"  # what FastHttpSession adds to every request


class FastResponse:
    """Headers become a CaseInsensitiveDict on first use only: a successful call never reads them."""

    def __init__(self, status_code: int, headers: Any, content: bytes):
        self.status_code = status_code
        self._raw_headers = headers
        self._headers: CaseInsensitiveDict[str] | None = None
        self.content = content

    @property
    def headers(self) -> CaseInsensitiveDict[str]:
        if self._headers is None:
            self._headers = CaseInsensitiveDict(self._raw_headers.items())
        return self._headers

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _UserAgent(LocustUserAgent):
    redirect_response_codes = frozenset()  # a redirect is an answer for the caller, as allow_redirects=False


class FastSession:
    """One user's client, as FastHttpUser makes it: a keep-alive pool per host (`concurrency` connections),
    a cookie jar; timeouts are the caller's (one client per pair of timeouts)."""

    def __init__(self, concurrency: int = 10):
        self.concurrency = concurrency
        self.cookies = CookieJar()
        self._agents: dict[tuple[float, float], _UserAgent] = {}

    def _agent(self, timeout: tuple[float, float]) -> _UserAgent:
        agent = self._agents.get(timeout)
        if agent is None:
            agent = _UserAgent(
                cookiejar=self.cookies, max_retries=0, max_redirects=0, insecure=False,
                ssl_context_factory=gevent.ssl.create_default_context, concurrency=self.concurrency,
                connection_timeout=timeout[0], network_timeout=timeout[1],
            )  # fmt: skip
            self._agents[timeout] = agent
        return agent

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Any = None,
        timeout: tuple[float, float] = (2.0, 5.0),
        data: Any = None,
        auth: tuple[str, str] | None = None,
        **_: Any,
    ) -> FastResponse:
        sent = dict(headers) if headers else {}
        sent.setdefault("Accept-Encoding", ACCEPT_ENCODING)
        body: bytes | None = None
        if isinstance(data, dict):
            body = urlencode(data).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(data, str | bytes):
            body = data.encode() if isinstance(data, str) else data
        if auth is not None:
            sent["Authorization"] = requests.auth._basic_auth_str(*auth)
        response: Any
        try:
            try:
                response = self._agent(timeout).urlopen(url, method=method, payload=body, headers=sent)
            except RetriesExceeded as exc:  # max_retries=0: what went wrong is the original error
                raise getattr(exc, "original", None) or exc from None
            except Exception as exc:
                response = getattr(exc, "response", None)  # a status other than 2xx/3xx: an answer
                if response is None:
                    raise
            return FastResponse(response.status_code, response.headers, response.content)
        except (TimeoutError, gevent.Timeout) as exc:
            raise requests.Timeout(str(exc)) from exc
        except ConnectionResetError as exc:
            raise requests.ConnectionError(f"reset: {exc}") from exc
        except OSError as exc:
            raise requests.ConnectionError(str(exc)) from exc

    def close(self) -> None:
        for agent in self._agents.values():
            agent.close()
        self._agents.clear()
