"""A small synchronous client of the Toxiproxy API (ours or a real Toxiproxy), on `requests`.

    client = ToxiproxyClient("http://127.0.0.1:8474")
    client.wait_ready(timeout_s=10)
    proxy = client.create_proxy("sso", upstream="127.0.0.1:9000")          # listen 127.0.0.1:0
    client.add_toxic("sso", "http_error", stream="upstream", attributes={"status": 503, "path": "/token"})
    client.reset()

Errors: ToxiproxyError (base) carries the HTTP status and the server's own error text;
NotFoundError (404), ConflictError (409), BadRequestError (400); ToxiproxyUnavailable when the API
cannot be reached.
"""

from __future__ import annotations

import time
from typing import Any

import requests


class ToxiproxyError(Exception):
    """The API answered with an error status."""

    def __init__(self, method: str, url: str, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"{method} {url}: HTTP {status}: {message}")


class BadRequestError(ToxiproxyError):
    pass


class NotFoundError(ToxiproxyError):
    pass


class ConflictError(ToxiproxyError):
    pass


class ToxiproxyUnavailable(ToxiproxyError):
    """No answer from the API (connection refused, timeout)."""


_BY_STATUS: dict[int, type[ToxiproxyError]] = {400: BadRequestError, 404: NotFoundError, 409: ConflictError}


class ToxiproxyClient:
    def __init__(self, api_url: str = "http://127.0.0.1:8474", timeout_s: float = 10.0):
        self.api_url = api_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = requests.Session()

    # --- proxies ---------------------------------------------------------------------------------

    def get_proxies(self) -> dict[str, dict[str, Any]]:
        """Every proxy by name: {name, listen, upstream, enabled, toxics}."""
        result: dict[str, dict[str, Any]] = self._call("GET", "/proxies")
        return result

    def get_proxy(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/proxies/{name}")
        return result

    def create_proxy(
        self,
        name: str,
        upstream: str,
        listen: str = "127.0.0.1:0",
        enabled: bool = True,
        *,
        listen_tls: dict[str, str] | None = None,
        upstream_tls: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Creates a proxy; the answer's `listen` has the real port when `listen` ends in :0. The TLS fields
        are our proxy's (harness.proxy.tls); a real Toxiproxy ignores them, and its answer lacks them."""
        body: dict[str, Any] = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        if listen_tls is not None:
            body["listen_tls"] = listen_tls
        if upstream_tls is not None:
            body["upstream_tls"] = upstream_tls
        result: dict[str, Any] = self._call("POST", "/proxies", body)
        return result

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result: dict[str, Any] = self._call("POST", "/populate", proxies)
        return list(result["proxies"])

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        """Changes listen, upstream or enabled (enabled=False closes the listener and its connections)."""
        result: dict[str, Any] = self._call("POST", f"/proxies/{name}", fields)
        return result

    def enable(self, name: str) -> dict[str, Any]:
        return self.update_proxy(name, enabled=True)

    def disable(self, name: str) -> dict[str, Any]:
        return self.update_proxy(name, enabled=False)

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    # --- toxics ----------------------------------------------------------------------------------

    def get_toxics(self, proxy: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/proxies/{proxy}/toxics")
        return result

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        stream: str | None = None,
        toxicity: float = 1.0,
    ) -> dict[str, Any]:
        """Adds a toxic; `name` defaults to `<type>_<stream>` on the server, `stream` to the toxic's
        default (downstream for Toxiproxy's toxics, upstream for the HTTP ones)."""
        body: dict[str, Any] = {"type": type, "toxicity": toxicity, "attributes": attributes or {}}
        if name is not None:
            body["name"] = name
        if stream is not None:
            body["stream"] = stream
        result: dict[str, Any] = self._call("POST", f"/proxies/{proxy}/toxics", body)
        return result

    def update_toxic(
        self, proxy: str, name: str, attributes: dict[str, Any] | None = None, toxicity: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"attributes": attributes or {}}
        if toxicity is not None:
            body["toxicity"] = toxicity
        result: dict[str, Any] = self._call("PATCH", f"/proxies/{proxy}/toxics/{name}", body)
        return result

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    # --- server ----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Enables every proxy and removes every toxic."""
        self._call("POST", "/reset")

    def version(self) -> str:
        return str(self._call("GET", "/version")["version"])

    def metrics(self) -> str:
        """Prometheus text (our proxy only; a real Toxiproxy needs its metrics flag)."""
        response = self._request("GET", "/metrics")
        return response.text

    def wait_ready(self, timeout_s: float = 10.0, interval_s: float = 0.05) -> None:
        """Polls GET /version until it answers; ToxiproxyUnavailable after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._call("GET", "/version", timeout_s=min(1.0, self.timeout_s))
                return
            except ToxiproxyUnavailable:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(interval_s)

    def close(self) -> None:
        self._session.close()

    # --- plumbing --------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None, timeout_s: float | None = None) -> requests.Response:
        url = self.api_url + path
        try:
            response = self._session.request(
                method, url, json=body, timeout=timeout_s or self.timeout_s, headers={"User-Agent": "harness"}
            )
        except requests.RequestException as exc:
            raise ToxiproxyUnavailable(method, url, 0, str(exc)) from exc
        if response.status_code >= 400:
            try:
                message = str(response.json().get("error", response.text))
            except ValueError:
                message = response.text.strip()
            raise _BY_STATUS.get(response.status_code, ToxiproxyError)(method, url, response.status_code, message)
        return response

    def _call(self, method: str, path: str, body: Any = None, timeout_s: float | None = None) -> Any:
        response = self._request(method, path, body, timeout_s)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


__all__ = [
    "BadRequestError",
    "ConflictError",
    "NotFoundError",
    "ToxiproxyClient",
    "ToxiproxyError",
    "ToxiproxyUnavailable",
]
