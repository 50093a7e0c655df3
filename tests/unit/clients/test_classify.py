from __future__ import annotations

import errno
import ssl

import pytest
import requests
import urllib3.exceptions

from harness.clients.classify import classify_exception, classify_response, classify_status


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "ok"), (204, "ok"), (302, "ok"), (400, "http_4xx"), (401, "http_4xx"), (429, "http_429"),
     (500, "http_5xx"), (503, "http_5xx"), (599, "http_5xx"), (999, "protocol_error")],
)
def test_status(status: int, outcome: str) -> None:
    assert classify_status(status) == outcome


def test_connect_timeout_is_a_connect_error_not_a_timeout() -> None:
    assert classify_exception(requests.exceptions.ConnectTimeout()) == "connect_error"


def test_read_timeout() -> None:
    assert classify_exception(requests.exceptions.ReadTimeout()) == "timeout"


def test_refused_connection() -> None:
    refused = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    exc = requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", refused))  # type: ignore[arg-type]
    assert classify_exception(exc) == "connect_error"


def test_reset_mid_exchange() -> None:
    reset = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    exc = requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", reset))
    assert classify_exception(exc) == "reset"


def test_peer_closed_without_response_is_reset() -> None:
    exc = requests.exceptions.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionError("Remote end closed"))
    )
    assert classify_exception(exc) == "reset"


def test_truncated_body_is_protocol_error() -> None:
    assert classify_exception(requests.exceptions.ChunkedEncodingError("incomplete")) == "protocol_error"


def test_bad_json_is_protocol_error() -> None:
    assert classify_exception(requests.exceptions.JSONDecodeError("x", "doc", 0)) == "protocol_error"


def _ssl_error(inner: BaseException) -> requests.exceptions.SSLError:
    return requests.exceptions.SSLError(
        urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.SSLError(inner))  # type: ignore[arg-type]
    )


def test_a_certificate_that_does_not_verify_is_a_tls_error() -> None:
    failed = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert classify_exception(_ssl_error(failed)) == "tls_error"


def test_a_handshake_alert_is_a_tls_error_but_a_peer_gone_mid_handshake_is_not() -> None:
    assert classify_exception(_ssl_error(ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA]"))) == "tls_error"
    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    assert classify_exception(_ssl_error(eof)) == "connect_error"
    reset = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    assert classify_exception(_ssl_error(reset)) == "reset"


def _response(status: int, headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    return response


def test_our_proxys_502_for_the_providers_certificate_is_a_tls_error() -> None:
    assert classify_response(_response(502, {"X-Harness-Proxy-Error": "upstream-tls"})) == "tls_error"
    assert classify_response(_response(502, {})) == "http_5xx"  # any other bad gateway is the provider's 5xx
    assert classify_response(_response(200, {"X-Harness-Proxy-Error": "upstream-tls"})) == "ok"
