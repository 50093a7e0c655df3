"""Errors of the control API: a few named values, each with its HTTP status (as Toxiproxy's api.go)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ApiError(Exception):
    """An error the API answers with `{"error": message, "status": status}` and that HTTP status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


@dataclass(frozen=True)
class ErrorKind:
    message: str
    status: int

    def __call__(self, detail: object = None) -> ApiError:
        """A fresh exception, with `detail` appended the way Toxiproxy joins errors (`message: detail`)."""
        text = self.message if detail is None else f"{self.message}: {detail}"
        return ApiError(text, self.status)


BAD_REQUEST_BODY = ErrorKind("bad request body", 400)
MISSING_FIELD = ErrorKind("missing required field", 400)
INVALID_ADDRESS = ErrorKind("invalid address", 400)
LISTEN_NOT_ALLOWED = ErrorKind("listen address not allowed", 400)
PROXY_NOT_FOUND = ErrorKind("proxy not found", 404)
PROXY_ALREADY_EXISTS = ErrorKind("proxy already exists", 409)
INVALID_STREAM = ErrorKind("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ErrorKind("invalid toxic type", 400)
INVALID_ATTRIBUTES = ErrorKind("invalid toxic attributes", 400)
TOXIC_ALREADY_EXISTS = ErrorKind("toxic already exists", 409)
TOXIC_NOT_FOUND = ErrorKind("toxic not found", 404)
LISTEN_FAILED = ErrorKind("could not listen", 500)
