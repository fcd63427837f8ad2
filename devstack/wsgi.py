"""What the emulator's WSGI layers share: the request body read once, and the
status code a response starts with."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Any


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back for the next layer."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ.get("wsgi.input")
    body = stream.read(length) if stream is not None and length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def recording_status(start_response: Any) -> tuple[list[int], Callable[..., Any]]:
    """A ``start_response`` that notes the status code in the list it returns."""
    status: list[int] = []

    def recording(code: str, headers: Any, exc_info: Any = None) -> Any:
        status.append(int(code.split(" ", 1)[0]))
        return start_response(code, headers, exc_info)

    return status, recording


def call(app: WSGIApp, environ: dict[str, Any], start_response: Any) -> bytes:
    """The whole response body of one call (the result closed after)."""
    result: Iterable[bytes] = app(environ, start_response)
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
