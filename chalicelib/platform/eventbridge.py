"""The domain bus on EventBridge: the adapter behind
``chalicelib.platform.messaging.EventBus``.

``PutEvents`` takes at most 10 entries and 256 KB a call, and may accept a
call while rejecting some of its entries (``FailedEntryCount``, an error code
per entry): those are sent again, a few times, and if any is still refused
the call raises ``Transient``, so the caller's batch fails and is retried
(the relay's stream batch: no event is dropped). Entries accepted before are
on the bus already; a retried batch sends them again, which every consumer
tolerates (at-least-once delivery).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from chalicelib.platform import aws, errors
from chalicelib.platform.messaging import BusEvent

# IAM actions this module's own calls need (collected by tools.iam).
AWS_CALLS = frozenset({"events:PutEvents"})

MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
ATTEMPTS = 3  # for the entries of one call that came back failed
_BACKOFF_S = 0.05


def entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as EventBridge counts it (the 14 bytes are Time's)."""
    size = 14
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key, "")).encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources", []))


def batches(entries: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """``entries`` in calls of at most 10 entries and 256 KB."""
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        n = entry_size(entry)
        if batch and (len(batch) == MAX_ENTRIES or size + n > MAX_REQUEST_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += n
    if batch:
        yield batch


class EventBridgeBus:
    def __init__(self, bus_name: str) -> None:
        self.bus_name = bus_name

    def _entry(self, event: BusEvent) -> dict[str, Any]:
        entry = {
            "EventBusName": self.bus_name,
            "Source": event.source,
            "DetailType": event.detail_type,
            "Detail": event.detail,
        }
        # In Lambda with active tracing: each event continues the invocation's
        # trace into the rules' targets (EventBridge reads it per entry).
        trace = os.environ.get("_X_AMZN_TRACE_ID")
        if trace and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            entry["TraceHeader"] = trace
        return entry

    def put(self, events: list[BusEvent]) -> None:
        client = aws.client("events")
        for batch in batches([self._entry(e) for e in events]):
            pending = batch
            for attempt in range(ATTEMPTS):
                with aws.translate():
                    response = client.put_events(Entries=pending)
                if not response.get("FailedEntryCount"):
                    break
                results = response.get("Entries", [])
                pending = [e for e, r in zip(pending, results, strict=False) if r.get("ErrorCode")]
                if not pending:
                    break
                if attempt < ATTEMPTS - 1:
                    time.sleep(_BACKOFF_S * 2**attempt)
            else:
                first: dict[str, Any] = next((r for r in results if r.get("ErrorCode")), {})
                raise errors.Transient(
                    f"EventBridge refused {len(pending)} event(s) after {ATTEMPTS} attempts: "
                    f"{first.get('ErrorCode')}: {first.get('ErrorMessage')}"
                )
