"""The local stack's own read-only endpoints on the API's origin, for a page
the app serves (an operator console) to read without another origin:

- ``GET /_devstack/status``: what the control endpoint's ``GET /status``
  answers (event sources, mappings, rules, deliveries, faults, clock);
- ``GET /_devstack/trace/{id}``: ``{"orderId": id, "deliveries": [...]}``,
  every kept invocation about ``id`` (an order's, a correlation id's), in the
  order they started, as ``python -m devstack trace`` prints them: ``at``,
  ``handler``, ``source`` (the event source's kind, or a request's method
  and path), ``durationMs``, ``outcome`` and ``logs`` (each record as a line
  of text: level, message, correlation id, exception).

The API server answers them before the app (``devstack.api``), untraced (a
page polling a trace must not become part of it) and without a token, like
the control endpoint itself; any other method is a 405, any other path
under the prefix a 404. A deployed API has no such route. Nothing here knows
the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from devstack.traces import entry_lines

PREFIX = "/_devstack/"
TRACE = "trace/"

Reply = tuple[int, dict[str, Any]]


def delivery(item: dict[str, Any]) -> dict[str, Any]:
    """One kept invocation (``Recorder.select``'s item) as the trace endpoint shows it."""
    request = "method" in item and "path" in item
    return {
        "at": item["startedAt"],
        "handler": item["handler"],
        "source": f"{item['method']} {item['path']}" if request else item["kind"],
        "durationMs": item["durationMs"],
        "outcome": str(item["outcome"]),
        "logs": ["\n".join(entry_lines(entry, indent="")) for entry in item.get("logs", [])],
    }


@dataclass(frozen=True)
class SameOrigin:
    """``status``: the control endpoint's status; ``traces``: the recorder's
    ``select`` (the invocations about an id)."""

    status: Callable[[], dict[str, Any]]
    traces: Callable[[str], list[dict[str, Any]]]

    def answer(self, method: str, target: str) -> Reply | None:
        """The reply to ``method target``, or None when the path is not one
        of these (the app's)."""
        path = urlsplit(target).path
        if not path.startswith(PREFIX):
            return None
        if method != "GET":
            return 405, {"message": f"{path} answers GET only"}
        rest = path[len(PREFIX) :]
        if rest == "status":
            return 200, self.status()
        ident = unquote(rest[len(TRACE) :]) if rest.startswith(TRACE) else ""
        if ident and "/" not in ident:
            items = self.traces(ident)
            return 200, {"orderId": ident, "deliveries": [delivery(i) for i in items]}
        return 404, {"message": f"no such local endpoint: {path}"}
