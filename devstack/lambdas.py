"""Lambda's Invoke for the app's own functions (``@app.lambda_function``).

``chalice deploy`` makes each of them a Lambda function named
``<app>-<stage>-<name>``, which other code calls with Lambda's Invoke; the
emulator has no such function (moto would need Docker to run one). So
``Functions.attach``, installed on every client the app creates
(``devstack.hooks``), answers an Invoke of one of the app's functions in this
process, by its name, ARN or partial ARN (qualifier none or ``$LATEST``), as
Lambda would:

- ``RequestResponse`` (the default): the handler runs once; 200 with its JSON
  result, or, when it raised, 200 with ``FunctionError: Unhandled`` and the
  Python runtime's error document (``errorMessage``, ``errorType``,
  ``requestId``, ``stackTrace``); a result that is not JSON is the runtime's
  ``Runtime.MarshalError``;
- ``Event``: 202 at once; the handler runs on a thread, up to three attempts as
  Lambda's asynchronous invocation makes (without the minutes between them),
  then the call is a failure in ``GET /status``; ``drain`` waits for it
  (``idle``), and the duplicate-delivery fault doubles it;
- ``DryRun``: 204.

A payload that is not JSON is Lambda's 400 ``InvalidRequestContentException``;
one over 6 MB (256 KB for ``Event``) its 413 ``RequestEntityTooLargeException``.
An Invoke of any other function goes on to the emulator, which answers
``ResourceNotFoundException``. Each call is traced and logged as a delivery
of kind ``lambda``. The fault hooks (``devstack.faults``) see an Invoke too,
and count it; botocore asks every ``before-send`` hook and takes the first
answer, theirs (installed first) before ours, so ours is lazy
(``_Deferred``): the function runs only when botocore reads the answer, which
it never does when a fault answered first.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSResponse
from urllib3 import HTTPResponse

from devstack.eventsources import ASYNC_ATTEMPTS, Delivery, Runtime

log = logging.getLogger("devstack.lambdas")

KIND = "lambda"
SYNC_LIMIT = 6 * 1024 * 1024
ASYNC_LIMIT = 256 * 1024


def _response(url: str, status: int, body: bytes, **headers: str) -> AWSResponse:
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), **headers}
    if body:
        headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(body))
    raw = HTTPResponse(body=io.BytesIO(body), status=status, preload_content=False)
    return AWSResponse(url, status, headers, raw)


def _error(url: str, status: int, error_type: str, message: str) -> AWSResponse:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return _response(url, status, body, **{"x-amzn-ErrorType": error_type})


DEVSTACK = str(Path(__file__).resolve().parent)


def _runtime_error(exc: BaseException, request_id: str) -> bytes:
    """The Python runtime's document for a handler that raised: its stack
    from the handler's call down (devstack's own frames left out, as the
    runtime leaves out its own)."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not str(Path(f.filename).resolve()).startswith(DEVSTACK)
    ]
    return json.dumps(
        {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_list(frames),
        }
    ).encode()


def function_name(target: str) -> tuple[str, str | None]:
    """Invoke's FunctionName (a name, ``name:qualifier``, an ARN or a partial
    ARN ``123456789012:function:name``) as (name, qualifier)."""
    parts = target.split(":")
    rest = parts[parts.index("function") + 1 :] if "function" in parts else parts
    return rest[0], (rest[1] if len(rest) > 1 else None)


class _Deferred(AWSResponse):  # type: ignore[misc]  # botocore is untyped
    """An answer computed when botocore first reads it (see the module's doc)."""

    def __init__(self, url: str, answer: Callable[[], AWSResponse]) -> None:
        self.url = url
        self._answer = answer
        self._response: AWSResponse | None = None
        self._content = None

    def _resolved(self) -> AWSResponse:
        if self._response is None:
            self._response = self._answer()
        return self._response

    @property
    def status_code(self) -> int:
        return int(self._resolved().status_code)

    @property
    def headers(self) -> Any:
        return self._resolved().headers

    @property
    def raw(self) -> Any:
        return self._resolved().raw


class Functions:
    """The app's pure Lambda functions, answering Invoke for them (``attach``)."""

    def __init__(self) -> None:
        self.rt: Runtime | None = None
        self.app: Any = None
        self.names: dict[str, str] = {}  # deployed name -> the app's name for it
        self._cond = threading.Condition()
        self._running = 0

    def bind(self, app: Any, rt: Runtime) -> None:
        """Answer for ``app``'s functions from now on, under their deployed
        names (again with a reloaded app: handlers are looked up at each call)."""
        self.names = {rt.function_name(f.name): f.name for f in app.pure_lambda_functions}
        self.app, self.rt = app, rt
        for name in self.names:
            log.info("wired lambda %s", name)

    def attach(self, client: Any) -> None:
        if client.meta.service_model.service_name != "lambda":
            return

        def before_send(request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
            return self.invoke(request) if event_name == "before-send.lambda.Invoke" else None

        # On "before-send" itself, as the fault hooks: handlers of one event
        # run in the order they were registered, so theirs come first.
        client.meta.events.register(
            "before-send", before_send, unique_id=f"devstack-lambdas-{id(self)}"
        )

    def invoke(self, request: Any) -> AWSResponse | None:
        """Lambda's answer to the Invoke ``request`` (run when read); None:
        not one of ours."""
        segments = urlsplit(request.url).path.split("/")
        if len(segments) < 4 or self.rt is None:
            return None
        name, qualifier = function_name(unquote(segments[3]))
        if name not in self.names or qualifier not in (None, "$LATEST"):
            return None
        return _Deferred(request.url, lambda: self._answer(request, self.names[name]))

    def _answer(self, request: Any, short: str) -> AWSResponse:
        handler = self.app.handler_map[short]
        mode = request.headers.get("X-Amz-Invocation-Type", b"RequestResponse")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else bytes(body)
        if len(body) > (ASYNC_LIMIT if mode == "Event" else SYNC_LIMIT):
            return _error(
                request.url,
                413,
                "RequestEntityTooLargeException",
                f"{len(body)} byte payload is too large for the {mode} invocation type",
            )
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            return _error(
                request.url,
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {exc}",
            )
        if mode == "DryRun":
            return _response(request.url, 204, b"")
        if mode == "Event":
            self._queue(short, handler, event)
            return _response(request.url, 202, b"")
        return self._call(request.url, short, handler, event)

    def _call(self, url: str, name: str, handler: Any, event: Any) -> AWSResponse:
        rt = self.rt
        assert rt is not None
        started = time.perf_counter()
        traces: list[Any] = []
        # Once, as Lambda runs a synchronous invocation (rt.invoke would run
        # it twice under the duplicate-delivery fault).
        result, exc = rt._call(KIND, name, handler, event, 1, traces)
        request_id = str(uuid.uuid4())
        if exc is None:
            try:
                payload = json.dumps(result).encode()
            except (TypeError, ValueError) as marshal:
                exc = marshal
                payload = json.dumps(
                    {
                        "errorMessage": f"Unable to marshal response: {marshal}",
                        "errorType": "Runtime.MarshalError",
                        "requestId": request_id,
                        "stackTrace": [],
                    }
                ).encode()
        else:
            payload = _runtime_error(exc, request_id)
        ms = round((time.perf_counter() - started) * 1000, 1)
        failed = exc is not None
        rt.record(Delivery(KIND, name, 1, "error" if failed else "ok", int(failed), ms), traces)
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": request_id}
        if failed:
            headers["X-Amz-Function-Error"] = "Unhandled"
        return _response(url, 200, payload, **headers)

    def _queue(self, name: str, handler: Any, event: Any) -> None:
        with self._cond:
            self._running += 1
        threading.Thread(
            target=self._run_async, args=(name, handler, event), name=f"lambda-{name}", daemon=True
        ).start()

    def _run_async(self, name: str, handler: Any, event: Any) -> None:
        rt = self.rt
        assert rt is not None
        try:
            for _attempt in range(ASYNC_ATTEMPTS):
                _, error = rt.invoke(KIND, name, handler, event, 1)
                if error is None:
                    return
            rt.fail(KIND, name, f"failed {ASYNC_ATTEMPTS} attempts", event)
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def idle(self, timeout: float) -> bool:
        """Whether every queued invocation has finished (waiting up to ``timeout``)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._running == 0, timeout=timeout)
