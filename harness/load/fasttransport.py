"""A fast transport for the retry-aware clients: geventhttpclient (what Locust's FastHttpUser uses)
behind the small part of the requests.Session surface that `Caller` uses (`request`, `close`; responses
with `status_code`, `headers`, `content`, `json()`). Lives in `load/` because it needs gevent.

No hidden retries (geventhttpclient's UserAgent is not used; `HTTPClient` never retries) and no proxy
environment. Errors come out as requests' own exception types, so the clients' classifier sees the same
outcomes as with the default transport.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from geventhttpclient import HTTPClient
from requests.structures import CaseInsensitiveDict


class FastResponse:
    """Headers are turned into a CaseInsensitiveDict on first use only: a successful call never reads them."""

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


class FastSession:
    """One keep-alive connection pool per host, like a requests.Session with `pool_maxsize`."""

    def __init__(self, concurrency: int = 10):
        self.concurrency = concurrency
        self._clients: dict[tuple[str, str, int], HTTPClient] = {}

    def _client(self, scheme: str, host: str, port: int, timeout: tuple[float, float]) -> HTTPClient:
        key = (scheme, host, port)
        client = self._clients.get(key)
        if client is None:
            client = HTTPClient(
                host, port, ssl=scheme == "https", concurrency=self.concurrency,
                connection_timeout=timeout[0], network_timeout=timeout[1],
            )  # fmt: skip
            self._clients[key] = client
        return client

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
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        sent = dict(headers) if headers else {}
        body: bytes | None = None
        if isinstance(data, dict):
            body = urlencode(data).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(data, (str, bytes)):
            body = data.encode() if isinstance(data, str) else data
        if auth is not None:
            sent["Authorization"] = requests.auth._basic_auth_str(*auth)
        client = self._client(parts.scheme, parts.hostname or "127.0.0.1", port, timeout)
        try:
            response = client.request(method, path, body=body, headers=sent)
            content = response.read()
        except TimeoutError as exc:
            raise requests.Timeout(str(exc)) from exc
        except ConnectionResetError as exc:
            raise requests.ConnectionError(f"reset: {exc}") from exc
        except OSError as exc:
            raise requests.ConnectionError(str(exc)) from exc
        return FastResponse(response.status_code, response, content)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
