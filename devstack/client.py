"""Client for a running stack's control endpoint (tests, tools, CLI)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote


class DrainTimedOut(AssertionError):
    """The stack did not go idle in time: something is stuck or looping."""


class ReloadNotTried(AssertionError):
    """The stack tried no reload in time: its watcher did not see the change."""


class StackControl:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - http to our own loopback
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def drain(self, timeout: float = 30) -> dict[str, Any]:
        status, body = self._call("POST", "/drain", {"timeout": timeout}, timeout=timeout + 10)
        if status != 200:
            raise DrainTimedOut(f"not idle after {timeout}s: {body.get('pending')}")
        return dict(body)

    def status(self) -> dict[str, Any]:
        return dict(self._call("GET", "/status")[1])

    def reload(self) -> dict[str, Any]:
        """Import the app's code again now (a stack run with ``--reload``):
        the reload's status, ``ok`` false with the error when it failed."""
        return dict(self._call("POST", "/reload", {}, timeout=120)[1])

    def wait_reload(self, after: int, timeout: float = 30) -> dict[str, Any]:
        """The reload status once more than ``after`` reloads were tried
        (its ``reloads`` plus ``failed``): the watcher saw a change."""
        status, body = self._call(
            "POST", "/reload/wait", {"after": after, "timeout": timeout}, timeout=timeout + 10
        )
        if status != 200:
            raise ReloadNotTried(f"no reload tried within {timeout}s: {body}")
        return dict(body)

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/deliveries")[1]["items"])

    def advance_clock(self, seconds: float) -> str:
        return str(self._call("POST", "/clock/advance", {"seconds": seconds})[1]["clock"])

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/faults", faults)[1])

    def aws_calls(self) -> dict[str, Any]:
        return dict(self._call("GET", "/aws-calls")[1])

    def reset_aws_calls(self) -> dict[str, Any]:
        return dict(self._call("POST", "/aws-calls/reset", {})[1])

    def traces(self, ident: str) -> list[dict[str, Any]]:
        """Every kept handler invocation about ``ident`` (a correlation, order
        or image id...), in the order they started."""
        return list(self._call("GET", "/traces/" + quote(ident, safe=""))[1]["items"])

    def metrics(self) -> dict[str, Any]:
        """The app's EMF metrics since start or the last reset, by series."""
        return dict(self._call("GET", "/metrics")[1])

    def reset_metrics(self) -> dict[str, Any]:
        return dict(self._call("POST", "/metrics/reset", {})[1])
