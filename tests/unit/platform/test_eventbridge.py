"""The domain bus adapter: PutEvents in calls of at most 10 entries and 256 KB;
entries EventBridge refuses are sent again and, if still refused, the call
raises (the relay's stream batch fails and is retried: nothing is dropped)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.platform import aws, errors, eventbridge
from chalicelib.platform.eventbridge import EventBridgeBus, entry_size
from chalicelib.platform.messaging import BusEvent


class Client:
    """PutEvents as EventBridge answers it: ``refuse`` says, per call, which
    entries (by their detail's "n") come back with an error code."""

    def __init__(self, refuse: list[set[int]] | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.refuse = refuse or []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        refused = self.refuse[len(self.calls)] if len(self.calls) < len(self.refuse) else set()
        self.calls.append(Entries)
        results = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
            if json.loads(e["Detail"])["n"] in refused
            else {"EventId": f"id-{i}"}
            for i, e in enumerate(Entries)
        ]
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Client:
    fake = Client()
    monkeypatch.setattr(aws, "client", lambda service: fake)
    monkeypatch.setattr(eventbridge, "_BACKOFF_S", 0)
    return fake


def events(count: int, pad: int = 0) -> list[BusEvent]:
    return [
        BusEvent("eventshop.orders", "OrderPlaced", json.dumps({"n": n, "pad": "x" * pad}))
        for n in range(count)
    ]


def sent(calls: list[list[dict[str, Any]]]) -> list[list[int]]:
    return [[json.loads(e["Detail"])["n"] for e in call] for call in calls]


def test_every_event_goes_to_the_stages_bus_ten_at_a_time(client: Client) -> None:
    EventBridgeBus("eventshop-dev").put(events(23))
    assert sent(client.calls) == [list(range(10)), list(range(10, 20)), [20, 21, 22]]
    first = client.calls[0][0]
    assert (first["EventBusName"], first["Source"], first["DetailType"]) == (
        "eventshop-dev",
        "eventshop.orders",
        "OrderPlaced",
    )


def test_a_call_never_exceeds_256_kb(client: Client) -> None:
    big = events(5, pad=100_000)  # about 100 KB each: two fit in a call
    EventBridgeBus("b").put(big)
    assert sent(client.calls) == [[0, 1], [2, 3], [4]]
    for call in client.calls:
        assert sum(entry_size(e) for e in call) <= 256 * 1024


def test_refused_entries_are_sent_again_and_only_they(client: Client) -> None:
    client.refuse = [{1, 3}, {3}]
    EventBridgeBus("b").put(events(4))
    assert sent(client.calls) == [[0, 1, 2, 3], [1, 3], [3]]


def test_entries_still_refused_fail_the_call(client: Client) -> None:
    client.refuse = [{2}, {2}, {2}]
    with pytest.raises(errors.Transient, match=r"refused 1 event.*InternalFailure: try again"):
        EventBridgeBus("b").put(events(3))
    assert sent(client.calls) == [[0, 1, 2], [2], [2]]


def test_in_lambda_each_event_carries_the_invocations_trace_header(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    EventBridgeBus("b").put(events(1))
    assert "TraceHeader" not in client.calls[0][0]  # outside Lambda: none
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "eventshop-dev-relay_order_events")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    EventBridgeBus("b").put(events(1))
    assert client.calls[1][0]["TraceHeader"].startswith("Root=1-5759e988")
