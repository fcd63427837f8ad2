"""The dead-letter watcher: an alert for each DLQ deeper than at its last run."""

from __future__ import annotations

from chalicelib.ops.dead_letters import DeadLetter, DeadLetterService, Redrive
from tests.support.fakes import FakeAlerts


class Store:
    def __init__(self) -> None:
        self.depths = {"app-payments-dlq": 0, "app-stream-failures": 0}

    def queues(self) -> dict[str, str]:
        return {"app-payments-dlq": "app-payments", "app-stream-failures": "streams"}

    def depth(self, queue: str) -> int:
        return self.depths[queue]

    def peek(self, queue: str, limit: int) -> list[DeadLetter]:
        return []

    def delete(self, queue: str, message_id: str) -> bool:
        return False

    def redrive(self, queue: str) -> Redrive:
        raise AssertionError("not here")


class Depths:
    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def swap(self, queue: str, depth: int, at: str) -> int:
        before = self.seen.get(queue, 0)
        self.seen[queue] = depth
        return before


class NoReasons:
    def reasons(self, message_ids: list[str]) -> dict[str, str]:
        return {}


def test_only_a_dlq_that_grew_since_the_last_run_raises_an_alert() -> None:
    store, alerts = Store(), FakeAlerts()
    service = DeadLetterService(
        store,
        lambda: 0.0,
        {"app-stream-failures": "stream positions"},
        depths=Depths(),
        alerts=alerts,
        reasons=NoReasons(),
    )

    assert service.watch("t1") == []  # all empty
    store.depths["app-payments-dlq"] = 2
    assert service.watch("t2") == ["app-payments-dlq"]
    assert service.watch("t3") == []  # still 2: not again
    store.depths["app-payments-dlq"] = 1
    assert service.watch("t4") == []  # shrank (a redrive or a delete)
    store.depths["app-payments-dlq"] = 3
    store.depths["app-stream-failures"] = 1
    assert service.watch("t5") == ["app-payments-dlq", "app-stream-failures"]

    assert alerts.kinds() == ["DEAD_LETTERS"] * 3
    first = alerts.alerts[0]
    assert first.subject == "app-payments-dlq: 2 dead letters (was 0)"
    assert dict(first.data) == {
        "queue": "app-payments-dlq",
        "source": "app-payments",
        "depth": 2,
        "previous": 0,
    }
    assert first.alert_id == "DEAD_LETTERS#app-payments-dlq#t2"
