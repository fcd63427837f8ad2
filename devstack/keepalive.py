"""HTTP/1.1 keep-alive for the emulator's server.

Werkzeug's development server answers every request with ``Connection:
close`` (its handler cannot drain a request body it did not read before the
next request line). Behind the emulator that made every AWS call of every
handler a new TCP connection and, on the server's side, a new thread: in a
profile of one order at a time, connecting was 15% of the stack's busy time
and a large share of each hop. Every request an AWS SDK sends has a
``Content-Length`` body, so this handler reads the whole body first, gives
the application a buffer of it, and answers with a ``Content-Length``: the
connection is left in a known state and stays open for the client's next
request. A request it cannot frame so (a chunked body) is served by
Werkzeug's own path, which closes the connection after it.
"""

from __future__ import annotations

import io
import logging
import traceback
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler

log = logging.getLogger("devstack.emulator")

# Headers that describe this connection, not the response: ours, not the app's.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class KeepAliveRequestHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"

    def run_wsgi(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            super().run_wsgi()  # Werkzeug's dechunking; it closes the connection
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self.send_error(400, "Bad Content-Length")
            return
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        body = environ["wsgi.input"].read(length) if length else b""
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(length)
        environ["wsgi.input_terminated"] = True
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            started[:] = [status, list(headers)]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:  # noqa: BLE001 - the app failed: a 500, as Werkzeug answers it
            log.error("emulator request failed:\n%s", traceback.format_exc())
            self.close_connection = True
            started[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
            chunks[:] = [b"Internal Server Error"]
        status, headers = started
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        payload = b"".join(chunks)
        self.send_response(code, reason)
        declared = None
        for key, value in headers:
            if key.lower() == "content-length":
                declared = value
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        head = environ["REQUEST_METHOD"] == "HEAD"
        if not (100 <= code < 200 or code in (204, 304)):
            # HEAD keeps the length the app declared for the body it did not send.
            self.send_header(
                "Content-Length", declared if head and declared is not None else str(len(payload))
            )
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if payload and not head and code not in (204, 304):
            self.wfile.write(payload)
        self.wfile.flush()
